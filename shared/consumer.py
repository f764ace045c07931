"""Kafka consumption with exactly-once effects and a dead-letter path.

Each service declares its event handlers once, at module level, as a ``Handlers`` table::

    HANDLERS = Handlers(
        tenancy.HANDLERS,
        route(MEETING_EVENTS, MeetingSnapshot, meeting_changed),
        route("matching.swap_requested", SwapRequested, swap_requested),
    )

A handler is a plain ``async def handler(conn: Conn, event: Envelope, payload: SomePayload) -> None``. A
row built with ``route_batch`` takes a run of records instead,
``async def handler(conn: Conn, events: list[tuple[Envelope, SomePayload]]) -> None``, for handlers that
act set-wise (reporting's writers, matching's roster). The table refuses, when it is built (so at
import), an event type ``shared.events.EVENT_TYPES`` does not know, a model other than the one it names
for the type, and a handler annotated for another payload.

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

Records are applied in batches (``batch=True``, the services' default, ``FMF_CONSUMER_BATCH``): the subscriber
takes up to ``batch_max_records`` records, waiting at most ``batch_max_wait_ms`` for them, and applies them in
ONE transaction: the event ids are claimed in the inbox with one statement (``inbox.claim_many``); the
handlers run in the records' order (each partition's records in offset order, so order per key is kept), a row
of the table with a batch form (``route_batch``) taking each run of consecutive records of its types (and of
the other rows that share its batch form) at once; the outbox rows the handlers enqueue are written with one
statement (``outbox.collecting``); then the transaction commits, and then the offsets. A record the inbox has
seen (an earlier batch, or earlier in this one) is skipped. When the batch fails for a reason other than the
database being unreachable, it is rolled back and applied again record by record, each under a savepoint: a
record that fails ``max_attempts`` times there is rolled back to its savepoint and dead-lettered after the
commit, and the others are applied. A crash anywhere before the offsets are committed redelivers the batch,
and the inbox makes what was applied a no-op. A record that cannot be parsed or whose payload does not
validate is dead-lettered before the transaction; while such a copy fails, nothing of the batch is applied
and, after ``dlq_patience_s``, the batch is handed back (each of its partitions rewinds to its first record of
the batch). A record's handler runs with the transaction scoped to its tenant; a batch-form run of records of
several tenants runs scoped to none (so it sees no row under row-level security: only services without it use
batch forms). With ``batch=False`` each record is one transaction of its own, as described above.

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

from shared import db, inbox, logs, metrics, outbox
from shared.db import Conn
from shared.dlq import REPLAY_FOR_HEADER
from shared.events import EVENT_TYPES, Envelope, Payload
from shared.settings import get_settings
from shared.topics import dlq

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Payload)
Handler = Callable[[Conn, Envelope, P], Awaitable[None]]
"""A handler of one payload type: ``(conn, event, payload) -> None``, run in the inbox transaction."""
BatchHandler = Callable[[Conn, list[tuple[Envelope, P]]], Awaitable[None]]
"""A handler of a run of records of one payload type, in order: ``(conn, [(event, payload), ...]) -> None``.
It may act set-wise, but its effect must be that of the records applied one after the other."""

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
    batch: BatchHandler[P] | None = None  # the set-wise form, when the row has one (``route_batch``)

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
        if self.batch is not None:
            expected = _batch_payload_annotation(self.batch)
        if isinstance(expected, type) and not issubclass(self.model, expected):
            name = _name(self.batch if self.batch is not None else self.handler)
            raise TypeError(
                f"{name} takes {expected.__name__}, but {self.event_types[0]} carries {self.model.__name__}"
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


def route_batch(event_types: str | tuple[str, ...], model: type[P], handler: BatchHandler[P]) -> Route[P]:
    """A row of a ``Handlers`` table whose handler takes a run of records at once: a batch consumer hands it
    each run of consecutive records of ``event_types`` as ``[(event, payload), ...]``, in order; the
    one-record-per-transaction path (and a batch applied record by record) hands it lists of one. Rows of
    several payload types may share one batch handler (the same object, annotated for a common base such as
    ``Payload``): a run is then the consecutive records of all of them, of mixed types.

    Checked as ``route`` is, against the payload in the handler's annotated second parameter
    (``list[tuple[Envelope, Model]]``)."""
    types = (event_types,) if isinstance(event_types, str) else tuple(event_types)
    return Route(types, model, _OneByOne(handler), handler)


@dataclass(frozen=True)
class _OneByOne(Generic[P]):
    """A batch handler applied to one record."""

    many: BatchHandler[P]

    async def __call__(self, conn: Conn, event: Envelope, payload: P) -> None:
        await self.many(conn, [(event, payload)])


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
    if isinstance(handler, _OneByOne):
        return _name(handler.many)
    return getattr(handler, "__qualname__", repr(handler))


def _payload_annotation(handler: object) -> object:
    """The annotation of the handler's third parameter, or None when it cannot be read cheaply."""
    try:
        params = list(inspect.signature(handler).parameters.values())  # type: ignore[arg-type]
        hints = typing.get_type_hints(handler)
    except (TypeError, ValueError, NameError, AttributeError):
        return None
    return hints.get(params[2].name) if len(params) >= 3 else None


