"""Two notification replicas, as separate processes, on the same topics and the same database: every
message is sent exactly once, confirmations and reminders alike, even when every event arrives twice."""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from deploy.local.embedded import free_port
from deploy.local.platform import PlatformConfig, ServiceProcesses
from shared import db
from tests.notification_support import (
    BASE_URL,
    ControlledSmtp,
    Events,
    Person,
    at_least,
    start_at_the_end,
)
from tests.support import eventually, platform_backlog

pytestmark = pytest.mark.asyncio(loop_scope="session")
PEOPLE = 30


@pytest.fixture
def replicas_config(
    postgres_dsn: str, kafka_bootstrap: str, mailserver: ControlledSmtp, tmp_path: Path
) -> Iterator[PlatformConfig]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    config = PlatformConfig(
        server_dsn=postgres_dsn,
        kafka_bootstrap=kafka_bootstrap,
        operator_token="unused",
        smtp_port=mailserver.port,
        ports={"notification": free_port()},
        database_prefix=prefix,
        consumer_group_prefix=prefix,
        log_dir=tmp_path,
        extra_env={
            "FMF_TOPIC_PARTITIONS": "3",
            "FMF_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "FMF_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "FMF_OUTBOX_POLL_INTERVAL_S": "0.5",
            "FMF_SENDER_POLL_INTERVAL_S": "0.5",
            "FMF_PUBLIC_BASE_URL": BASE_URL,
            "FMF_LOG_JSON": "true",
        },
    )
    yield config
    asyncio.run(db.drop_database(config.database_url("notification")))


async def sent_by(config: PlatformConfig) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(config.url("notification") + "/metrics")).text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("fmf_notifications_total{") and 'status="sent"' in line
    )


async def test_two_replicas_send_each_message_exactly_once(
    replicas_config: PlatformConfig, mailserver: ControlledSmtp, producer: AIOKafkaProducer
) -> None:
    first = replicas_config
    second = dataclasses.replace(first, ports={"notification": free_port()})
    group = f"{first.consumer_group_prefix}-notification"
    await start_at_the_end(first.kafka_bootstrap, group)
    # Both start at once on a database that does not exist yet: they create and migrate it together.
    replicas = [ServiceProcesses(config, services=("notification",)) for config in (first, second)]
    for r in replicas:
        r.start()
    try:
        await asyncio.gather(*(asyncio.to_thread(r.wait_ready) for r in replicas))
        domain = f"{uuid.uuid4().hex[:8]}.example.no"
        ev = Events(producer)
        people = [Person(f"r{i}", ("nb", "nn", "en")[i % 3], domain) for i in range(PEOPLE)]
        meeting = uuid.uuid4()
        # Real time: the 24-hour reminders of all of them fall due together, a few seconds from now.
        starts = datetime.now(UTC) + timedelta(hours=24, seconds=12)
        await ev.tenant_created()
        await ev.meeting("meeting.published", meeting, starts)
        for p in people:
            await ev.contact(p, meeting)
        published = {}
        for p in people:
            published[p.address] = await ev.registration("registration.confirmed", p, meeting)
        await ev.replay()  # and every event a second time, while both replicas consume
        try:
            mails = await eventually(lambda: at_least(mailserver.to(domain), 2 * PEOPLE), timeout_s=60)
        except AssertionError:
            conn = await asyncpg.connect(first.database_url("notification"))
            try:
                summary = await conn.fetch("SELECT kind, status, count(*) FROM notifications GROUP BY 1, 2")
                print("record:", [tuple(r) for r in summary], "mails:", len(mailserver.to(domain)))
            finally:
                await conn.close()
            raise

        async def quiet() -> bool:
            # Both replicas' group consumed everything, the outbox is drained, and no notification is due
            # that is not sent (none claimable, none being sent): nothing more can go out until the next is due.
            return not await platform_backlog(first, ("notification",))

        await eventually(quiet, timeout_s=30, every_s=0.5)
        mails = mailserver.to(domain)
        per_replica = [await sent_by(first), await sent_by(second)]
        assert not [name for r in replicas for name in r.dead()]
    finally:
        for r in replicas:
            r.stop()
    conn = await asyncpg.connect(first.database_url("notification"))
    try:
        record = await conn.fetch("SELECT id, kind, status FROM notifications")
    finally:
        await conn.close()
    kinds = {str(r["id"]): r["kind"] for r in record}
    got = Counter((m.to, kinds[m.notification_id]) for m in mails)
    expected = Counter(
        {(str(p.address), kind): 1 for p in people for kind in ("registration_confirmed", "reminder_24h")}
    )
    assert got == expected
    assert Counter(r["kind"] for r in record if r["status"] == "sent") == Counter(
        {"registration_confirmed": PEOPLE, "reminder_24h": PEOPLE}
    )
    assert all(n > 0 for n in per_replica), per_replica  # both replicas did part of the work
    latencies = sorted(
        m.received_at - published[m.to] for m in mails if kinds[m.notification_id] == "registration_confirmed"
    )
    print(
        f"\ntwo replicas: {len(mails)} mails, sent per replica {per_replica}; confirmation latency "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )
