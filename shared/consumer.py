"""Kafka consumption with exactly-once effects and a dead-letter path.

Each service declares its event handlers once, at module level, as a ``Handlers`` table::

    HANDLERS = Handlers(
        tenancy.HANDLERS,
        route(MEETING_EVENTS, MeetingSnapshot, meeting_changed),
        route("matching.swap_requested", SwapRequested, swap_requested),
    )

A handler is a plain ``async def handler(conn: Conn, event: Envelope, payload: SomePayload) -> None``.
The table refuses, when it is built (so at import), an event type ``shared.events.EVENT_TYPES`` does not
know, a model other than the one it names for the type, and a handler annotated for another payload.

The ``EventConsumer`` decodes each message into an ``Envelope`` and then, once, its ``data`` into the
route's payload model, and hands both to the handler inside one database transaction that first claims
the event id in the inbox. A message that cannot be parsed, whose payload does not validate, or whose
handler keeps failing, is copied to ``<topic>.dlq`` with the error and then acknowledged, so the
partition moves on. While the database itself is unreachable the message is retried, not dead-lettered:
that is not the message's fault. An event no handler wants is counted (``fmf_events_ignored_total``);
one of a type this code does not know is also logged.

The offset is committed only once the message is applied, ignored or safely copied to its dead-letter
topic: while that copy fails, the partition waits and the copy is retried (``fmf_dlq_publish_failures_total``),
and after ``dlq_patience_s`` the message is handed back to Kafka (the partition rewinds to it) instead of
being acknowledged. ``AckPolicy.ACK`` alone would not do: FastStream acks under it after the handler even
when the handler raised.

A dead letter the operator replays (``fmf dlq replay``, ``shared/dlq.py``) comes back on its original
topic with ``x-replay-for: <group>``: every other group acknowledges it unread
(``fmf_dlq_replays_skipped_total``); the group it names applies it as any message (its inbox drops a
repeat), and dead-letters it again, once, if it still fails.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import ConsumerRebalanceListener
from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage
from pydantic import ValidationError

from shared import db, inbox, logs, metrics
from shared.db import Conn
from shared.dlq import REPLAY_FOR_HEADER
from shared.events import EVENT_TYPES, Envelope, Payload
from shared.topics import dlq

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Payload)
Handler = Callable[[Conn, Envelope, P], Awaitable[None]]
"""A handler of one payload type: ``(conn, event, payload) -> None``, run in the inbox transaction."""

# The label of every type not in EVENT_TYPES: types come off the wire, and labels must stay bounded.
UNKNOWN_TYPE = "unknown"


class Row:
    """What a ``Handlers`` table is built from: a ``Route`` of any payload type. A base without a type
    parameter, so that the table's parameter type does not make mypy take each route's payload as Any
    (which would let a handler of another payload pass unnoticed)."""


@dataclass(frozen=True)
class Route(Row, Generic[P]):
    """Some event types, all carrying payload ``model``, and the handler that receives them.

    Build it with ``route``; it checks itself when built (see there)."""

    event_types: tuple[str, ...]
    model: type[P]
    handler: Handler[P]

    def __post_init__(self) -> None:
        if not self.event_types:
            raise ValueError(f"a route to {_name(self.handler)} names no event type")
        for event_type in self.event_types:
            known = EVENT_TYPES.get(event_type)
            if known is None:
                raise ValueError(f"{event_type!r} is not an event type of shared.events.EVENT_TYPES")
            if known[1] is not self.model:
                raise TypeError(
                    f"{event_type} carries {known[1].__name__}, not {self.model.__name__} ({_name(self.handler)})"
                )
        expected = _payload_annotation(self.handler)
        if isinstance(expected, type) and not issubclass(self.model, expected):
            raise TypeError(
                f"{_name(self.handler)} takes {expected.__name__}, but {self.event_types[0]} carries"
                f" {self.model.__name__}"
            )

    def decode(self, event: Envelope) -> P:
        """``event.data`` as this route's payload model; raises ``pydantic.ValidationError`` if it is not one."""
        return self.model.model_validate(event.data)


def route(event_types: str | tuple[str, ...], model: type[P], handler: Handler[P]) -> Route[P]:
    """A row of a ``Handlers`` table: ``handler`` receives events of ``event_types`` (one type or a tuple),
    their payload decoded into ``model``.

    Raises ``ValueError`` for an empty tuple or a type not in ``shared.events.EVENT_TYPES``, and
    ``TypeError`` when EVENT_TYPES names another model for a type, or when the handler's annotated
    payload parameter (its third) is a class that ``model`` is not a subclass of. (mypy checks the
    handler against ``model`` as well.)"""
    types = (event_types,) if isinstance(event_types, str) else tuple(event_types)
    return Route(types, model, handler)


