"""Transactional outbox: events are written with the state change, then relayed to Kafka.

``enqueue`` runs inside the caller's transaction. ``OutboxRelay`` publishes unpublished rows in
``seq`` order. Rows are claimed with ``FOR UPDATE SKIP LOCKED``; a transaction-level advisory lock
additionally keeps a single relay active per database, because two relays taking interleaved rows
of one key would break the per-key order consumers rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from shared import metrics
from shared.db import Conn
from shared.events import Envelope, topic_for

log = logging.getLogger(__name__)

_TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError)

_RELAY_LOCK = 0x464D4602
NOTIFY_CHANNEL = "fmf_outbox"
GATHER_S = 0.005


async def enqueue(conn: Conn, source: str, events: Iterable[tuple[Envelope, object]]) -> None:
    """Add events (each with its partition key) to the outbox, in the caller's transaction."""
    rows = [
        (
            event.id,
            event.tenant_id,
            topic_for(event.type),
            str(key),
            event.type,
            event.model_dump(mode="json"),
            event.headers(source),
        )
        for event, key in events
    ]
    if rows:
        await conn.executemany(
            "INSERT INTO outbox (event_id, tenant_id, topic, key, event_type, body, headers)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            rows,
        )


async def enqueue_tombstones(
    conn: Conn, source: str, tenant_id: uuid.UUID, topic: str, keys: Iterable[str], cause: Envelope | None = None
) -> None:
    """Null values for ``keys`` on a compacted topic, published in order with the other outbox rows."""
    rows = []
    for key in keys:
        marker = Envelope(type="tombstone", tenant_id=tenant_id)
        if cause is not None:
            marker.correlation_id, marker.causation_id = cause.correlation_id, cause.id
        rows.append((marker.id, tenant_id, topic, key, "tombstone", None, marker.headers(source)))
    if rows:
        await conn.executemany(
            "INSERT INTO outbox (event_id, tenant_id, topic, key, event_type, body, headers)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            rows,
        )


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        broker: KafkaBroker,
        *,
        poll_interval_s: float = 1.0,
        batch_size: int = 200,
        bootstrap: str | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self._tombstones: AIOKafkaProducer | None = None
        self.pool = pool
        self.dsn = dsn
        self.broker = broker
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self._wake = asyncio.Event()

    async def run(self) -> None:
        listener: asyncpg.Connection | None = None
        try:
            while True:
                if listener is None or listener.is_closed():
                    listener = await self._listen()
                try:
                    while await self.drain() == self.batch_size:
                        pass
                except _TRANSIENT as exc:
                    log.warning("outbox relay round failed; retrying", extra={"error": repr(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                    # Let the commits of a busy moment gather, so that one round publishes them all.
                    await asyncio.sleep(GATHER_S)
                self._wake.clear()
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()
            if self._tombstones is not None:
                await self._tombstones.stop()

    async def _listen(self) -> asyncpg.Connection | None:
        """A connection that wakes the relay on NOTIFY; None while the database is unreachable."""
        try:
            conn = await asyncpg.connect(self.dsn)
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            return conn
        except _TRANSIENT:
            return None

    async def drain(self) -> int:
        """Publish one batch; return how many rows were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                metrics.OUTBOX_BACKLOG.set(0)  # another replica relays and reports the backlog
                return 0
            rows = await conn.fetch(
                "SELECT seq, topic, key, body, headers, created_at FROM outbox"
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
                await conn.execute("DELETE FROM outbox WHERE published_at < now() - interval '7 days'")
        return len(rows)

    async def _publish(self, rows: list[asyncpg.Record]) -> None:
        by_key: dict[tuple[str, str], list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            by_key[(row["topic"], row["key"])].append(row)

        async def publish_in_order(key_rows: list[asyncpg.Record]) -> None:
            for row in key_rows:  # one key's rows strictly in sequence
                if row["body"] is None:
                    await self._publish_tombstone(row)
                    continue
                await self.broker.publish(
                    json.dumps(row["body"]).encode(),
                    row["topic"],
                    key=row["key"].encode(),
                    headers=row["headers"],
                )
                delay = (datetime.now(UTC) - row["created_at"]).total_seconds()
                metrics.OUTBOX_PUBLISH_DELAY.observe(max(delay, 0.0))

        await asyncio.gather(*(publish_in_order(r) for r in by_key.values()))

    async def _publish_tombstone(self, row: asyncpg.Record) -> None:
        # FastStream encodes None as an empty value; compaction needs a real null, so aiokafka sends it.
        if self._tombstones is None:
            if self.bootstrap is None:
                raise RuntimeError("the relay needs the bootstrap servers to publish tombstones")
            self._tombstones = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
            await self._tombstones.start()
        headers = [(k, str(v).encode()) for k, v in row["headers"].items()]
        await self._tombstones.send_and_wait(row["topic"], None, key=row["key"].encode(), headers=headers)
