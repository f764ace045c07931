"""Sign-up throughput and latency of the registration service: ``python -m bench.registration``.

Starts PostgreSQL and the broker (embedded, unless FMF_DATABASE_URL / FMF_KAFKA_BOOTSTRAP are set), the
registration service as its own process, and -- in the same run -- a minimal FastAPI + asyncpg endpoint
that inserts one row (``bench/ceiling_app.py``): the ceiling of this stack on this machine. Each gets
CLIENTS concurrent clients from one load process, for about DURATION seconds of timed requests:

1. The public sign-up (double opt-in), per person two requests: ``POST /v1/meetings/{id}/registrations``
   without a token (202; half residents, half newcomers with the meeting's invitation code), then
   ``POST /v1/signups/{id}/confirm`` with the token from the confirmation message (200, the place).
   People go in batches: sign-ups for up to BATCH_SECONDS, then one query reads their tokens from
   registration's outbox (where the message would start from), then the batch's confirmations. Only
   the two kinds of request are timed; the query is not, and its PostgreSQL backend is left out of the
   CPU figures.
2. The coordinator's sign-up (one request with a coordinator token, 201: the place at once).
3. The ceiling, one row per request.

Every sign-up is a new person. The abuse limits count as in production (in PostgreSQL), with the three
sign-up rules raised so that one load address is not refused (``--rate-limits off`` turns them off).
Beside each rate it prints the CPU time per person (or request) of the server processes and of PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import httpx

from deploy.local.embedded import EmbeddedPostgres, TansuBroker, free_port, wait_for_port
from deploy.local.platform import PlatformConfig, ServiceProcesses
from shared import db
from shared.topics import ensure_topics
from tests.factories import meeting_body, person_body

GOAL_RATE = 1000.0  # people signed up per second
GOAL_RATIO = 0.5  # requests per second, to the ceiling's

# The rules a successful public sign-up counts (a confirmation only counts failures); one load address
# would use them up at once, so a benchmark raises them. The counting itself stays.
RAISED_LIMIT = "100000000/minute"
SIGNUP_RULES = ("FMF_LIMIT_SIGNUP_PER_CLIENT", "FMF_LIMIT_SIGNUP_PER_MEETING", "FMF_LIMIT_SIGNUP_PER_CONTACT")

TOKENS_SQL = """
    SELECT seq, body->'data'->>'signup_id' AS signup_id, body->'data'->>'confirm_token' AS token
    FROM outbox WHERE seq > $1 AND event_type = 'contact.signup_requested' ORDER BY seq