def _batch_payload_annotation(handler: object) -> object:
    """The ``Model`` of a batch handler's second parameter annotated ``list[tuple[Envelope, Model]]``, or
    None when it cannot be read cheaply."""
    try:
        params = list(inspect.signature(handler).parameters.values())  # type: ignore[arg-type]
        hints = typing.get_type_hints(handler)
    except (TypeError, ValueError, NameError, AttributeError):
        return None
    annotation = hints.get(params[1].name) if len(params) >= 2 else None
    for _ in range(2):  # list[...] -> tuple[...]
        args = typing.get_args(annotation)
        annotation = args[-1] if args else None
    return annotation


async def _raw_body(msg: StreamMessage[object]) -> bytes:
    return msg.body


async def _raw_bodies(msg: StreamMessage[object]) -> list[bytes]:
    return msg.body  # type: ignore[return-value]  # a batch: one body per record


@dataclass
class _Item:
    """A record ready to apply: its body, record and headers, and its envelope, route and payload."""

    body: bytes
    record: Any  # aiokafka's ConsumerRecord
    headers: dict[str, str]
    event: Envelope
    row: Route[Any]
    payload: Payload

    def bind_logs(self) -> None:
        logs.bind(tenant_id=str(self.event.tenant_id), correlation_id=str(self.event.correlation_id))
        meeting_id = self.event.data.get("meeting_id")
        if meeting_id:
            logs.bind(meeting_id=str(meeting_id))


class _TenantScope:
    """The transaction's ``app.tenant_id``, set again only when it changes: a record's own tenant, or none
    ("") for a run of records of several tenants (which then sees no row under row-level security).
    Not ``enabled``: never set (a database without row-level security saves the round trips)."""

    def __init__(self, conn: Conn, enabled: bool) -> None:
        self.conn = conn
        self.enabled = enabled
        self.tenant = ""

    async def set(self, tenant: str) -> None:
        if self.enabled and tenant != self.tenant:
            await db.set_tenant(self.conn, tenant)
            self.tenant = tenant


def _runs(items: list[_Item]) -> Iterator[list[_Item]]:
    """The items in order, cut into runs: consecutive items of rows with one batch form (the same object)
    together, others alone."""
    run: list[_Item] = []
    for item in items:
        if run and not (item.row.batch is not None and item.row.batch is run[0].row.batch):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


