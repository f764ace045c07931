"""Kafka consumption with exactly-once effects and a dead-letter path.

Every service registers its event handlers on an ``EventConsumer``. Each message is decoded into an
``Envelope``; its handler runs inside one database transaction that first claims the event id in
the inbox. A message that cannot be parsed, or whose handler keeps failing, is copied to
``<topic>.dlq`` with the error and then acknowledged, so the partition moves on. While the database
itself is unreachable the message is retried, not dead-lettered: that is not the message's fault.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage
from pydantic import ValidationError

from shared import db, inbox, logs, metrics
from shared.db import Conn
from shared.events import Envelope
from shared.topics import dlq

log = logging.getLogger(__name__)

Handler = Callable[[Conn, Envelope], Awaitable[None]]
_DB_DOWN = (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)


async def _raw_body(msg: StreamMessage[object]) -> bytes:
    return msg.body


class EventConsumer:
    def __init__(self, group: str, pool: asyncpg.Pool | None, broker: KafkaBroker, *, max_attempts: int = 3) -> None:
        self.group = group
        self.pool = pool
        self.broker = broker
        self.max_attempts = max_attempts
        self.handlers: dict[str, Handler] = {}

    def on(self, *event_types: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for event_type in event_types:
                self.handlers[event_type] = handler
            return handler

        return register

    def subscribe(
        self, *topic_names: str, session_timeout_ms: int = 10_000, heartbeat_interval_ms: int = 3_000
    ) -> None:
        subscriber = self.broker.subscriber(
            *topic_names,
            group_id=self.group,
            ack_policy=AckPolicy.ACK,  # commit only after the handler (and any DLQ copy) is done
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            decoder=_raw_body,
            title=f"{self.group}:{','.join(topic_names)}",
        )
        subscriber(self.process)

    async def process(self, body: bytes, msg: KafkaMessage) -> None:
        logs.clear()
        if not body:
            return  # a tombstone on a compacted topic: its meaning arrives as an event of its own
        try:
            event = Envelope.model_validate_json(body)
        except ValidationError as exc:
            await self.dead_letter(body, msg, f"unparseable envelope: {exc}")
            return
        logs.bind(tenant_id=str(event.tenant_id), correlation_id=str(event.correlation_id))
        meeting_id = event.data.get("meeting_id")
        if meeting_id:
            logs.bind(meeting_id=str(meeting_id))
        handler = self.handlers.get(event.type)
        if handler is None:
            return  # unknown or uninteresting event types are skipped by design
        await self._apply(handler, event, body, msg)

    async def _apply(self, handler: Handler, event: Envelope, body: bytes, msg: KafkaMessage) -> None:
        failures = 0
        outage_wait = 0.2
        assert self.pool is not None, "the consumer's pool is set when the service starts"
        while True:
            try:
                async with db.transaction(self.pool, db.tenant_scope(event.tenant_id)) as conn:
                    if await inbox.claim(conn, self.group, event):
                        await handler(conn, event)
                return
            except _DB_DOWN as exc:
                log.warning("database unreachable; retrying event", extra={"error": repr(exc)})
                await asyncio.sleep(outage_wait)
                outage_wait = min(outage_wait * 2, 5.0)
            except ValidationError as exc:
                await self.dead_letter(body, msg, f"invalid {event.type} payload: {exc}")
                return
            except Exception as exc:
                failures += 1
                log.exception("event handler failed", extra={"event_type": event.type, "attempt": failures})
                if failures >= self.max_attempts:
                    await self.dead_letter(body, msg, f"{type(exc).__name__}: {exc}")
                    return
                await asyncio.sleep(0.1 * 2**failures)

    async def dead_letter(self, body: bytes, msg: KafkaMessage, error: str) -> None:
        record = msg.raw_message
        topic = record.topic  # type: ignore[union-attr]
        headers = {k: v.decode(errors="replace") if isinstance(v, bytes) else str(v) for k, v in msg.headers.items()}
        headers.update(
            {
                "x-error": error[:2000],
                "x-original-topic": topic,
                "x-original-partition": str(record.partition),  # type: ignore[union-attr]
                "x-original-offset": str(record.offset),  # type: ignore[union-attr]
                "x-consumer-group": self.group,
            }
        )
        await self.broker.publish(body, dlq(topic), key=record.key, headers=headers)  # type: ignore[union-attr]
        metrics.DLQ_MESSAGES.labels(topic=topic).inc()
        log.error("message dead-lettered", extra={"topic": topic, "error": error[:500]})
