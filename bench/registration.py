"""Sign-up throughput and latency of the registration service: ``python -m bench.registration``.

Starts PostgreSQL and the broker (embedded, unless FMF_DATABASE_URL / FMF_KAFKA_BOOTSTRAP are set), the
registration service as its own process, and -- in the same run -- a minimal FastAPI + asyncpg endpoint
that inserts one row (``bench/ceiling_app.py``): the ceiling of this stack on this machine. Both get the
same load: CLIENTS concurrent clients posting sign-ups for DURATION seconds, from one load process.
Beside each rate it prints the CPU time per sign-up of the server processes and of PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx

from deploy.local.embedded import EmbeddedPostgres, TansuBroker, free_port, wait_for_port
from deploy.local.platform import PlatformConfig, ServiceProcesses
from shared import db
from shared.topics import ensure_topics
from tests.factories import meeting_body

GOAL_RATE = 1000.0
GOAL_RATIO = 0.5


async def load(
    urls: list[str], bodies: list[tuple[str, dict[str, object]]], clients: int, duration: float
) -> tuple[int, list[float], int]:
    """Run ``clients`` workers for ``duration`` s, spread evenly over the replicas at ``urls``;
    return (ok count, latencies in s, error count)."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker(url: str) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                path, body = bodies[next(counter) % len(bodies)]
                started = time.perf_counter()
                async with http.post(url + path, json=body) as response:
                    await response.read()
                    if response.status == 201:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors += 1

        await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(clients)))
    return len(latencies), latencies, errors


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux ``/proc``; 0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: stat(5) fields 14, 15


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


class CpuMeter:
    """CPU time per sign-up of the server processes and, when it is embedded, of PostgreSQL: where a
    request's cost goes, which the rate alone does not tell."""

    def __init__(self, servers: list[int], postgres: EmbeddedPostgres | None) -> None:
        self.servers = servers
        self.postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0]) if postgres else None

    def _snapshot(self) -> tuple[float, dict[int, float]]:
        pg = [self.postmaster, *children_of(self.postmaster)] if self.postmaster else []
        return sum(cpu_seconds(pid) for pid in self.servers), {pid: cpu_seconds(pid) for pid in pg}

    def __enter__(self) -> CpuMeter:
        self.start = self._snapshot()
        return self

    def __exit__(self, *_: object) -> None:
        servers, pg = self._snapshot()
        self.server_used = servers - self.start[0]
        # A backend that started during the run counts from zero; the pools keep theirs open.
        self.pg_used = sum(used - self.start[1].get(pid, 0.0) for pid, used in pg.items())

    def per_request(self, ok: int) -> str:
        pg = f", PostgreSQL {self.pg_used / ok * 1000:.2f} ms" if self.postmaster else ""
        return f"CPU per sign-up: server {self.server_used / ok * 1000:.2f} ms{pg}"


def figures(
    name: str, ok: int, latencies: list[float], errors: int, duration: float, cpu: CpuMeter
) -> dict[str, float]:
    quantiles = statistics.quantiles(latencies, n=100)
    rate = ok / duration
    print(
        f"  {name:<24} {rate:8.0f}/s   p50 {quantiles[49] * 1000:6.1f} ms   p99 {quantiles[98] * 1000:6.1f} ms"
        f"   ({ok} ok, {errors} errors)\n  {'':<24} {cpu.per_request(ok)}"
    )
    return {"rate": rate, "p50": quantiles[49], "p99": quantiles[98]}


async def prepare_registration(
    config: PlatformConfig, meetings: int, people: int
) -> list[tuple[str, dict[str, object]]]:
    base = config.url("registration") + "/v1"
    operator = {"Authorization": f"Bearer {config.operator_token}"}
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(
            f"{base}/tenants",
            headers=operator,
            json={"slug": "bench", "name": "Benchmark kommune", "municipality_number": "9998"},
        )
        token = (await http.post(f"{base}/tenants/bench/tokens", headers=operator)).json()["token"]
        coordinator = {"Authorization": f"Bearer {token}"}
        ids = []
        for _ in range(meetings):
            m = await http.post(
                f"{base}/tenants/bench/meetings",
                headers=coordinator,
                json=meeting_body(capacity={"newcomer": 500, "resident": 500}),
            )
            await http.post(f"{base}/meetings/{m.json()['id']}/publish", headers=coordinator)
            ids.append(m.json()["id"])
    run = uuid.uuid4().hex[:6]
    return [
        (
            f"/v1/meetings/{ids[i % meetings]}/registrations",
            {
                "group": "resident",
                "name": f"Resident {i}",
                "email": f"r{i}.{run}@bench.example.no",
                "language": "nb",
                "consent": True,
                "interests": ["football", "cooking"],
                "occupation_field": "education",
                "languages": ["nb", "en"],
                "age_band": "45-54",
                "first_time": True,
            },
        )
        for i in range(people)
    ]