class Handlers(Mapping[str, Route[Any]]):
    """One service's handler table: event type -> ``Route``, built from routes and other tables.

    ``Handlers(tenancy.HANDLERS, route(...), ...)``. Raises ``ValueError`` when two rows claim one type."""

    def __init__(self, *parts: Row | Handlers) -> None:
        routes: dict[str, Route[Any]] = {}
        for part in parts:
            if isinstance(part, Handlers):
                rows = list(part.items())
            elif isinstance(part, Route):
                rows = [(t, part) for t in part.event_types]
            else:
                raise TypeError(f"a handler table is built from routes and tables, not {part!r}")
            for event_type, row in rows:
                if event_type in routes:
                    raise ValueError(
                        f"{event_type} has two handlers: {_name(routes[event_type].handler)} and {_name(row.handler)}"
                    )
                routes[event_type] = row
        self._routes = routes

    def __getitem__(self, event_type: str) -> Route[Any]:
        return self._routes[event_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def topics(self) -> set[str]:
        """The topics the handled event types travel on (the service must subscribe to each)."""
        return {EVENT_TYPES[t][0] for t in self._routes}

    def register(self, consumer: EventConsumer) -> None:
        """Give ``consumer`` these handlers (what ``ServiceSpec.register_handlers`` expects)."""
        consumer.use(self)


def _name(handler: object) -> str:
    return getattr(handler, "__qualname__", repr(handler))


def _payload_annotation(handler: object) -> object:
    """The annotation of the handler's third parameter, or None when it cannot be read cheaply."""
    try:
        params = list(inspect.signature(handler).parameters.values())  # type: ignore[arg-type]
        hints = typing.get_type_hints(handler)
    except (TypeError, ValueError, NameError, AttributeError):
        return None
    return hints.get(params[2].name) if len(params) >= 3 else None


async def _raw_body(msg: StreamMessage[object]) -> bytes:
    return msg.body


class EventConsumer:
    """One consumer group's subscriber: decodes, claims in the inbox, dispatches to ``handlers`` (event type
    -> ``Route``), dead-letters. ``pool`` is set when the service starts; ``max_attempts`` counts a
    handler's tries before its message is dead-lettered."""

    def __init__(
        self,
        group: str,
        pool: asyncpg.Pool | None,
        broker: KafkaBroker,
        *,
        max_attempts: int = 3,
        dlq_patience_s: float = 60.0,
    ) -> None:
        self.group = group
        self.pool = pool
        self.broker = broker
        self.max_attempts = max_attempts
        # How long a failing dead-letter copy is retried before the message is handed back to Kafka.
        self.dlq_patience_s = dlq_patience_s
        self.handlers: dict[str, Route[Any]] = {}

    def use(self, handlers: Mapping[str, Route[Any]]) -> None:
        """Add a handler table. Raises ``ValueError`` if it names a type that has another handler here."""
        for event_type, row in handlers.items():
            if self.handlers.get(event_type, row) is not row:
                raise ValueError(f"{event_type} has a handler already")
            self.handlers[event_type] = row

    def subscribe(
        self,
        *topic_names: str,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        listener: ConsumerRebalanceListener | None = None,
    ) -> None:
        """Subscribe the group to ``topic_names`` (committing each offset only after the message is done);
        ``listener`` hears of each rebalance (``shared.broker_loss.ConsumerRewinder``)."""
        subscriber = self.broker.subscriber(
            *topic_names,
            group_id=self.group,
            ack_policy=AckPolicy.ACK,  # commit only after the handler (and any DLQ copy) is done
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            decoder=_raw_body,
            title=f"{self.group}:{','.join(topic_names)}",
            listener=listener,
        )
        subscriber(self.process)

    # Applies one Kafka message. No docstring: FastStream would put it into every AsyncAPI document.
    async def process(self, body: bytes, msg: KafkaMessage) -> None:
        logs.clear()
        if not body:
            return  # a tombstone on a compacted topic: its meaning arrives as an event of its own
        replay_for = _header(msg, REPLAY_FOR_HEADER)
        if replay_for is not None and replay_for != self.group:
            metrics.DLQ_REPLAYS_SKIPPED.labels(group=self.group).inc()
            return  # a dead letter of another group, replayed for that group alone
        try:
            event = Envelope.model_validate_json(body)
        except ValidationError as exc:
            await self.dead_letter(body, msg, f"unparseable envelope: {exc}")
            return
        logs.bind(tenant_id=str(event.tenant_id), correlation_id=str(event.correlation_id))
        meeting_id = event.data.get("meeting_id")
        if meeting_id:
            logs.bind(meeting_id=str(meeting_id))
        row = self.handlers.get(event.type)
        if row is None:
            self.ignored(event.type)  # unknown or uninteresting event types are skipped by design
            return
        try:
            payload = row.decode(event)
        except ValidationError as exc:
            await self.dead_letter(body, msg, f"invalid {event.type} payload: {exc}")
            return
        await self._apply(row, event, payload, body, msg)

    def ignored(self, event_type: str) -> None:
        """Count an event no handler of this consumer wants; log it as well when its type is unknown."""
        if event_type in EVENT_TYPES:
            metrics.EVENTS_IGNORED.labels(group=self.group, type=event_type).inc()
            return
        metrics.EVENTS_IGNORED.labels(group=self.group, type=UNKNOWN_TYPE).inc()
        log.warning("event of an unknown type ignored", extra={"event_type": event_type[:200]})

    async def _apply(self, row: Route[Any], event: Envelope, payload: Payload, body: bytes, msg: KafkaMessage) -> None:
        failures = 0
        outage_wait = 0.2
        assert self.pool is not None, "the consumer's pool is set when the service starts"
        while True:
            try:
                async with db.transaction(self.pool, db.tenant_scope(event.tenant_id)) as conn:
                    if await inbox.claim(conn, self.group, event):
                        await row.handler(conn, event, payload)
                return
            except Exception as exc:
                if db.is_connection_error(exc):  # the database's fault, not the message's: retry
                    metrics.CONSUMER_DB_RETRIES.labels(group=self.group).inc()
                    log.warning("database unreachable; retrying event", extra={"error": repr(exc)})
                    await asyncio.sleep(outage_wait)
                    outage_wait = min(outage_wait * 2, 5.0)
                    continue
                failures += 1
                log.exception("event handler failed", extra={"event_type": event.type, "attempt": failures})
                if failures >= self.max_attempts:
                    await self.dead_letter(body, msg, f"{type(exc).__name__}: {exc}")
                    return
                await asyncio.sleep(0.1 * 2**failures)

    async def dead_letter(self, body: bytes, msg: KafkaMessage, error: str) -> None:
        """Copy the message to ``<topic>.dlq`` with its headers and ``x-error`` (cut to 2000 characters),
        ``x-original-topic``/``-partition``/``-offset`` and ``x-consumer-group``; the caller then acks it.

        A failed copy is retried with doubling pauses (0.2 s up to 5 s; each failure logged at error level
        and counted in ``fmf_dlq_publish_failures_total``) for ``dlq_patience_s`` seconds; then it raises
        ``faststream.exceptions.NackMessage``, which makes FastStream rewind the partition to this message
        instead of committing it, so it is delivered again."""
        record = msg.raw_message
        topic = record.topic  # type: ignore[union-attr]
        headers = {k: _text(v) for k, v in msg.headers.items()}
        headers.update(
            {
                "x-error": error[:2000],
                "x-original-topic": topic,
                "x-original-partition": str(record.partition),  # type: ignore[union-attr]
                "x-original-offset": str(record.offset),  # type: ignore[union-attr]
                "x-consumer-group": self.group,
            }
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.dlq_patience_s
        pause = 0.2
        while True:
            try:
                await self.broker.publish(body, dlq(topic), key=record.key, headers=headers)  # type: ignore[union-attr]
                break
            except Exception as exc:
                metrics.DLQ_PUBLISH_FAILURES.labels(topic=topic).inc()
                log.error(
                    "could not copy the message to its dead-letter topic; the partition waits",
                    extra={"topic": dlq(topic), "error": repr(exc)[:500]},
                )
                if loop.time() + pause > deadline:
                    # Never ack a message whose copy is not written: Kafka delivers it again.
                    raise NackMessage() from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        metrics.DLQ_MESSAGES.labels(topic=topic).inc()
        log.error("message dead-lettered", extra={"topic": topic, "error": error[:500]})


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _header(msg: KafkaMessage, name: str) -> str | None:
    """The message's header ``name`` as text, or None when it has none."""
    value = msg.headers.get(name)
    return None if value is None else _text(value)
