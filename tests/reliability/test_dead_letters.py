"""Dead letters against the real broker and real PostgreSQL: a replay goes to the consumer group that
failed alone and does not multiply, marks are kept, list/skip/purge; a failed dead-letter copy is never
acknowledged; a database that drops connections never dead-letters a message."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from deploy import cli
from shared import db, dlq, topics
from shared.consumer import EventConsumer, Handlers, route
from shared.db import Conn
from shared.events import Envelope, TenantCreated, make_event
from tests.support import consumer_lag, end_offsets, eventually, read_all

pytestmark = pytest.mark.asyncio(loop_scope="session")

TENANT = uuid.uuid4()


@pytest.fixture
async def pool(database: str, tmp_path: Path) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(database, tmp_path)  # the shared migrations only: outbox, inbox
    pool = await db.create_pool(database)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE applied (grp text, slug text, PRIMARY KEY (grp, slug))")
    yield pool
    await pool.close()


def tenant_event(slug: str) -> Envelope:
    return make_event(
        "tenant.created", TENANT, TenantCreated(tenant_id=TENANT, slug=slug, name=slug, municipality_number="0301")
    )


async def create_topic(bootstrap: str, partitions: int = 1) -> str:
    topic = f"test.dead.{uuid.uuid4().hex[:8]}"
    admin = await topics.connect_admin(bootstrap)
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1), NewTopic(topics.dlq(topic), partitions, 1)])
    finally:
        await admin.close()
    return topic


@dataclass
class Group:
    """A consumer group of its own (its own broker connection) applying tenant.created into ``applied``."""

    name: str
    consumer: EventConsumer
    broker: KafkaBroker
    failing: set[str] = field(default_factory=set)  # slugs this group's handler cannot apply


async def start_group(
    bootstrap: str, pool: asyncpg.Pool, topic: str, failing: set[str] | None = None, **consumer_args: Any
) -> Group:
    broker = KafkaBroker(bootstrap)
    name = f"t{uuid.uuid4().hex[:8]}"
    group = Group(name, EventConsumer(name, pool, broker, **consumer_args), broker, set(failing or ()))

    async def apply(conn: Conn, event: Envelope, tenant: TenantCreated) -> None:
        slug = tenant.slug
        if slug in group.failing:
            raise RuntimeError(f"{group.name} cannot apply {slug}")
        await conn.execute("SELECT pg_sleep(0.02)")  # a handler that takes a moment, as real ones do
        await conn.execute("INSERT INTO applied (grp, slug) VALUES ($1, $2)", group.name, slug)

    group.consumer.use(Handlers(route("tenant.created", TenantCreated, apply)))
    group.consumer.subscribe(topic, session_timeout_ms=3000, heartbeat_interval_ms=500)
    await broker.start()
    return group


async def publish_poison(broker: KafkaBroker, topic: str) -> None:
    """Three kinds of poison, then a good event, all on one key (one partition, in this order)."""
    await broker.publish(b"{not json", topic, key=b"k")
    invalid = {"type": "tenant.created", "tenant_id": str(TENANT), "data": {"slug": 1}}
    await broker.publish(json.dumps(invalid).encode(), topic, key=b"k")
    await broker.publish(tenant_event("always-fails").model_dump_json().encode(), topic, key=b"k")
    await broker.publish(tenant_event("good").model_dump_json().encode(), topic, key=b"k")


async def settled(bootstrap: str, topic: str, groups: list[Group]) -> list[Any]:
    """Wait until every group has committed the end of ``topic`` (a dead letter is written before its
    offset is committed, so none is still coming); return the dead letters."""

    async def caught_up() -> bool:
        return all([await consumer_lag(bootstrap, g.name, [topic]) == 0 for g in groups])

    await eventually(caught_up, timeout_s=60, every_s=0.2)
    if not await dead_letter_count(bootstrap, topic):
        return []
    return list(await read_all(bootstrap, [topics.dlq(topic)]))


async def dead_letter_count(bootstrap: str, topic: str) -> int:
    """How many records ``<topic>.dlq`` holds (read_all stops its client too early on an empty topic)."""
    return sum((await end_offsets(bootstrap, [topics.dlq(topic)])).values())


def header(record: Any, name: str) -> str | None:
    values = [v for k, v in record.headers if k == name]
    return values[-1].decode() if values else None


def fmf(bootstrap: str, *args: str) -> str:
    result = CliRunner().invoke(cli.app, list(args), env={"FMF_KAFKA_BOOTSTRAP": bootstrap})
    assert result.exit_code == 0, result.output
    return result.output


async def run_fmf(bootstrap: str, *args: str) -> str:
    return await asyncio.to_thread(fmf, bootstrap, *args)  # the command runs its own event loop


def skipped_replays(group: str) -> float:
    return REGISTRY.get_sample_value("fmf_dlq_replays_skipped_total", {"group": group}) or 0.0


async def test_a_replay_goes_to_the_failing_group_alone_and_does_not_multiply(
    pool: asyncpg.Pool, kafka_bootstrap: str
) -> None:
    topic = topics.FEEDBACK  # a topic of the platform, so the command line takes it (a fresh broker per module)
    alpha = await start_group(kafka_bootstrap, pool, topic, failing={"always-fails"}, max_attempts=1)
    beta = await start_group(kafka_bootstrap, pool, topic, max_attempts=1)
    groups = [alpha, beta]
    try:
        await publish_poison(alpha.broker, topic)
        # Both groups dead-letter the unparseable and the invalid message; alpha alone the failing one.
        first = await settled(kafka_bootstrap, topic, groups)
        assert len(first) == 5
        assert sorted(header(r, "x-consumer-group") or "" for r in first) == sorted([alpha.name] * 3 + [beta.name] * 2)
        skipped_before = {g.name: skipped_replays(g.name) for g in groups}

        out = await run_fmf(kafka_bootstrap, "dlq", "replay", topic)
        second = await settled(kafka_bootstrap, topic, groups)
        # Each replayed dead letter that still fails comes back exactly once, for the same group.
        assert len(second) == 10
        assert f"republished 5 dead letters from {topics.dlq(topic)} to {topic}" in out
        for record in [r for r in second if header(r, "x-replay-of")]:
            of = header(record, "x-replay-of")
            [original] = [r for r in first if dlq.mark_key(r.topic, r.partition, r.offset) == of]
            assert header(record, "x-replay-for") == header(record, "x-consumer-group")
            assert header(record, "x-consumer-group") == header(original, "x-consumer-group")
        # Every group saw every replayed copy, and left the other group's unread.
        assert skipped_replays(alpha.name) - skipped_before[alpha.name] == 2
        assert skipped_replays(beta.name) - skipped_before[beta.name] == 3

        out = await run_fmf(kafka_bootstrap, "dlq", "replay", topic)
        third = await settled(kafka_bootstrap, topic, groups)
        assert len(third) == 15  # 5 -> 10 -> 15: one new dead letter per failing replay, no more
        assert "republished 5 dead letters" in out

        letters = await dlq.read_dead_letters(kafka_bootstrap, [topic])
        statuses = [d.status for d in letters]
        assert statuses.count(dlq.Status.REPLAYED) == 10 and statuses.count(dlq.Status.NEW) == 5
        marks = await dlq.read_marks(kafka_bootstrap)
        assert {d.ref for d in letters if d.status is dlq.Status.REPLAYED} <= set(marks)

        # After the fix, alpha's replay is applied (by alpha alone: beta applied it long ago) and stays.
        alpha.failing.clear()
        out = await run_fmf(kafka_bootstrap, "dlq", "replay", topic, "--group", alpha.name)
        assert "republished 3 dead letters" in out and beta.name not in out
        fourth = await settled(kafka_bootstrap, topic, groups)
        assert len(fourth) == 17  # alpha's unparseable and invalid ones still fail; the fixed one does not
        applied = await pool.fetch("SELECT grp FROM applied WHERE slug = 'always-fails'")
        assert sorted(r["grp"] for r in applied) == sorted([alpha.name, beta.name])

        # A dead letter replayed once is never sent again, even when named.
        done = [d for d in await dlq.read_dead_letters(kafka_bootstrap, [topic]) if d.status is dlq.Status.REPLAYED]
        named = [arg for d in done for arg in ("--offset", f"{d.partition}:{d.offset}")]
        assert len(done) == 13
        assert "republished 0 dead letters" in await run_fmf(kafka_bootstrap, "dlq", "replay", topic, *named)
    finally:
        for group in groups:
            await group.broker.stop()


async def test_list_skip_and_purge(pool: asyncpg.Pool, kafka_bootstrap: str) -> None:
    topic = topics.MATCHING
    alpha = await start_group(kafka_bootstrap, pool, topic, failing={"always-fails"}, max_attempts=1)
    try:
        await publish_poison(alpha.broker, topic)
        await settled(kafka_bootstrap, topic, [alpha])

        listed = await run_fmf(kafka_bootstrap, "dlq", "list", topic)
        lines = listed.strip().splitlines()
        assert lines[0].split()[:3] == ["TOPIC", "P:OFFSET", "GROUP"]
        rows = lines[1:-1]
        assert len(rows) == 3 and all(r.startswith(topic) and alpha.name in r and " new " in r for r in rows)
        assert "unparseable envelope" in rows[0] and " - " in rows[0]  # no event type in an unparseable body
        assert "tenant.created" in rows[1] and "invalid tenant.created payload" in rows[1]
        assert f"RuntimeError: {alpha.name} cannot apply always-fails" in rows[2]
        assert lines[-1] == "3 dead letters (new: 3, replayed: 0, skipped: 0)"
        assert "no dead letters" in await run_fmf(kafka_bootstrap, "dlq", "list", topic, "--group", "nobody")
        everywhere = await run_fmf(kafka_bootstrap, "dlq", "list", "--group", alpha.name)  # every topic's
        assert everywhere.strip().splitlines()[1:-1] == rows
        positions = [r.split()[1] for r in rows]

        assert "skipped 1 dead letters" in await run_fmf(kafka_bootstrap, "dlq", "skip", topic, positions[0])
        result = await asyncio.to_thread(
            CliRunner().invoke, cli.app, ["dlq", "skip", topic, "0:999"], env={"FMF_KAFKA_BOOTSTRAP": kafka_bootstrap}
        )
        assert result.exit_code == 2 and "no dead letter at 0:999" in result.output
        out = await run_fmf(kafka_bootstrap, "dlq", "replay", topic, "--offset", positions[0], "--offset", positions[1])
        assert "republished 1 dead letters" in out  # the skipped one is never replayed
        await settled(kafka_bootstrap, topic, [alpha])
        listed = await run_fmf(kafka_bootstrap, "dlq", "list", topic)
        assert listed.strip().splitlines()[-1] == "4 dead letters (new: 2, replayed: 1, skipped: 1)"

        assert "purged 0 dead letters" in await run_fmf(
            kafka_bootstrap, "dlq", "purge", topic, "--before", "2000-01-01"
        )
        out = await run_fmf(kafka_bootstrap, "dlq", "purge", topic)
        assert f"purged 4 dead letters of {topics.dlq(topic)}" in out
        assert "no dead letters" in await run_fmf(kafka_bootstrap, "dlq", "list", topic)
        assert "republished 0 dead letters" in await run_fmf(kafka_bootstrap, "dlq", "replay", topic)
    finally:
        await alpha.broker.stop()


async def committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


def dlq_publish_failures(topic: str) -> float:
    return REGISTRY.get_sample_value("fmf_dlq_publish_failures_total", {"topic": topic}) or 0.0


async def test_a_message_whose_dead_letter_copy_fails_is_not_acknowledged(
    pool: asyncpg.Pool, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = await create_topic(kafka_bootstrap)
    broken = asyncio.Event()
    broken.set()
    group = await start_group(kafka_bootstrap, pool, topic, dlq_patience_s=1.0)
    publish: Callable[..., Awaitable[Any]] = group.broker.publish
    refused = 0

    async def dead_letter_topic_down(body: Any, to: str, **kwargs: Any) -> Any:
        nonlocal refused
        if to == topics.dlq(topic) and broken.is_set():
            refused += 1
            raise KafkaConnectionError("the dead-letter topic cannot be written")
        return await publish(body, to, **kwargs)

    async def refused_often_or_committed() -> bool:
        return refused >= 5 or bool(await committed(kafka_bootstrap, group.name, topic))

    group.broker.publish = dead_letter_topic_down  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.ERROR, logger="shared.consumer"):
            await group.broker.publish(b"{not json", topic, key=b"k")
            await group.broker.publish(tenant_event("after-the-poison").model_dump_json().encode(), topic, key=b"k")
            # Retried with a pause, then handed back to Kafka after its patience, and retried again ...
            await eventually(refused_often_or_committed, timeout_s=30)
            # ... and never acknowledged: the offset stays on the poison, the partition waits behind it.
            assert await committed(kafka_bootstrap, group.name, topic) in (None, 0)
            assert refused >= 5 and dlq_publish_failures(topic) >= refused
            assert await dead_letter_count(kafka_bootstrap, topic) == 0
            assert not await pool.fetchval("SELECT count(*) FROM applied WHERE grp = $1", group.name)
            failures = [r for r in caplog.records if "could not copy the message" in r.getMessage()]
            assert failures and all(r.levelno == logging.ERROR for r in failures)

        broken.clear()  # the dead-letter topic can be written again
        [dead] = await settled(kafka_bootstrap, topic, [group])
        assert dead.value == b"{not json" and header(dead, "x-consumer-group") == group.name
        assert await committed(kafka_bootstrap, group.name, topic) == 2
        assert await pool.fetchval("SELECT count(*) FROM applied WHERE grp = $1", group.name) == 1
    finally:
        await group.broker.stop()


def db_retries(group: str) -> float:
    return REGISTRY.get_sample_value("fmf_consumer_db_retries_total", {"group": group}) or 0.0


async def test_dropped_database_connections_are_retried_never_dead_lettered(
    pool: asyncpg.Pool, database: str, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=3)
    # One attempt: any connection error taken for the message's fault would dead-letter it at once.
    group = await start_group(kafka_bootstrap, pool, topic, max_attempts=1)
    killer = await asyncpg.connect(database)
    terminated = 0

    async def terminate_the_consumers_connections() -> None:
        nonlocal terminated
        while True:
            terminated += await killer.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            await asyncio.sleep(0.05)

    slugs = [f"s{i}" for i in range(40)]
    killing = asyncio.create_task(terminate_the_consumers_connections())
    try:
        for slug in slugs:
            await group.broker.publish(tenant_event(slug).model_dump_json().encode(), topic, key=slug.encode())

        async def killed_often_or_done() -> bool:
            return terminated >= 20 or await consumer_lag(kafka_bootstrap, group.name, [topic]) == 0

        await eventually(killed_often_or_done, timeout_s=60)
    finally:
        killing.cancel()
        await asyncio.gather(killing, return_exceptions=True)
    try:
        await settled(kafka_bootstrap, topic, [group])
        assert await dead_letter_count(kafka_bootstrap, topic) == 0  # none dead-lettered
        rows = await killer.fetch("SELECT slug FROM applied WHERE grp = $1", group.name)
        assert sorted(r["slug"] for r in rows) == sorted(slugs)  # and every event applied, once
        assert terminated >= 20 and db_retries(group.name) > 0  # while connections were being cut
    finally:
        await killer.close()
        await group.broker.stop()
