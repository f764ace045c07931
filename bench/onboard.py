"""The national day: ``python -m bench.onboard`` onboards 357 tenants and runs one meeting each through
the whole platform (4 services as processes, embedded PostgreSQL and broker, an SMTP sink).

Each tenant: create, coordinator token, a 10+10 meeting, publish, 10 newcomers + 10 residents, close.
Reported: the wall time until every confirmation mail and every pair proposal exists, the consumer
throughput of each service (messages received per second of the run), and the maximum consumer lag
seen in the services' own ``fmf_consumer_lag`` gauges.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from deploy.local.embedded import EmbeddedPostgres, TansuBroker, free_port, free_ports
from deploy.local.platform import SERVICES, PlatformConfig, ServiceProcesses
from shared.topics import ensure_topics
from tests.factories import meeting_body, person_body
from tests.support import start_smtp

_RECEIVED = re.compile(r"^faststream_received_messages_total\{[^}]*\} ([0-9.e+]+)$", re.M)
_LAG = re.compile(r"^fmf_consumer_lag\{[^}]*\} ([0-9.e+]+)$", re.M)


async def scrape(http: aiohttp.ClientSession, url: str) -> tuple[float, float]:
    async with http.get(url + "/metrics") as r:
        text = await r.text()
    return sum(map(float, _RECEIVED.findall(text))), sum(map(float, _LAG.findall(text)))


async def one_tenant(http: aiohttp.ClientSession, api: str, operator: dict[str, str], n: int) -> str:
    slug = f"kommune-{n:03d}"

    async def post(path: str, body: object = None, headers: dict[str, str] | None = None) -> dict[str, object]:
        async with http.post(api + path, json=body, headers=headers) as r:
            if r.status >= 400:
                raise RuntimeError(f"{path}: {r.status} {await r.text()}")
            return await r.json()  # type: ignore[no-any-return]

    await post("/tenants", {"slug": slug, "name": f"Kommune {n}", "municipality_number": f"{n:04d}"}, operator)
    token = (await post(f"/tenants/{slug}/tokens", None, operator))["token"]
    coordinator = {"Authorization": f"Bearer {token}"}
    meeting = str((await post(f"/tenants/{slug}/meetings", meeting_body(), coordinator))["id"])
    await post(f"/meetings/{meeting}/publish", None, coordinator)
    for i in range(10):
        await post(f"/meetings/{meeting}/registrations", person_body("newcomer", i, f"{slug}.example.no"), coordinator)
        await post(f"/meetings/{meeting}/registrations", person_body("resident", i, f"{slug}.example.no"), coordinator)
    await post(f"/meetings/{meeting}/close", None, coordinator)
    return meeting


async def run(config: PlatformConfig, mailbox: object, tenants: int, concurrency: int) -> None:
    api = config.url("registration") + "/v1"
    operator = {"Authorization": f"Bearer {config.operator_token}"}
    max_lag = {name: 0.0 for name in SERVICES}
    done = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency * 2)) as http:
        before = {name: (await scrape(http, config.url(name)))[0] for name in SERVICES}

        async def watch_lag() -> None:
            while not done.is_set():
                for name in SERVICES:
                    max_lag[name] = max(max_lag[name], (await scrape(http, config.url(name)))[1])
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch_lag())
        started = time.perf_counter()
        gate = asyncio.Semaphore(concurrency)

        async def bounded(n: int) -> str:
            async with gate:
                return await one_tenant(http, api, operator, n)

        meetings = await asyncio.gather(*(bounded(n) for n in range(1, tenants + 1)))
        requests_done = time.perf_counter() - started
        conn = await asyncpg.connect(config.database_url("matching"))
        try:
            while True:
                mails = len(mailbox.mails)  # type: ignore[attr-defined]
                proposals = await conn.fetchval("SELECT count(DISTINCT meeting_id) FROM proposals")
                if mails >= tenants * 20 and proposals >= len(meetings):
                    break
                if time.perf_counter() - started > 1800:
                    raise TimeoutError(f"after 30 min: {mails} mails, {proposals} proposals")
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
        wall = time.perf_counter() - started
        await asyncio.sleep(2 * float(os.environ.get("FMF_LAG_INTERVAL_S", "1")))
        done.set()
        await watcher
        after = {name: (await scrape(http, config.url(name)))[0] for name in SERVICES}

    print(f"\n{tenants} tenants x 1 meeting (10 + 10 people), {concurrency} tenants onboarding at a time")
    print(f"  HTTP requests done after      {requests_done:7.1f} s  ({tenants * 25 / requests_done:.0f} requests/s)")
    print(
        f"  wall time to the last effect  {wall:7.1f} s  ({tenants * 20} confirmation mails, {tenants} pair proposals)"
    )
    print(f"\n  {'service':<14}{'messages':>10}{'per second':>12}{'max lag':>10}")
    for name in SERVICES:
        got = after[name] - before[name]
        print(f"  {name:<14}{got:>10.0f}{got / wall:>12.1f}{max_lag[name]:>10.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=357)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fmf-onboard-"))
    postgres, broker, services, smtp = EmbeddedPostgres(work / "pg"), TansuBroker(), None, None
    try:
        postgres.start()
        broker.start()
        asyncio.run(ensure_topics(broker.bootstrap, 6))
        smtp_port = free_port()
        smtp, mailbox = start_smtp(smtp_port)
        config = PlatformConfig(
            server_dsn=postgres.dsn,
            kafka_bootstrap=broker.bootstrap,
            operator_token=secrets.token_urlsafe(16),
            smtp_port=smtp_port,
            ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
            log_dir=work / "log",
            extra_env={
                "FMF_LOG_LEVEL": "WARNING",
                "FMF_LAG_INTERVAL_S": "1",
                "FMF_KAFKA_SESSION_TIMEOUT_MS": "6000",
                "FMF_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
                "FMF_SENDER_POLL_INTERVAL_S": "0.5",
            },
        )
        services = ServiceProcesses(config)
        services.start()
        services.wait_ready()
        asyncio.run(run(config, mailbox, args.tenants, args.concurrency))
        return 0
    finally:
        if services is not None:
            services.stop()
        if smtp is not None:
            smtp.stop()
        broker.stop()
        postgres.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
