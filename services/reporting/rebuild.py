"""``python -m services.reporting rebuild``: empty the read model and replay every topic from the start.

The command first moves the service's consumer group back to the beginning of every partition it
reads, then empties the read model and the group's inbox rows, then applies every event up to the
end offsets it found, through the same handlers as the service, committing the group's offsets as
it goes. Stopped half-way, nothing is lost: the service (or the next rebuild) goes on from the
committed offsets, and the inbox skips what was applied already. Events that arrive meanwhile are
left for the service. Run it while the reporting service is stopped; it refuses otherwise.

It also refuses to lose history: before it empties anything it reads the topics once and checks that every
event the read model was built from is still on them. A broker that lost its log (and got only what came
after, or nothing) would otherwise shrink the read model; the outboxes still hold the events, and
``fmf outbox republish <service>`` puts them back on the topics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from pydantic import ValidationError

from services.reporting import handlers, store
from shared import db, inbox, topics
from shared.db import Conn
from shared.events import Envelope
from shared.registry import SERVICES
from shared.settings import Settings

log = logging.getLogger(__name__)
BATCH = 5000
TAIL_WAIT_MS = 500  # after the end offsets: how long a poll waits for the rest of the last record batches


class RebuildRefused(RuntimeError):
    """The rebuild did not start: the message says why and what to do first."""


class ServiceRunning(RebuildRefused):
    """The reporting service (or another rebuild) is running."""


class HistoryLost(RebuildRefused):
    """The topics no longer hold every event the read model was built from."""


def history_lost_message(missing: int, applied: int) -> str:
    """What the operator reads when the topics lack ``missing`` of the ``applied`` events."""
    commands = "; ".join(f"fmf outbox republish {service}" for service in SERVICES)
    return (
        f"the topics no longer hold {missing} of the {applied} events the read model was built from (the"
        " broker lost history); rebuilding now would shrink the read model, so nothing was changed. Put the"
        f" events back on the topics first: {commands}; wait until every service's outbox is published"
        " (fmf_outbox_backlog 0), then rebuild again"
    )


@dataclass(frozen=True)
class Rebuilt:
    events: int  # applied
    skipped: int  # unparseable or failing; they went to the dead-letter topics when first consumed
    seconds: float


def consumer_group(settings: Settings) -> str:
    return f"{settings.consumer_group_prefix}-reporting"


async def _join(consumer: AIOKafkaConsumer, patience: float) -> list[TopicPartition]:
    """Join the service's consumer group and wait until it has every partition (it is the only member)."""
    await consumer.topics()  # fetch metadata
    wanted = {TopicPartition(t, p) for t in handlers.SUBSCRIBES_TO for p in consumer.partitions_for_topic(t) or ()}
    deadline = time.monotonic() + patience
    while consumer.assignment() != wanted:
        if time.monotonic() > deadline:
            raise ServiceRunning("another member holds partitions of the reporting consumer group; stop it first")
        await asyncio.sleep(0.2)  # the group coordinator joins in the background
    return sorted(wanted)


async def rebuild(settings: Settings) -> Rebuilt:
    started = time.perf_counter()
    group = consumer_group(settings)
    await db.ensure_database(settings.database_url)
    await db.migrate(settings.database_url, store.MIGRATIONS)
    await topics.ensure_topics(settings.kafka_bootstrap, settings.topic_partitions, settings.topic_replication)
    conn = await asyncpg.connect(settings.database_url)
    consumer = AIOKafkaConsumer(
        *handlers.SUBSCRIBES_TO,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
    )
    try:
        if not await store.try_rebuild_lock(conn):
            raise ServiceRunning("the reporting service is running; stop it before rebuilding its read model")
        await consumer.start()
        partitions = await _join(consumer, patience=6 * settings.kafka_session_timeout_ms / 1000 + 10)
        beginning = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        await _refuse_to_lose_history(conn, consumer, group, beginning, ends)
        for tp in partitions:
            consumer.seek(tp, beginning[tp])
        await _commit(consumer, {tp: beginning[tp] for tp in partitions}, patience=30)
        async with conn.transaction():
            await store.empty_read_model(conn, group)
        todo = {tp: (beginning[tp], ends[tp]) for tp in partitions if ends[tp] > beginning[tp]}
        applied, skipped = await _replay(conn, consumer, group, todo)
    finally:
        await consumer.stop()
        await conn.close()
    return Rebuilt(applied, skipped, time.perf_counter() - started)


