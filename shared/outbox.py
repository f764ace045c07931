"""Transactional outbox: events are written with the state change, then relayed to Kafka.

``enqueue`` runs inside the caller's transaction. ``OutboxRelay`` publishes unpublished rows in
``seq`` order. Rows are claimed with ``FOR UPDATE SKIP LOCKED``; a transaction-level advisory lock
additionally keeps a single relay active per database, because two relays taking interleaved rows
of one key would break the per-key order consumers rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from shared import broker_loss, db, locks, metrics
from shared.db import Conn
from shared.events import Envelope, topic_for
from shared.waker import Waker

log = logging.getLogger(__name__)

_TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError)

NOTIFY_CHANNEL = "fmf_outbox"
PARTITIONS_TIMEOUT_S = 10.0  # longest a round waits for a topic's partitions
GATHER_S = 0.005  # seconds a woken relay lets the commits of a busy moment gather, so one round takes them


@functools.cache
def _insert_sql(first: int = 1) -> str:
    """One statement for all of a transaction's events (one round trip, one NOTIFY), its seven
    parameters numbered from ``first``; ``seq`` follows the order of the list."""
    e, t, tp, k, et, b, h = (f"${first + i}" for i in range(7))
    return (
        "INSERT INTO outbox (event_id, tenant_id, topic, key, event_type, body, headers)"
        f" SELECT e, t, tp, k, et, b::json, h FROM unnest({e}::uuid[], {t}::uuid[], {tp}::text[], {k}::text[],"
        f" {et}::text[], {b}::text[], {h}::json[]) WITH ORDINALITY AS u (e, t, tp, k, et, b, h, n) ORDER BY n"
    )


# event id, tenant id, topic, key, event type, body as JSON text (None for a tombstone), headers
Row = tuple[uuid.UUID, uuid.UUID, str, str, str, str | None, dict[str, str]]


def _rows(source: str, events: Iterable[tuple[Envelope, object]]) -> list[Row]:
    return [
        (
            event.id,
            event.tenant_id,
            topic_for(event.type),
            str(key),
            event.type,
            event.model_dump_json(),
            event.headers(source),
        )
        for event, key in events
    ]


def _columns(rows: list[Row]) -> list[list[object]]:
    return [list(column) for column in zip(*rows, strict=True)]


# While a consumer applies a batch, the rows its handlers enqueue are gathered here and written with one
# statement at the end of the batch (``collecting``, ``write_collected``), instead of one per handler.
_collected: ContextVar[list[Row] | None] = ContextVar("outbox_collected", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[Row]]:
    """Within this block (and the tasks it starts), ``enqueue``, ``enqueue_tombstones`` and
    ``fetchrow_with_events`` add their rows to the list it yields, in order, instead of inserting them;
    the caller writes them with ``write_collected`` in the same transaction. A caller that rolls back to
    a savepoint cuts the list back to its length at that savepoint."""
    rows: list[Row] = []
    token = _collected.set(rows)
    try:
        yield rows
    finally:
        _collected.reset(token)


async def write_collected(conn: Conn, rows: list[Row]) -> None:
    """Insert rows gathered by ``collecting`` with one statement (``seq`` follows their order)."""
    if rows:
        await conn.execute(_insert_sql(), *_columns(rows))


async def _insert(conn: Conn, rows: list[Row]) -> None:
    pending = _collected.get()
    if pending is not None:
        pending.extend(rows)
    elif rows:
        await conn.execute(_insert_sql(), *_columns(rows))


async def enqueue(conn: Conn, source: str, events: Iterable[tuple[Envelope, object]]) -> None:
    """Add events (each with its partition key) to the outbox, in the caller's transaction."""
    await _insert(conn, _rows(source, events))


async def fetchrow_with_events(
    conn: Conn, statement: str, args: Sequence[object], source: str, events: Iterable[tuple[Envelope, object]]
) -> asyncpg.Record | None:
    """Run ``statement`` (parameters ``$1``..``$n``, from ``args``) and enqueue ``events`` in the same
    statement, as a data-modifying CTE: a state change and its events in one round trip."""
    rows = _rows(source, events)
    pending = _collected.get()
    if pending is not None:
        pending.extend(rows)
        return await conn.fetchrow(statement, *args)
    if not rows:
        return await conn.fetchrow(statement, *args)
    return await conn.fetchrow(
        f"WITH outbox_rows AS ({_insert_sql(len(args) + 1)}) {statement}", *args, *_columns(rows)
    )


