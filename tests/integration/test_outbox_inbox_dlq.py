"""The shared delivery machinery against real PostgreSQL and the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from aiokafka.admin import NewTopic
from faststream.kafka import KafkaBroker

from shared import db, inbox, outbox, topics
from shared.consumer import EventConsumer, Handlers, route
from shared.db import Conn
from shared.events import Envelope, TenantCreated, make_event, topic_for
from shared.outbox import OutboxRelay
from tests.support import eventually, read_all

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def pool(database: str, tmp_path: Path) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(database, tmp_path)  # the shared migrations only: outbox, inbox
    pool = await db.create_pool(database)
    yield pool
    await pool.close()


@pytest.fixture
async def broker(kafka_bootstrap: str) -> AsyncIterator[KafkaBroker]:
    broker = KafkaBroker(kafka_bootstrap)
    await broker.connect()
    yield broker
    await broker.stop()


def tenant_event(tenant: uuid.UUID, slug: str) -> Envelope:
    return make_event(
        "tenant.created", tenant, TenantCreated(tenant_id=tenant, slug=slug, name=slug, municipality_number="0301")
    )


async def records_with_ids(bootstrap: str, ids: set[str]) -> list[dict[str, object]]:
    found = []
    for rec in await read_all(bootstrap, [topics.TENANTS]):
        body = json.loads(rec.value)
        if body["id"] in ids:
            found.append({"key": rec.key.decode(), "partition": rec.partition, "offset": rec.offset, **body})
    return found


@pytest.fixture
async def relay(pool: asyncpg.Pool, database: str, kafka_bootstrap: str) -> AsyncIterator[OutboxRelay]:
    relay = OutboxRelay(pool, database, kafka_bootstrap, batch_size=25)
    yield relay
    await relay.close()


async def test_rolled_back_change_publishes_nothing_and_committed_one_is_published(
    pool: asyncpg.Pool, relay: OutboxRelay, kafka_bootstrap: str
) -> None:
    tenant = uuid.uuid4()
    kept, dropped = tenant_event(tenant, "kept"), tenant_event(tenant, "dropped")
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await outbox.enqueue(conn, "test", [(dropped, tenant)])
                raise RuntimeError("the state change failed")
        async with conn.transaction():
            await outbox.enqueue(conn, "test", [(kept, tenant)])
    assert await relay.drain() == 1
    assert await relay.drain() == 0
    found = await records_with_ids(kafka_bootstrap, {str(kept.id), str(dropped.id)})
    assert [r["id"] for r in found] == [str(kept.id)]


async def test_relay_publishes_each_keys_events_in_order_where_any_producer_would(
    pool: asyncpg.Pool, relay: OutboxRelay, broker: KafkaBroker, kafka_bootstrap: str
) -> None:
    keys = [uuid.uuid4() for _ in range(4)]
    sent: dict[str, list[str]] = {str(k): [] for k in keys}
    async with pool.acquire() as conn:
        for i in range(60):  # interleaved keys, one transaction each
            key = keys[i % len(keys)]
            event = tenant_event(key, f"t{i}")
            sent[str(key)].append(str(event.id))
            async with conn.transaction():
                await outbox.enqueue(conn, "test", [(event, key)])
    while await relay.drain():
        pass
    # The same keys published by a plain producer (Kafka's default partitioner) ...
    probes = {str(key): tenant_event(key, "probe") for key in keys}
    for key, probe in probes.items():
        await broker.publish(probe.model_dump_json().encode(), topic_for(probe.type), key=key.encode())
    found = await records_with_ids(kafka_bootstrap, {i for ids in sent.values() for i in ids})
    probed = await records_with_ids(kafka_bootstrap, {str(p.id) for p in probes.values()})
    assert len(found) == 60
    for key, ids in sent.items():
        mine = sorted((r for r in found if r["key"] == key), key=lambda r: r["offset"])  # type: ignore[arg-type,return-value]
        assert len({r["partition"] for r in mine}) == 1
        assert [r["id"] for r in mine] == ids
        # ... land in the partition the relay chose.
        assert [r["partition"] for r in probed if r["key"] == key] == [mine[0]["partition"]]


async def test_relay_wakes_on_notify(pool: asyncpg.Pool, database: str, kafka_bootstrap: str) -> None:
    relay = OutboxRelay(pool, database, kafka_bootstrap, poll_interval_s=30)  # only NOTIFY can wake it in time
    rounds: list[int] = []
    drain = relay.drain

    async def counted_drain() -> int:
        published = await drain()
        rounds.append(published)
        return published

    relay.drain = counted_drain  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        # The relay LISTENs and has done its first round (nothing to publish): from now on only a wake-up
        # starts a round before the 30 s poll.
        await eventually(lambda: _listening(pool, outbox.NOTIFY_CHANNEL), timeout_s=10, every_s=0.05)
        await eventually(lambda: _true(bool(rounds)), timeout_s=10, every_s=0.05)
        assert rounds[0] == 0
        tenant = uuid.uuid4()
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, "test", [(tenant_event(tenant, "wake"), tenant)])

        async def published() -> bool:
            async with pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"))

        await eventually(published, timeout_s=5)
        assert rounds[0] == 0 and sum(rounds) == 1  # it went out in a round after the relay was woken
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_inbox_claims_an_event_once(pool: asyncpg.Pool) -> None:
    event = tenant_event(uuid.uuid4(), "inbox")
    async with pool.acquire() as conn:
        assert await inbox.claim(conn, "svc", event) is True
        assert await inbox.claim(conn, "svc", event) is False
        assert await inbox.claim(conn, "other-svc", event) is True


async def test_poison_messages_go_to_the_dlq_and_the_consumer_goes_on(pool: asyncpg.Pool, kafka_bootstrap: str) -> None:
    topic = f"test.poison.{uuid.uuid4().hex[:8]}"
    admin = await topics.connect_admin(kafka_bootstrap)
    await admin.create_topics([NewTopic(topic, 1, 1), NewTopic(topics.dlq(topic), 1, 1)])
    await admin.close()
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE applied (slug text PRIMARY KEY)")

    broker = KafkaBroker(kafka_bootstrap)
    consumer = EventConsumer(f"test-{uuid.uuid4().hex[:8]}", pool, broker, max_attempts=2)

    async def apply(conn: Conn, event: Envelope, tenant: TenantCreated) -> None:
        slug = tenant.slug
        if slug == "always-fails":
            raise RuntimeError("this handler cannot apply it")
        await conn.execute("INSERT INTO applied (slug) VALUES ($1)", slug)

    consumer.use(Handlers(route("tenant.created", TenantCreated, apply)))
    consumer.subscribe(topic, session_timeout_ms=3000, heartbeat_interval_ms=500)
    await broker.start()
    try:
        tenant = uuid.uuid4()
        good = tenant_event(tenant, "good")
        await broker.publish(b"{not json", topic, key=b"k")
        await broker.publish(tenant_event(tenant, "always-fails").model_dump_json().encode(), topic, key=b"k")
        await broker.publish(
            json.dumps({"type": "tenant.created", "tenant_id": str(tenant), "data": {"slug": 1}}).encode(),
            topic,
            key=b"k",
        )
        await broker.publish(good.model_dump_json().encode(), topic, key=b"k")
        await broker.publish(good.model_dump_json().encode(), topic, key=b"k")  # a duplicate

        async def good_applied() -> bool:
            async with pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT count(*) FROM applied WHERE slug = 'good'"))

        await eventually(good_applied, timeout_s=20)

        async def dead_lettered() -> list[ConsumerRecord] | None:
            records = await read_all(kafka_bootstrap, [topics.dlq(topic)])
            return records if len(records) >= 3 else None

        dead = await eventually(dead_lettered, timeout_s=10)
        errors = [dict(r.headers)["x-error"].decode() for r in dead]
        assert errors[0].startswith("unparseable envelope")
        # A record that fails to decode is copied before anything after it is applied; one whose handler
        # fails, after its retries: within one batch the later poison is copied first.
        assert sorted(e.split(":")[0] for e in errors[1:]) == ["RuntimeError", "invalid tenant.created payload"]
        assert all(dict(r.headers)["x-original-topic"].decode() == topic for r in dead)
        assert dead[0].value == b"{not json"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM applied") == 1
    finally:
        await broker.stop()


async def test_tombstones_are_published_as_null_values(
    pool: asyncpg.Pool, broker: KafkaBroker, database: str, kafka_bootstrap: str
) -> None:
    tenant, key = uuid.uuid4(), f"{uuid.uuid4()}/{uuid.uuid4()}"
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue_tombstones(conn, "test", tenant, topics.CONTACTS, [key])
    relay = OutboxRelay(pool, database, kafka_bootstrap)
    try:
        assert await relay.drain() == 1
    finally:
        await relay.close()
    [record] = [r for r in await read_all(kafka_bootstrap, [topics.CONTACTS]) if r.key == key.encode()]
    assert record.value is None
    assert dict(record.headers)["ce_type"] == b"tombstone"


async def test_a_transaction_begins_with_its_setup_and_a_failure_leaves_nothing(pool: asyncpg.Pool) -> None:
    tenant = uuid.uuid4()
    async with db.transaction(pool, db.tenant_scope(f"{tenant}'; DROP TABLE outbox; --")) as conn:
        scope = await conn.fetchval("SELECT current_setting('app.tenant_id')")
        assert scope == f"{tenant}'; DROP TABLE outbox; --"  # a literal, never SQL
        await outbox.enqueue(conn, "test", [(tenant_event(tenant, "kept"), tenant)])
    with pytest.raises(RuntimeError):
        async with db.transaction(pool, db.tenant_scope(tenant)) as conn:
            await outbox.enqueue(conn, "test", [(tenant_event(tenant, "dropped"), tenant)])
            raise RuntimeError("the state change failed")
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in (None, "")
        slugs = await conn.fetch("SELECT body->'data'->>'slug' AS slug FROM outbox WHERE tenant_id = $1", tenant)
    assert [r["slug"] for r in slugs] == ["kept"]


async def test_a_change_and_its_events_go_in_one_statement(pool: asyncpg.Pool) -> None:
    tenant = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("CREATE TABLE IF NOT EXISTS things (id uuid PRIMARY KEY, name text)")
        events = [(tenant_event(tenant, f"e{i}"), tenant) for i in range(3)]
        row = await outbox.fetchrow_with_events(
            conn, "INSERT INTO things VALUES ($1, $2) RETURNING *", (tenant, "a thing"), "test", events
        )
        assert row is not None and row["name"] == "a thing"
        slugs = await conn.fetch(
            "SELECT body->'data'->>'slug' AS slug FROM outbox WHERE tenant_id = $1 ORDER BY seq", tenant
        )
    assert [r["slug"] for r in slugs] == ["e0", "e1", "e2"]


async def _true(value: bool) -> bool:
    return value


async def _listening(pool: asyncpg.Pool, channel: str) -> bool:
    """A session of this database has run LISTEN on ``channel`` (and nothing since)."""
    return bool(
        await pool.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
            f'LISTEN "{channel}"',
        )
    )