def start_ceiling(port: int, database_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.ceiling_app:build",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--timeout-keep-alive",
            "75",
        ],
        env={**os.environ, "CEILING_DATABASE_URL": database_url},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--meetings", type=int, default=200)
    parser.add_argument(
        "--replicas", type=int, default=1, help="processes of each server, the load spread over them (as behind nginx)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fmf-bench-"))
    postgres = broker = None
    ceilings: list[subprocess.Popen[bytes]] = []
    replicas: list[ServiceProcesses] = []
    try:
        server_dsn = os.environ.get("FMF_DATABASE_URL")
        if not server_dsn:
            postgres = EmbeddedPostgres(work / "pg")
            postgres.start()
            server_dsn = postgres.socket_dsn
        bootstrap = os.environ.get("FMF_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = TansuBroker()
            broker.start()
            bootstrap = broker.bootstrap
        asyncio.run(ensure_topics(bootstrap, 6))
        prefix = f"bench{uuid.uuid4().hex[:6]}"
        config = PlatformConfig(
            server_dsn=server_dsn,
            kafka_bootstrap=bootstrap,
            operator_token=secrets.token_urlsafe(16),
            smtp_port=free_port(),
            ports={"registration": free_port()},
            database_prefix=prefix,
            consumer_group_prefix=prefix,
            log_dir=work / "log",
            extra_env={"FMF_LOG_LEVEL": "WARNING", "FMF_DB_POOL_MAX": "20"},
        )
        configs = [config] + [
            dataclasses.replace(config, ports={"registration": free_port()}) for _ in range(args.replicas - 1)
        ]
        for replica_config in configs:  # one after the other: the first applies the migrations
            replicas.append(ServiceProcesses(replica_config, services=("registration",)))
            replicas[-1].start()
            replicas[-1].wait_ready()
        people = int(args.duration * 3000)
        bodies = asyncio.run(prepare_registration(config, args.meetings, people))

        ceiling_db = db.with_database(server_dsn, f"{prefix}_ceiling")
        asyncio.run(db.ensure_database(ceiling_db))
        ceiling_ports = [free_port() for _ in range(args.replicas)]
        for port in ceiling_ports:
            ceilings.append(start_ceiling(port, ceiling_db))
            wait_for_port(port, proc=ceilings[-1])
        ceiling_urls = [f"http://127.0.0.1:{port}" for port in ceiling_ports]
        ceiling_bodies = [("/signups", {"name": b["name"], "email": b["email"]}) for _, b in bodies]

        print(
            f"\nSign-ups, {args.clients} concurrent clients, {args.duration:.0f} s each, "
            f"{args.meetings} published meetings, {args.replicas} process(es) of each server; "
            "load from one process on this machine:"
        )
        with CpuMeter([r.procs["registration"].pid for r in replicas], postgres) as cpu:
            result = asyncio.run(load([c.url("registration") for c in configs], bodies, args.clients, args.duration))
        ours = figures("registration service", *result, args.duration, cpu)
        with CpuMeter([c.pid for c in ceilings], postgres) as cpu:
            result = asyncio.run(load(ceiling_urls, ceiling_bodies, args.clients, args.duration))
        top = figures("ceiling (insert one row)", *result, args.duration, cpu)
        ratio = ours["rate"] / top["rate"]
        print(
            f"\n  ratio to the ceiling: {ratio:.2f}  (goal >= {GOAL_RATIO})   "
            f"registration rate: {ours['rate']:.0f}/s  (goal >= {GOAL_RATE:.0f}/s)"
        )
        return 0
    finally:
        for ceiling in ceilings:
            ceiling.terminate()
            ceiling.wait()
        for services in replicas:
            services.stop()
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