async def enqueue_tombstones(
    conn: Conn, source: str, tenant_id: uuid.UUID, topic: str, keys: Iterable[str], cause: Envelope | None = None
) -> None:
    """Null values for ``keys`` on a compacted topic, published in order with the other outbox rows."""
    rows: list[Row] = []
    for key in keys:
        marker = Envelope(type="tombstone", tenant_id=tenant_id)
        if cause is not None:
            marker.correlation_id, marker.causation_id = cause.correlation_id, cause.id
        rows.append((marker.id, tenant_id, topic, key, "tombstone", None, marker.headers(source)))
    await _insert(conn, rows)


async def republish(conn: Conn, since: datetime | None = None) -> int:
    """Put the kept outbox rows back to be published again: all, or those created at or after ``since``
    (aware). The running relay publishes them in ``seq`` order (so in order per key); consumers' inboxes
    make the repeats no-ops. Rows scrubbed of personal data were deleted and stay so; tombstones stay
    tombstones. Wakes the relay; returns how many rows."""
    if since is not None and since.tzinfo is None:
        raise ValueError("since must carry a time zone")
    status = await conn.execute(
        "UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL"
        " AND ($1::timestamptz IS NULL OR created_at >= $1)",
        since,
    )
    count = int(status.split()[-1])
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
    metrics.OUTBOX_REPUBLISHED.labels(cause="operator").inc(count)
    return count