class EventConsumer:
    """One consumer group's subscriber: decodes, claims in the inbox, dispatches to ``handlers`` (event type
    -> ``Route``), dead-letters. ``pool`` is set when the service starts; ``max_attempts`` counts a
    handler's tries before its message is dead-lettered. With ``batch`` it applies up to
    ``batch_max_records`` records per transaction, waiting at most ``batch_max_wait_ms`` for them; each of
    the three defaults to its setting (``FMF_CONSUMER_BATCH``, ...). ``tenant_scoped``: a batch sets
    ``app.tenant_id`` for each record's handler (the one-record path always does, at no cost); a service
    whose database has no row-level security turns it off."""

    def __init__(
        self,
        group: str,
        pool: asyncpg.Pool | None,
        broker: KafkaBroker,
        *,
        max_attempts: int = 3,
        dlq_patience_s: float = 60.0,
        batch: bool | None = None,
        batch_max_records: int | None = None,
        batch_max_wait_ms: int | None = None,
        tenant_scoped: bool = True,
    ) -> None:
        settings = get_settings()  # what is not given: FMF_CONSUMER_BATCH, _MAX_RECORDS, _MAX_WAIT_MS
        self.group = group
        self.pool = pool
        self.broker = broker
        self.max_attempts = max_attempts
        # How long a failing dead-letter copy is retried before the message is handed back to Kafka.
        self.dlq_patience_s = dlq_patience_s
        self.batch = settings.consumer_batch if batch is None else batch
        self.batch_max_records = batch_max_records or settings.consumer_batch_max_records
        self.batch_max_wait_ms = batch_max_wait_ms or settings.consumer_batch_max_wait_ms
        # Whether a batch scopes its transaction to each record's tenant (row-level security needs it).
        self.tenant_scoped = tenant_scoped
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
        """Subscribe the group to ``topic_names`` (committing each offset only after the message, or the
        batch, is done); ``listener`` hears of each rebalance (``shared.broker_loss.ConsumerRewinder``)."""
        common: dict[str, Any] = {
            "group_id": self.group,
            "ack_policy": AckPolicy.ACK,  # commit only after the handler (and any DLQ copy) is done
            "auto_offset_reset": "earliest",
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "title": f"{self.group}:{','.join(topic_names)}",
            "listener": listener,
        }
        if self.batch:
            batches = self.broker.subscriber(
                *topic_names,
                batch=True,
                max_records=self.batch_max_records,
                batch_timeout_ms=self.batch_max_wait_ms,
                decoder=_raw_bodies,
                **common,
            )
            batches(self.process_batch)
        else:
            subscriber = self.broker.subscriber(*topic_names, decoder=_raw_body, **common)
            subscriber(self.process)

    # Applies one Kafka message. No docstring: FastStream would put it into every AsyncAPI document.
    async def process(self, body: bytes, msg: KafkaMessage) -> None:
        logs.clear()
        headers = {k: _text(v) for k, v in msg.headers.items()}
        item = await self._prepare(body, msg.raw_message, headers)
        if item is not None:
            item.bind_logs()
            await self._apply(item)

    # Applies a batch of Kafka records (``msg.raw_message``, in order), in one transaction. No docstring (as above).
    async def process_batch(self, bodies: list[bytes], msg: KafkaMessage) -> None:
        logs.clear()
        records: tuple[Any, ...] = msg.raw_message
        metrics.CONSUMER_BATCH_SIZE.labels(group=self.group).observe(len(records))
        items: list[_Item] = []
        for record in records:
            headers = {k: _text(v) for k, v in record.headers}
            item = await self._prepare(record.value or b"", record, headers)
            if item is not None:
                items.append(item)
        if items:
            await self._apply_batch(items)
        logs.clear()

    async def _prepare(self, body: bytes, record: Any, headers: dict[str, str]) -> _Item | None:
        """The record decoded and routed, or None when there is nothing to apply: a tombstone, another
        group's replayed dead letter, an event no handler wants (counted), or poison (dead-lettered here,
        before anything is applied; raises ``NackMessage`` when that copy cannot be written)."""
        if not body:
            return None  # a tombstone on a compacted topic: its meaning arrives as an event of its own
        replay_for = headers.get(REPLAY_FOR_HEADER)
        if replay_for is not None and replay_for != self.group:
            metrics.DLQ_REPLAYS_SKIPPED.labels(group=self.group).inc()
            return None  # a dead letter of another group, replayed for that group alone
        try:
            event = Envelope.model_validate_json(body)
        except ValidationError as exc:
            await self.dead_letter(body, record, headers, f"unparseable envelope: {exc}")
            return None
        row = self.handlers.get(event.type)
        if row is None:
            self.ignored(event.type)  # unknown or uninteresting event types are skipped by design
            return None
        try:
            payload = row.decode(event)
        except ValidationError as exc:
            await self.dead_letter(body, record, headers, f"invalid {event.type} payload: {exc}")
            return None
        return _Item(body, record, headers, event, row, payload)

    def ignored(self, event_type: str) -> None:
        """Count an event no handler of this consumer wants; log it as well when its type is unknown."""
        if event_type in EVENT_TYPES:
            metrics.EVENTS_IGNORED.labels(group=self.group, type=event_type).inc()
            return
        metrics.EVENTS_IGNORED.labels(group=self.group, type=UNKNOWN_TYPE).inc()
        log.warning("event of an unknown type ignored", extra={"event_type": event_type[:200]})

    async def _apply(self, item: _Item) -> None:
        failures = 0
        outage_wait = 0.2
        assert self.pool is not None, "the consumer's pool is set when the service starts"
        event = item.event
        while True:
            try:
                async with db.transaction(self.pool, db.tenant_scope(event.tenant_id)) as conn:
                    if await inbox.claim(conn, self.group, event):
                        await item.row.handler(conn, event, item.payload)
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
                    await self.dead_letter(item.body, item.record, item.headers, f"{type(exc).__name__}: {exc}")
                    return
                await asyncio.sleep(0.1 * 2**failures)

    async def _apply_batch(self, items: list[_Item]) -> None:
        """Apply ``items`` in one transaction; while the database is unreachable, try again (counting each
        record in ``fmf_consumer_db_retries_total``); when it fails otherwise, apply them record by record
        and dead-letter those that keep failing."""
        outage_wait = 0.2
        while True:
            try:
                await self._apply_together(items)
                return
            except Exception as exc:
                if not db.is_connection_error(exc):
                    log.warning(
                        "batch failed; applying its records one by one",
                        extra={"error": repr(exc)[:500], "records": len(items)},
                    )
                    break
                metrics.CONSUMER_DB_RETRIES.labels(group=self.group).inc(len(items))
                log.warning("database unreachable; retrying batch", extra={"error": repr(exc), "records": len(items)})
                await asyncio.sleep(outage_wait)
                outage_wait = min(outage_wait * 2, 5.0)
        for item, error in await self._apply_isolated(items):
            await self.dead_letter(item.body, item.record, item.headers, error)

    async def _apply_together(self, items: list[_Item]) -> None:
        """One transaction: claim every event id, run the handlers in order on the new ones, write the
        outbox rows they enqueued with one statement, commit."""
        assert self.pool is not None, "the consumer's pool is set when the service starts"
        async with db.transaction(self.pool) as conn:
            with outbox.collecting() as rows:
                fresh = await inbox.claim_many(conn, self.group, [item.event for item in items])
                todo = []
                for item in items:
                    if item.event.id in fresh:
                        fresh.discard(item.event.id)  # a second copy in this batch is a repeat
                        todo.append(item)
                scope = _TenantScope(conn, self.tenant_scoped)
                for run in _runs(todo):
                    first = run[0]
                    if first.row.batch is not None:
                        if self.tenant_scoped:  # else the scope is never set: spare a long run's ids
                            tenants = {item.event.tenant_id for item in run}
                            await scope.set(str(tenants.pop()) if len(tenants) == 1 else "")
                        first.bind_logs()
                        await first.row.batch(conn, [(item.event, item.payload) for item in run])
                    else:
                        first.bind_logs()
                        await scope.set(str(first.event.tenant_id))
                        await first.row.handler(conn, first.event, first.payload)
                await outbox.write_collected(conn, rows)

    async def _apply_isolated(self, items: list[_Item]) -> list[tuple[_Item, str]]:
        """Apply ``items`` record by record in one transaction, each under a savepoint (claim, handler, outbox
        rows); a record that fails ``max_attempts`` times is rolled back to its savepoint and left out.
        Returns those records with their errors, to dead-letter once the others are committed. While the
        database is unreachable, starts again; an error outside the handlers hands the batch back to Kafka."""
        outage_wait = 0.2
        while True:
            try:
                return await self._isolate(items)
            except Exception as exc:
                if not db.is_connection_error(exc):
                    log.exception("batch could not be applied record by record; it is delivered again")
                    await asyncio.sleep(1.0)
                    raise NackMessage() from exc
                metrics.CONSUMER_DB_RETRIES.labels(group=self.group).inc(len(items))
                log.warning("database unreachable; retrying batch", extra={"error": repr(exc), "records": len(items)})
                await asyncio.sleep(outage_wait)
                outage_wait = min(outage_wait * 2, 5.0)

    async def _isolate(self, items: list[_Item]) -> list[tuple[_Item, str]]:
        assert self.pool is not None, "the consumer's pool is set when the service starts"
        failed: list[tuple[_Item, str]] = []
        async with db.transaction(self.pool) as conn:
            scope = _TenantScope(conn, self.tenant_scoped)
            for item in items:
                item.bind_logs()
                await scope.set(str(item.event.tenant_id))  # outside the savepoint: a rollback keeps it
                attempts = 0
                while True:
                    await conn.execute("SAVEPOINT fmf_record")
                    try:
                        if await inbox.claim(conn, self.group, item.event):
                            await item.row.handler(conn, item.event, item.payload)
                        await conn.execute("RELEASE SAVEPOINT fmf_record")
                        break
                    except Exception as exc:
                        if db.is_connection_error(exc):
                            raise
                        await conn.execute("ROLLBACK TO SAVEPOINT fmf_record; RELEASE SAVEPOINT fmf_record")
                        attempts += 1
                        log.exception(
                            "event handler failed", extra={"event_type": item.event.type, "attempt": attempts}
                        )
                        if attempts >= self.max_attempts:
                            failed.append((item, f"{type(exc).__name__}: {exc}"))
                            break
                        await asyncio.sleep(0.1 * 2**attempts)
        return failed

    async def dead_letter(self, body: bytes, record: Any, headers: Mapping[str, str], error: str) -> None:
        """Copy the message (``record``, aiokafka's ``ConsumerRecord``; ``headers`` as text) to ``<topic>.dlq``
        with its headers and ``x-error`` (cut to 2000 characters), ``x-original-topic``/``-partition``/``-offset``
        and ``x-consumer-group``; the caller then acks it.

        A failed copy is retried with doubling pauses (0.2 s up to 5 s; each failure logged at error level
        and counted in ``fmf_dlq_publish_failures_total``) for ``dlq_patience_s`` seconds; then it raises
        ``faststream.exceptions.NackMessage``, which makes FastStream rewind the partition to this message
        instead of committing it, so it is delivered again (a batch: each of its partitions rewinds to its first
        record of the batch; the inbox makes what was applied of it a no-op)."""
        topic = record.topic
        headers = dict(headers)
        headers.update(
            {
                "x-error": error[:2000],
                "x-original-topic": topic,
                "x-original-partition": str(record.partition),
                "x-original-offset": str(record.offset),
                "x-consumer-group": self.group,
            }
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.dlq_patience_s
        pause = 0.2
        while True:
            try:
                await self.broker.publish(body, dlq(topic), key=record.key, headers=headers)
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