"""

Request = tuple[str, dict[str, object]]  # path, JSON body


@dataclasses.dataclass
class Timed:
    """Requests of one kind: those answered as expected (with their latencies), the others by status,
    and the wall time of the timed sections they ran in."""

    latencies: list[float] = dataclasses.field(default_factory=list)
    errors: Counter[int] = dataclasses.field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def add(self, other: Timed) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.seconds += other.seconds


async def drive(
    http: aiohttp.ClientSession,
    urls: list[str],
    requests: Iterator[Request],
    expect: int,
    clients: int,
    deadline: float = float("inf"),
    headers: dict[str, str] | None = None,
) -> Timed:
    """Post ``requests`` with ``clients`` workers, spread evenly over the replicas at ``urls``, until they
    run out or ``deadline`` (``time.perf_counter``) passes; an answer other than ``expect`` is an error."""
    timed = Timed()

    async def worker(url: str) -> None:
        while time.perf_counter() < deadline:
            request = next(requests, None)
            if request is None:
                return
            path, body = request
            started = time.perf_counter()
            async with http.post(url + path, json=body, headers=headers) as response:
                await response.read()
                if response.status == expect:
                    timed.latencies.append(time.perf_counter() - started)
                else:
                    timed.errors[response.status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(clients)))
    timed.seconds = time.perf_counter() - started
    return timed


def session(clients: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients))


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
    """CPU time per person of the server processes and, when it is embedded, of PostgreSQL (but for the
    backends in ``leave_out``, the benchmark's own): where a request's cost goes, which the rate alone
    does not tell."""

    def __init__(
        self, servers: list[int], postgres: EmbeddedPostgres | None, leave_out: frozenset[int] = frozenset()
    ) -> None:
        self.servers = servers
        self.postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0]) if postgres else None
        self.leave_out = leave_out

    def _snapshot(self) -> tuple[float, dict[int, float]]:
        pg = [self.postmaster, *children_of(self.postmaster)] if self.postmaster else []
        return sum(cpu_seconds(pid) for pid in self.servers), {
            pid: cpu_seconds(pid) for pid in pg if pid not in self.leave_out
        }

    def __enter__(self) -> CpuMeter:
        self.start = self._snapshot()
        return self

    def __exit__(self, *_: object) -> None:
        servers, pg = self._snapshot()
        self.server_used = servers - self.start[0]
        # A backend that started during the run counts from zero; the pools keep theirs open.
        self.pg_used = sum(used - self.start[1].get(pid, 0.0) for pid, used in pg.items())

    def per(self, unit: str, count: int) -> str:
        pg = f", PostgreSQL {self.pg_used / count * 1000:.2f} ms" if self.postmaster else ""
        return f"CPU per {unit}: server {self.server_used / count * 1000:.2f} ms{pg}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f} ms"


def latency(timed: Timed) -> str:
    q = statistics.quantiles(timed.latencies, n=100)
    errors = sum(timed.errors.values())
    by_status = f": {', '.join(f'{n}x {s}' for s, n in sorted(timed.errors.items()))}" if errors else ""
    return f"p50 {ms(q[49])}   p99 {ms(q[98])}   ({timed.ok} ok, {errors} errors{by_status})"


def figures(name: str, timed: Timed, cpu: CpuMeter, unit: str) -> float:
    """Print one single-request measurement; return its rate."""
    rate = timed.ok / timed.seconds
    print(f"  {name:<28} {rate:8.0f}/s   {latency(timed)}\n  {'':<28} {cpu.per(unit, timed.ok)}")
    return rate


@dataclasses.dataclass(frozen=True)
class Meeting:
    id: str
    invitation_code: str


@dataclasses.dataclass
class Public:
    """The public flow's figures: sign-ups, confirmations, and the token look-ups between them."""

    signups: Timed
    confirmations: Timed
    cpu: CpuMeter
    batches: int = 0
    lookup_s: float = 0.0
    missing_tokens: int = 0

    @property
    def seconds(self) -> float:
        return self.signups.seconds + self.confirmations.seconds


def confirmation(row: asyncpg.Record) -> Request:
    """The request a confirmation link makes, from the sign-up's outbox event."""
    body: dict[str, object] = {"token": row["token"]}
    return f"/v1/signups/{row['signup_id']}/confirm", body


def people(meetings: list[Meeting], tag: str, public: bool) -> Iterator[Request]:
    """New people without end, half residents and half newcomers, over the meetings in turn; the
    public ones' newcomers carry their meeting's invitation code."""
    for i in itertools.count():
        meeting = meetings[i % len(meetings)]
        group = "newcomer" if i % 2 else "resident"
        body = person_body(group, i, f"{tag}.bench.example.no")
        if group == "newcomer":
            body["norwegian_level"] = "B1"
            if public:
                body["invitation_code"] = meeting.invitation_code
        yield f"/v1/meetings/{meeting.id}/registrations", body


async def public_flow(
    urls: list[str],
    outbox_dsn: str,
    meetings: list[Meeting],
    args: argparse.Namespace,
    servers: list[int],
    postgres: EmbeddedPostgres | None,
) -> Public:
    """Batches of people through sign-up and confirmation until the timed sections add up to the duration."""
    source = people(meetings, f"p{uuid.uuid4().hex[:6]}", public=True)
    lookup = await asyncpg.connect(outbox_dsn)
    try:
        seen = await lookup.fetchval("SELECT coalesce(max(seq), 0) FROM outbox")
        backend = frozenset({await lookup.fetchval("SELECT pg_backend_pid()")})
        result = Public(Timed(), Timed(), CpuMeter(servers, postgres, leave_out=backend))
        async with session(args.clients) as http:
            with result.cpu:
                while result.seconds < args.duration:
                    # Each batch signs up people for a slice of time, so that a slow machine still
                    # ends near the duration; its confirmations take about as long again.
                    slice_s = min(args.batch_seconds, max(0.5, (args.duration - result.seconds) / 2))
                    deadline = time.perf_counter() + slice_s
                    asked = await drive(http, urls, source, 202, args.clients, deadline)
                    result.signups.add(asked)
                    started = time.perf_counter()  # not timed: the message would bring the token
                    rows = await lookup.fetch(TOKENS_SQL, seen)
                    result.lookup_s += time.perf_counter() - started
                    seen = rows[-1]["seq"] if rows else seen
                    result.missing_tokens += asked.ok - len(rows)
                    links = map(confirmation, rows)
                    result.confirmations.add(await drive(http, urls, links, 200, args.clients))
                    result.batches += 1
    finally:
        await lookup.close()
    return result


async def coordinator_flow(urls: list[str], token: str, meetings: list[Meeting], args: argparse.Namespace) -> Timed:
    source = people(meetings, f"c{uuid.uuid4().hex[:6]}", public=False)
    async with session(args.clients) as http:
        deadline = time.perf_counter() + args.duration
        headers = {"Authorization": f"Bearer {token}"}
        return await drive(http, urls, source, 201, args.clients, deadline, headers)


def ceiling_requests(tag: str) -> Iterator[Request]:
    for i in itertools.count():
        body: dict[str, object] = {"name": f"Person {i}", "email": f"p{i}@{tag}.bench.example.no"}
        yield "/signups", body


async def ceiling_flow(urls: list[str], args: argparse.Namespace) -> Timed:
    source = ceiling_requests(uuid.uuid4().hex[:6])
    async with session(args.clients) as http:
        return await drive(http, urls, source, 201, args.clients, time.perf_counter() + args.duration)


async def prepare_registration(config: PlatformConfig, meetings: int) -> tuple[str, list[Meeting]]:
    """A tenant with ``meetings`` published meetings; returns its coordinator token and the meetings."""
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
        found = []
        for _ in range(meetings):
            m = await http.post(
                f"{base}/tenants/bench/meetings",
                headers=coordinator,
                json=meeting_body(capacity={"newcomer": 500, "resident": 500}),
            )
            m.raise_for_status()
            meeting_id = m.json()["id"]
            (await http.post(f"{base}/meetings/{meeting_id}/publish", headers=coordinator)).raise_for_status()
            shown = await http.get(f"{base}/meetings/{meeting_id}", headers=coordinator)
            found.append(Meeting(meeting_id, shown.raise_for_status().json()["invitation_code"]))
    return token, found


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of timed requests per measurement")
    parser.add_argument("--meetings", type=int, default=200)
    parser.add_argument(
        "--replicas", type=int, default=1, help="processes of each server, the load spread over them (as behind nginx)"
    )
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=3.0,
        help="public flow: seconds of sign-ups per batch, before their tokens are read and confirmed",
    )
    parser.add_argument(
        "--rate-limits",
        choices=("raised", "off"),
        default="raised",
        help="abuse limits: on with the sign-up rules raised (default), or off (FMF_RATE_LIMITS_ENABLED=false)",
    )
    parser.add_argument("--no-coordinator", action="store_true", help="skip the coordinator's sign-up (201)")
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
        if args.rate_limits == "off":
            limits_env = {"FMF_RATE_LIMITS_ENABLED": "false"}
            limits_said = "abuse limits OFF (FMF_RATE_LIMITS_ENABLED=false)"
        else:
            limits_env = {"FMF_RATE_LIMITS_ENABLED": "true", **dict.fromkeys(SIGNUP_RULES, RAISED_LIMIT)}
            limits_said = (
                f"abuse limits ON, counted in PostgreSQL, with {', '.join(SIGNUP_RULES)} raised to {RAISED_LIMIT}"
            )
        config = PlatformConfig(
            server_dsn=server_dsn,
            kafka_bootstrap=bootstrap,
            operator_token=secrets.token_urlsafe(16),
            smtp_port=free_port(),
            ports={"registration": free_port()},
            database_prefix=prefix,
            consumer_group_prefix=prefix,
            log_dir=work / "log",
            extra_env={"FMF_LOG_LEVEL": "WARNING", "FMF_DB_POOL_MAX": "20", **limits_env},
        )
        configs = [config] + [
            dataclasses.replace(config, ports={"registration": free_port()}) for _ in range(args.replicas - 1)
        ]
        for replica_config in configs:  # one after the other: the first applies the migrations
            replicas.append(ServiceProcesses(replica_config, services=("registration",)))
            replicas[-1].start()
            replicas[-1].wait_ready()
        token, meetings = asyncio.run(prepare_registration(config, args.meetings))
        urls = [c.url("registration") for c in configs]
        servers = [r.procs["registration"].pid for r in replicas]

        ceiling_db = db.with_database(server_dsn, f"{prefix}_ceiling")
        asyncio.run(db.ensure_database(ceiling_db))
        ceiling_ports = [free_port() for _ in range(args.replicas)]
        for port in ceiling_ports:
            ceilings.append(start_ceiling(port, ceiling_db))
            wait_for_port(port, proc=ceilings[-1])
        ceiling_urls = [f"http://127.0.0.1:{port}" for port in ceiling_ports]

        print(
            f"\nRegistration, {args.clients} concurrent clients, about {args.duration:.0f} s of timed requests each, "
            f"{args.meetings} published meetings, {args.replicas} process(es) of each server; "
            f"load from one process on this machine ({os.cpu_count()} CPUs, load average"
            f" {os.getloadavg()[0]:.1f} before the run); {limits_said}:"
        )
        public = asyncio.run(public_flow(urls, config.database_url("registration"), meetings, args, servers, postgres))
        people_rate = public.confirmations.ok / public.seconds
        request_rate = (public.signups.ok + public.confirmations.ok) / public.seconds
        print(
            f"\n  public sign-up + confirmation: {people_rate:.0f} people/s, {request_rate:.0f} requests/s"
            f"   ({public.batches} batches, {public.seconds:.1f} s timed)\n"
            f"    sign-up       (202)  {latency(public.signups)}\n"
            f"    confirmation  (200)  {latency(public.confirmations)}\n"
            f"    {public.cpu.per('person', public.confirmations.ok)}\n"
            f"    tokens read from the outbox: {public.batches} queries, {public.lookup_s * 1000:.0f} ms in all,"
            f" not timed and not in the CPU figures; {public.missing_tokens} sign-ups without a token"
        )
        coordinator_rate = None
        if not args.no_coordinator:
            print()
            with CpuMeter(servers, postgres) as cpu:
                coordinator = asyncio.run(coordinator_flow(urls, token, meetings, args))
            coordinator_rate = figures("coordinator sign-up (201)", coordinator, cpu, "sign-up")
        print()
        with CpuMeter([c.pid for c in ceilings], postgres) as cpu:
            ceiling_timed = asyncio.run(ceiling_flow(ceiling_urls, args))
        top = figures("ceiling (insert one row)", ceiling_timed, cpu, "request")
        print(
            f"\n  public flow: {request_rate:.0f} requests/s, ratio to the ceiling {request_rate / top:.2f}"
            f" (goal >= {GOAL_RATIO});  {people_rate:.0f} people/s (goal >= {GOAL_RATE:.0f}/s)"
        )
        if coordinator_rate is not None:
            print(
                f"  coordinator sign-up: {coordinator_rate:.0f} requests/s = people/s,"
                f" ratio to the ceiling {coordinator_rate / top:.2f}"
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