class OutboxRelay:
    """Publishes the outbox to Kafka in ``seq`` order: per round, each partition's rows as record batches.

    A partition's batches go out one after the other, each awaited before the next; a batch is appended
    whole or not at all, so a failure never lets a later row of a key overtake an earlier one. Rows are
    partitioned as Kafka's default partitioner does (murmur2 of the key), so a key lands where any
    other producer would put it.

    The outbox is the source of truth, and the topics its copy: published rows are kept
    ``retention_hours``, and a round first checks (``broker_loss.LogGuard``: every ``check_interval_s``
    seconds, and after a failed round) that the broker still holds the log they were published into. When
    it does not, every kept row is published again, in ``seq`` order.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        bootstrap: str,
        *,
        poll_interval_s: float = 1.0,
        batch_size: int = 200,
        client_id: str = "fmf-outbox-relay",
        retention_hours: float = 168.0,
        topic_partitions: int = 6,
        topic_replication: int = 1,
        check_interval_s: float = 3.0,
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        self.retention_hours = retention_hours
        self.guard = broker_loss.LogGuard(
            bootstrap, topic_partitions, topic_replication, check_interval_s=check_interval_s
        )

    async def run(self) -> None:
        """Publish what is due, then wait for a NOTIFY on ``fmf_outbox`` or the poll interval; again."""
        waker = Waker(self.dsn, NOTIFY_CHANNEL, poll_interval_s=self.poll_interval_s, gather_s=GATHER_S)
        try:
            async with waker:
                while True:
                    try:
                        while await self.drain() == self.batch_size:
                            pass
                    except Exception as exc:
                        if not (isinstance(exc, (*_TRANSIENT, TimeoutError)) or db.is_connection_error(exc)):
                            raise
                        self.guard.failed()
                        log.warning("outbox relay round failed; retrying", extra={"error": repr(exc)})
                    await waker.wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop the relay's Kafka clients (they start again when needed)."""
        await self.guard.close()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def drain(self) -> int:
        """Publish one batch; return how many rows were published. When a look at the broker is due, first
        check that it still has the log the rows went into (``check_log``)."""
        if self.guard.due():
            await self.check_log()
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", locks.OUTBOX_RELAY):
                metrics.OUTBOX_BACKLOG.set(0)  # another replica relays and reports the backlog
                return 0
            # The body as text: it goes to Kafka as it was written.
            rows = await conn.fetch(
                "SELECT seq, topic, key, body::text AS body, headers, created_at FROM outbox"
                " WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
            )
            if rows:
                await self._publish(rows)
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
                    [r["seq"] for r in rows],
                )
            backlog = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            metrics.OUTBOX_BACKLOG.set(backlog - len(rows))
            if not rows:
                await conn.execute(
                    "DELETE FROM outbox WHERE published_at < now() - $1 * interval '1 hour'", self.retention_hours
                )
        return len(rows)

    async def check_log(self) -> str | None:
        """Look at the broker under the relay's lock (``broker_loss.LogGuard.examine``); when it lost the log
        the outbox was published into, mark every kept row unpublished, committed at once so that the next
        rounds, of any replica, publish them again. Returns why, or None when nothing was lost (or another
        replica holds the lock and looks itself). Raises what the broker or the database raise."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", locks.OUTBOX_RELAY):
                self.guard.postpone()  # the replica holding the lock looks
                return None
            verdict = await self.guard.examine(conn)
            if verdict.reason is not None:
                await broker_loss.republish_after_loss(conn, verdict.reason)
        if verdict.reason is not None:
            await self._refresh_metadata()
        return verdict.reason

    async def _publish(self, rows: list[asyncpg.Record]) -> None:
        producer = await self._started_producer()
        # Bounded: a broker that is gone must fail the round (and have the log checked), not hang it.
        partitions = {
            topic: sorted(await asyncio.wait_for(producer.partitions_for(topic), PARTITIONS_TIMEOUT_S))
            for topic in {r["topic"] for r in rows}
        }
        by_partition: dict[tuple[str, int], list[asyncpg.Record]] = defaultdict(list)
        for row in rows:  # rows are in seq order, so each partition's list is too
            partition = self._partitioner(row["key"].encode(), partitions[row["topic"]], partitions[row["topic"]])
            by_partition[(row["topic"], int(partition))].append(row)
        await asyncio.gather(*(self._publish_partition(producer, *where, part) for where, part in by_partition.items()))

    async def _publish_partition(
        self, producer: AIOKafkaProducer, topic: str, partition: int, rows: list[asyncpg.Record]
    ) -> None:
        batch = producer.create_batch()
        for row in rows:
            if not _append(batch, row):  # the batch is full: send it, then start the next one
                await self._send(producer, batch, topic, partition)
                batch = producer.create_batch()
                if not _append(batch, row):
                    raise ValueError(f"outbox row {row['seq']} is larger than a Kafka batch may be")
        await self._send(producer, batch, topic, partition)
        sent_at = datetime.now(UTC)
        for row in rows:
            metrics.OUTBOX_PUBLISH_DELAY.observe(max((sent_at - row["created_at"]).total_seconds(), 0.0))
        metrics.OUTBOX_PUBLISHED.labels(topic=topic).inc(len(rows))

    async def _send(self, producer: AIOKafkaProducer, batch: BatchBuilder, topic: str, partition: int) -> None:
        count = batch.record_count()
        if count:
            batch.close()
            sent = await (await producer.send_batch(batch, topic, partition=partition))
            self.guard.acknowledged(topic, partition, sent.offset)

    async def _refresh_metadata(self) -> None:
        """After topics were recreated: partition rows by the partitions the topics have now."""
        if self._producer is not None:
            await self._producer.client.force_metadata_update()

    async def _started_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                enable_idempotence=False,  # the embedded broker lacks it; the inbox makes it unnecessary
                max_batch_size=256 * 1024,  # a busy round's rows of a partition in one batch, far below 1 MB
            )
            await producer.start()
            self._producer = producer
        return self._producer


def _append(batch: BatchBuilder, row: asyncpg.Record) -> bool:
    """Add the row to the batch; False if it does not fit. A null value is a tombstone."""
    metadata = batch.append(
        key=row["key"].encode(),
        value=None if row["body"] is None else row["body"].encode(),
        timestamp=None,
        headers=[(k, str(v).encode()) for k, v in row["headers"].items()],
    )
    return metadata is not None