async def _refuse_to_lose_history(
    conn: asyncpg.Connection,
    consumer: AIOKafkaConsumer,
    group: str,
    beginning: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
) -> None:
    """Raise ``HistoryLost`` unless every event id the read model applied (its inbox) is on the topics
    between ``beginning`` and ``ends``. Reads the topics once; changes nothing."""
    applied = await store.applied_events(conn, group)
    if not applied:
        return
    on_topics: set[uuid.UUID] = set()
    todo = {tp: ends[tp] for tp in ends if ends[tp] > beginning[tp]}
    for tp in todo:
        consumer.seek(tp, beginning[tp])
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=BATCH)
        for tp, records in batch.items():
            on_topics.update(_event_ids(records))
            if records and records[-1].offset + 1 >= todo.get(tp, 0):
                todo.pop(tp, None)
    while batch := await consumer.getmany(*ends, timeout_ms=TAIL_WAIT_MS, max_records=BATCH):  # the last batches' rest
        on_topics.update(_event_ids([r for records in batch.values() for r in records]))
    missing = await store.count_not_in(conn, group, on_topics)
    if missing:
        raise HistoryLost(history_lost_message(missing, applied))


def _event_ids(records: list[ConsumerRecord]) -> list[uuid.UUID]:
    """The envelope ids of records (tombstones and unreadable values have none)."""
    ids = []
    for record in records:
        try:
            ids.append(uuid.UUID(json.loads(record.value)["id"]))
        except (TypeError, ValueError, KeyError):
            continue
    return ids


async def _replay(
    conn: asyncpg.Connection, consumer: AIOKafkaConsumer, group: str, todo: dict[TopicPartition, tuple[int, int]]
) -> tuple[int, int]:
    """Apply every record from each partition's beginning up to its end offset, and the rest of the record
    batch the end falls in (the embedded broker reports a partition's end as its last batch's first offset
    + 1, so the end alone would leave that batch's later records out)."""
    applied = skipped = 0
    next_offset = {tp: first for tp, (first, _) in todo.items()}
    ends = {tp: end for tp, (_, end) in todo.items()}
    tail = False  # past every end: read on until a poll brings nothing
    while todo:
        wanted = [tp for tp in todo if tail or next_offset[tp] < ends[tp]]
        if not wanted:
            tail = True
            continue
        batch = await consumer.getmany(*wanted, timeout_ms=TAIL_WAIT_MS if tail else 1000, max_records=BATCH)
        if tail and not any(batch.values()):
            break
        records = [r for tp, recs in batch.items() for r in recs if next_offset[tp] <= r.offset]
        done, failed = await _apply(conn, group, records)
        applied, skipped = applied + done, skipped + failed
        offsets = {}
        for tp, recs in batch.items():
            if recs:
                next_offset[tp] = max(next_offset[tp], recs[-1].offset + 1)
                offsets[tp] = next_offset[tp]
        if offsets:
            await _commit(consumer, offsets, patience=30)
    return applied, skipped


async def _commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int], patience: float) -> None:
    deadline = time.monotonic() + patience
    while True:
        try:
            await consumer.commit(offsets)
            return
        except CommitFailedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _apply(conn: asyncpg.Connection, group: str, records: list[ConsumerRecord]) -> tuple[int, int]:
    """Apply a batch in one transaction, through the service's handler table (``handlers.HANDLERS``); if
    any event fails (an invalid payload too), apply them one by one and skip the failing."""
    events: list[Envelope] = []
    skipped = 0
    for record in records:
        if not record.value:
            continue
        try:
            events.append(Envelope.model_validate_json(record.value))
        except ValidationError:
            skipped += 1
    try:
        async with conn.transaction():
            await store.commit_without_waiting_for_disk(conn)
            known = [e for e in events if e.type in handlers.HANDLERS]
            fresh = await store.claim_events(conn, group, [(e.id, e.tenant_id, e.type) for e in known])
            applied, writes = 0, []
            for event in known:
                if event.id in fresh:  # and only once, should the batch hold the event twice
                    fresh.discard(event.id)
                    applied += 1
                    row = handlers.HANDLERS[event.type]
                    payload = row.decode(event)
                    writer = handlers.WRITERS.get(event.type)
                    if writer is None:
                        await row.handler(conn, event, payload)  # tenants and tokens: few
                    else:
                        writes += writer(event, payload)
            await store.apply_many(conn, writes)
        return applied, skipped
    except Exception:
        log.warning("a batch failed during the rebuild; applying it event by event", exc_info=True)
    applied = 0
    for event in events:
        try:
            async with conn.transaction():
                applied += await _one(conn, group, event)
        except Exception:
            skipped += 1
            log.exception("event skipped during the rebuild", extra={"event_id": str(event.id), "type": event.type})
    return applied, skipped


async def _one(conn: Conn, group: str, event: Envelope) -> int:
    row = handlers.HANDLERS.get(event.type)
    if row is None or not await inbox.claim(conn, group, event):
        return 0
    await row.handler(conn, event, row.decode(event))
    return 1
