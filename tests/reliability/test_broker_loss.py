"""The broker loses its log (kill -9 of the in-memory broker, a new empty one on the same port) while
sign-ups stream in: every event still takes effect once, with nobody's help.

All four services run as processes against real PostgreSQL and a broker of this module's own. The stream:
sign-ups consumed normally; sign-ups published while the consumers are frozen (SIGSTOP), so that the log
holds events nobody has read when the broker dies; sign-ups while the broker is down; sign-ups after it is
back. Each coordinator sign-up is one ``registration.confirmed`` (matching, notification and reporting
apply it) and one mail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from deploy.local.embedded import TansuBroker
from deploy.local.platform import SERVICES, PlatformConfig, ServiceProcesses
from shared import db, outbox, topics
from shared.events import TenantCreated, make_event
from shared.outbox import OutboxRelay
from shared.topics import ensure_topics
from tests.conftest import TEST_PARTITIONS, platform_config, private_dir
from tests.registration_support import RegistrationApi, Tenant
from tests.support import RecordingSmtpHandler, eventually, outbox_backlog, read_all, wait_until_quiet

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONSUMERS = ("matching", "notification", "reporting")
RECOVERY_S = 30.0


class Platform:
    """The four services and a broker that the test may kill and start again on the same port."""

    def __init__(self, config: PlatformConfig, broker: TansuBroker, processes: ServiceProcesses) -> None:
        self.config = config
        self.broker = broker
        self.processes = processes

    def kill_broker(self) -> None:
        assert self.broker.proc is not None
        self.broker.proc.send_signal(signal.SIGKILL)
        self.broker.proc.wait()
        self.broker.proc = None

    def start_broker(self) -> None:
        self.broker.start()

    def signal(self, services: tuple[str, ...], sig: signal.Signals) -> None:
        for name in services:
            os.kill(self.processes.procs[name].pid, sig)


@pytest.fixture(scope="module")
def platform(
    postgres_dsn: str, smtp: tuple[int, RecordingSmtpHandler], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    folder = private_dir("tansu-loss")
    broker = TansuBroker(log_path=folder / "tansu.log")
    broker.start()
    log_dir = Path(tmp_path_factory.mktemp("broker-loss-logs"))
    config = platform_config(postgres_dsn, broker.bootstrap, smtp[0], log_dir)
    processes = ServiceProcesses(config)
    try:
        asyncio.run(ensure_topics(broker.bootstrap, TEST_PARTITIONS))
        processes.start()
        processes.wait_ready()
        yield Platform(config, broker, processes)
    finally:
        for proc in processes.procs.values():  # a frozen service cannot stop
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
        processes.stop()
        broker.stop()
        for name in SERVICES:
            asyncio.run(db.drop_database(config.database_url(name)))
        shutil.rmtree(folder, ignore_errors=True)


async def count(dsn: str, query: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query, *args))
    finally:
        await conn.close()


async def effects(
    platform: PlatformConfig, meeting_id: str, mailbox: RecordingSmtpHandler, domain: str
) -> dict[str, int]:
    """How many sign-ups of the meeting each consumer has applied, and how many mails went out."""
    return {
        "matching": await count(
            platform.database_url("matching"), "SELECT count(*) FROM candidates WHERE meeting_id = $1", meeting_id
        ),
        "reporting": await count(
            platform.database_url("reporting"), "SELECT count(*) FROM registrations WHERE meeting_id = $1", meeting_id
        ),
        "notification inbox": await count(
            platform.database_url("notification"),
            "SELECT count(*) FROM inbox WHERE event_type = 'registration.confirmed'",
        ),
        "mails": len(mailbox.to_domain(domain)),
    }


async def sign_up(
    api: RegistrationApi, http: httpx.AsyncClient, tenant: Tenant, meeting: str, domain: str, numbers: range
) -> None:
    for i in numbers:
        group = "newcomer" if i % 2 else "resident"
        answer = await api.sign_up(http, tenant, meeting, group, i, domain)
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "confirmed"


async def test_every_event_takes_effect_once_after_the_broker_lost_its_log(
    platform: Platform, smtp: tuple[int, RecordingSmtpHandler]
) -> None:
    config, mailbox = platform.config, smtp[1]
    api = RegistrationApi(config)
    domain = f"loss-{os.getpid()}-{time.monotonic_ns()}.no"
    total = 40
    async with httpx.AsyncClient(timeout=30) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant, capacity={"newcomer": 30, "resident": 30})

        # 1. consumed as usual
        await sign_up(api, http, tenant, meeting, domain, range(0, 10))
        await eventually(lambda: applied(config, meeting, mailbox, domain, 10), timeout_s=60)

        # 2. published, but nobody has read them when the broker dies
        platform.signal(CONSUMERS, signal.SIGSTOP)
        try:
            await sign_up(api, http, tenant, meeting, domain, range(10, 25))
            await eventually(_published(config.database_url("registration")), timeout_s=30)
            platform.kill_broker()
        finally:
            platform.signal(CONSUMERS, signal.SIGCONT)

        # 3. while the broker is down: registration keeps taking sign-ups (the outbox holds the events)
        await sign_up(api, http, tenant, meeting, domain, range(25, 30))

        # 4. a new, empty broker on the same port; more sign-ups
        platform.start_broker()
        restarted = time.monotonic()
        await sign_up(api, http, tenant, meeting, domain, range(30, total))

        try:
            found = await eventually(
                lambda: applied(config, meeting, mailbox, domain, total), timeout_s=RECOVERY_S, every_s=0.25
            )
        except AssertionError:
            now = await effects(config, meeting, mailbox, domain)
            raise AssertionError(f"{total} sign-ups, not all applied {RECOVERY_S} s after the restart: {now}") from None
        recovered_s = time.monotonic() - restarted
        print(f"\nrecovered in {recovered_s:.1f} s after the broker came back: {found}")

    await wait_until_quiet(config, timeout_s=60)
    final = await effects(config, meeting, mailbox, domain)
    assert final == {"matching": total, "reporting": total, "notification inbox": total, "mails": total}
    per_address = Counter(address for mail in mailbox.to_domain(domain) for address in mail.to)
    assert len(per_address) == total  # nobody lost
    assert set(per_address.values()) == {1}  # nobody mailed twice
    assert recovered_s <= RECOVERY_S


async def applied(
    platform: PlatformConfig, meeting_id: str, mailbox: RecordingSmtpHandler, domain: str, expected: int
) -> dict[str, int] | None:
    """The effects, once each reaches ``expected``; None before."""
    found = await effects(platform, meeting_id, mailbox, domain)
    return found if all(value >= expected for value in found.values()) else None


def _published(dsn: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await outbox_backlog(dsn) == 0

    return check


async def test_two_replicas_publish_the_outbox_again_once(postgres_dsn: str, tmp_path: Path) -> None:
    """Two relays on one database (two replicas of a service): after the loss, one of them marks the rows
    unpublished, the other finds the new log recorded already; each event lands on the new log once."""
    broker = TansuBroker(log_path=tmp_path / "tansu.log")
    broker.start()
    dsn = db.with_database(postgres_dsn, f"fmf_test_replicas_{uuid.uuid4().hex[:10]}")
    await db.ensure_database(dsn)
    await db.migrate(dsn, tmp_path)  # the shared migrations: outbox, inbox, the recorded epoch
    pool = await db.create_pool(dsn)
    relays = [OutboxRelay(pool, dsn, broker.bootstrap, topic_partitions=TEST_PARTITIONS) for _ in range(2)]
    try:
        await ensure_topics(broker.bootstrap, TEST_PARTITIONS)
        tenant = uuid.uuid4()
        events = [
            make_event(
                "tenant.created",
                tenant,
                TenantCreated(tenant_id=tenant, slug=f"t{i}", name=f"T {i}", municipality_number="0301"),
            )
            for i in range(5)
        ]
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, "test", [(event, tenant) for event in events])
        assert await relays[0].drain() == 5

        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGKILL)
        broker.proc.wait()
        broker.start()  # empty, on the same port

        reasons = [await relay.check_log() for relay in relays]
        assert reasons[0] is not None and reasons[1] is None, reasons
        assert sum([await relay.drain() for relay in relays]) == 5
        assert [await relay.drain() for relay in relays] == [0, 0]
        on_log = [json.loads(r.value)["id"] for r in await read_all(broker.bootstrap, [topics.TENANTS])]
        assert sorted(on_log) == sorted(str(event.id) for event in events)
    finally:
        for relay in relays:
            await relay.close()
        await pool.close()
        await db.drop_database(dsn)
        broker.stop()
