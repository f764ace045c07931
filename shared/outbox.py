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
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

import asyncpg
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from shared import metrics
from shared.db import Conn
from shared.events import Envelope, topic_for

log = logging.getLogger(__name__)

_TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError)

_RELAY_LOCK = 0x464D4602
NOTIFY_CHANNEL = "fmf_outbox"


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


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        broker: KafkaBroker,
        *,
        poll_interval_s: float = 1.0,
        batch_size: int = 200,
    ) -> None:
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
                self._wake.clear()
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()

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
                await self.broker.publish(
                    json.dumps(row["body"]).encode(),
                    row["topic"],
                    key=row["key"].encode(),
                    headers=row["headers"],
                )
                delay = (datetime.now(UTC) - row["created_at"]).total_seconds()
                metrics.OUTBOX_PUBLISH_DELAY.observe(max(delay, 0.0))

        await asyncio.gather(*(publish_in_order(r) for r in by_key.values()))
