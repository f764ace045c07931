"""The batch consumer's logic, with a fake database that keeps transactions and savepoints, a fake broker
and fake Kafka records: nothing runs but the code.

A batch is one transaction: its event ids claimed with one statement, the handlers run in the records'
order on the records not seen before (in an earlier batch or earlier in this one), the outbox rows written
with one statement; a record that keeps failing is isolated under savepoints and dead-lettered while the
others are applied.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.matching import handlers as matching
from services.reporting import handlers as reporting
from services.reporting import store
from shared import outbox, topics
from shared.consumer import EventConsumer, Handlers, route, route_batch
from shared.db import Conn
from shared.events import Envelope, TenantCreated, TokenIssued, make_event

TENANT = uuid.uuid4()


class FakeConn:
    """Keeps inbox claims and outbox rows as PostgreSQL would: visible after COMMIT, undone by ROLLBACK and
    by ROLLBACK TO SAVEPOINT. Records every statement."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.inbox: set[uuid.UUID] = set()  # committed
        self.outbox: list[str] = []  # committed event types, in seq order
        self.applied: list[str] = []  # committed effects of the handlers, in order
        self._pending: tuple[set[uuid.UUID], list[str], list[str]] = (set(), [], [])
        self._savepoints: list[tuple[set[uuid.UUID], list[str], list[str]]] = []

    def _copy(self) -> tuple[set[uuid.UUID], list[str], list[str]]:
        claimed, rows, effects = self._pending
        return set(claimed), list(rows), list(effects)

    def effect(self, what: str) -> None:
        self._pending[2].append(what)

    async def execute(self, sql: str, *args: Any) -> str:
        self.statements.append(sql)
        if sql == "BEGIN":
            self._pending, self._savepoints = (set(), [], []), []
        elif sql == "COMMIT":
            claimed, rows, effects = self._pending
            self.inbox |= claimed
            self.outbox += rows
            self.applied += effects
        elif sql == "SAVEPOINT fmf_record":
            self._savepoints.append(self._copy())
        elif sql.startswith("RELEASE SAVEPOINT"):
            self._savepoints.pop()
        elif sql.startswith("ROLLBACK TO SAVEPOINT"):
            self._pending = self._savepoints.pop()
        elif sql.startswith("INSERT INTO outbox"):
            self._pending[1].extend(args[4])  # the event types column
        return "OK"

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self.statements.append(sql)
        assert sql.startswith("INSERT INTO inbox")
        fresh = [i for i in dict.fromkeys(args[1]) if i not in self.inbox and i not in self._pending[0]]
        self._pending[0].update(fresh)
        return [{"event_id": i} for i in fresh]

    async def fetchval(self, sql: str, *args: Any) -> object:
        self.statements.append(sql)
        assert sql.startswith("INSERT INTO inbox")
        event_id = args[1]
        if event_id in self.inbox or event_id in self._pending[0]:
            return None
        self._pending[0].add(event_id)
        return True

    def is_closed(self) -> bool:
        return False


class FakePool:
    def __init__(self) -> None:
        self.conn = FakeConn()

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConn]:
        yield self.conn


@dataclass
class FakeBroker:
    published: list[tuple[bytes, str, dict[str, str]]] = field(default_factory=list)

    async def publish(self, body: bytes, topic: str, *, key: object = None, headers: dict[str, str]) -> None:
        self.published.append((body, topic, headers))


@dataclass
class FakeRecord:
    value: bytes
    topic: str = topics.TENANTS
    partition: int = 0
    offset: int = 0
    key: bytes = b"k"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class FakeBatch:
    raw_message: tuple[FakeRecord, ...]


def tenant_created(slug: str) -> Envelope:
    return make_event(
        "tenant.created", TENANT, TenantCreated(tenant_id=TENANT, slug=slug, name=slug, municipality_number="4203")
    )


def token_issued() -> Envelope:
    token = TokenIssued(token_id=uuid.uuid4(), tenant_id=TENANT, token_hash="ab" * 32)
    return make_event("tenant.token_issued", TENANT, token)


def records(*events: Envelope | bytes) -> list[FakeRecord]:
    bodies = [e if isinstance(e, bytes) else e.model_dump_json().encode() for e in events]
    return [FakeRecord(body, offset=i) for i, body in enumerate(bodies)]


@dataclass
class Service:
    """A consumer whose tenant handler records the slug (and enqueues an event); ``failing`` slugs raise."""

    consumer: EventConsumer
    pool: FakePool
    broker: FakeBroker
    failing: set[str] = field(default_factory=set)
    runs: list[list[str]] = field(default_factory=list)  # the slugs each call of the batch handler got

    async def deliver(self, *batch: FakeRecord) -> None:
        await self.consumer.process_batch([r.value for r in batch], FakeBatch(tuple(batch)))  # type: ignore[arg-type]


def service(*, set_wise: bool = False, max_attempts: int = 2) -> Service:
    pool, broker = FakePool(), FakeBroker()
    consumer = EventConsumer(f"test-{uuid.uuid4().hex[:8]}", pool, broker, max_attempts=max_attempts, batch=True)  # type: ignore[arg-type]
    svc = Service(consumer, pool, broker)

    async def one(conn: Conn, event: Envelope, tenant: TenantCreated) -> None:
        await many(conn, [(event, tenant)])

    async def many(conn: Conn, events: list[tuple[Envelope, TenantCreated]]) -> None:
        svc.runs.append([t.slug for _, t in events])
        for event, tenant in events:
            if tenant.slug in svc.failing:
                raise RuntimeError(f"cannot apply {tenant.slug}")
            pool.conn.effect(tenant.slug)
            await outbox.enqueue(conn, "test", [(event.caused("tenant.updated", tenant), tenant.slug)])

    async def token(conn: Conn, event: Envelope, t: TokenIssued) -> None:
        pool.conn.effect("token")

    tenants = (
        route_batch("tenant.created", TenantCreated, many) if set_wise else route("tenant.created", TenantCreated, one)
    )
    consumer.use(Handlers(tenants, route("tenant.token_issued", TokenIssued, token)))
    return svc


def duplicates() -> float:
    return REGISTRY.get_sample_value("fmf_inbox_duplicates_total") or 0.0


def batch_sizes(group: str) -> float:
    return REGISTRY.get_sample_value("fmf_consumer_batch_size_count", {"group": group}) or 0.0


@pytest.mark.parametrize("set_wise", [False, True], ids=["one-by-one", "set-wise"])
async def test_a_batch_is_one_transaction_applied_in_order_with_one_claim_and_one_outbox_write(set_wise: bool) -> None:
    svc = service(set_wise=set_wise)
    slugs = [f"t{i}" for i in range(5)]
    events: list[Envelope] = [tenant_created(s) for s in slugs]
    events.insert(2, token_issued())

    await svc.deliver(*records(*events))

    conn = svc.pool.conn
    assert conn.applied == [*slugs[:2], "token", *slugs[2:]]  # in the records' order
    assert conn.statements.count("BEGIN") == 1 and conn.statements.count("COMMIT") == 1
    assert sum(s.startswith("INSERT INTO inbox") for s in conn.statements) == 1
    assert sum(s.startswith("INSERT INTO outbox") for s in conn.statements) == 1
    assert conn.outbox == ["tenant.updated"] * 5
    assert conn.inbox == {e.id for e in events}
    # set-wise: the records of one route on either side of the token are two runs, each one call
    assert svc.runs == ([slugs[:2], slugs[2:]] if set_wise else [[s] for s in slugs])
    assert batch_sizes(svc.consumer.group) == 1


async def test_repeats_within_a_batch_and_across_batches_are_applied_once() -> None:
    svc = service(set_wise=True)
    a, b, c = tenant_created("a"), tenant_created("b"), tenant_created("c")
    before = duplicates()

    await svc.deliver(*records(a, b, a))
    await svc.deliver(*records(b, c, a))

    assert svc.pool.conn.applied == ["a", "b", "c"]
    assert svc.pool.conn.outbox == ["tenant.updated"] * 3
    assert duplicates() == before + 3


async def test_a_poison_record_is_isolated_and_dead_lettered_and_the_rest_of_its_batch_applied() -> None:
    svc = service(set_wise=True, max_attempts=2)
    svc.failing.add("bad")
    events = [tenant_created("a"), tenant_created("bad"), tenant_created("b")]
    unparseable = b"{not json"
    invalid = Envelope(type="tenant.created", tenant_id=TENANT, data={"slug": 1}).model_dump_json().encode()

    await svc.deliver(*records(events[0], unparseable, events[1], invalid, events[2]))

    conn = svc.pool.conn
    assert conn.applied == ["a", "b"]  # the others, in order
    assert conn.outbox == ["tenant.updated"] * 2  # nothing of the poison's effects
    assert conn.inbox == {events[0].id, events[2].id}  # not claimed: a replay applies it
    errors = {body: headers["x-error"] for body, _, headers in svc.broker.published}
    assert [topic for _, topic, _ in svc.broker.published] == [topics.dlq(topics.TENANTS)] * 3
    assert errors[unparseable].startswith("unparseable envelope")
    assert errors[invalid].startswith("invalid tenant.created payload")
    assert errors[events[1].model_dump_json().encode()] == "RuntimeError: cannot apply bad"
    offsets = {headers["x-original-offset"] for _, _, headers in svc.broker.published}
    assert offsets == {"1", "3", "2"}
    # the batch as a whole once, then the poison its max_attempts times, each alone
    assert svc.runs[0] == ["a", "bad", "b"] and svc.runs[1:] == [["a"], ["bad"], ["bad"], ["b"]]
    assert "SAVEPOINT fmf_record" in conn.statements


async def test_a_replayed_dead_letter_of_another_group_and_a_tombstone_are_skipped_in_a_batch() -> None:
    svc = service()
    other = FakeRecord(tenant_created("x").model_dump_json().encode(), headers=[("x-replay-for", b"another")])
    before = REGISTRY.get_sample_value("fmf_dlq_replays_skipped_total", {"group": svc.consumer.group}) or 0.0

    await svc.deliver(other, FakeRecord(b""), *records(tenant_created("y")))

    assert svc.pool.conn.applied == ["y"]
    assert REGISTRY.get_sample_value("fmf_dlq_replays_skipped_total", {"group": svc.consumer.group}) == before + 1


# --- batch forms are typed and checked when the table is built ----------------------------------


async def tenants_many(conn: Conn, events: list[tuple[Envelope, TenantCreated]]) -> None:
    pass


def test_a_batch_form_annotated_for_another_payload_is_refused() -> None:
    with pytest.raises(TypeError, match="tenants_many takes TenantCreated"):
        route_batch("tenant.token_issued", TokenIssued, tenants_many)  # type: ignore[arg-type]
    row = route_batch(("tenant.created", "tenant.updated"), TenantCreated, tenants_many)
    assert row.batch is tenants_many and row.event_types == ("tenant.created", "tenant.updated")


def test_matching_and_reporting_act_set_wise_where_they_can() -> None:
    assert matching.HANDLERS["registration.confirmed"].batch is matching.registrations_changed
    assert all(reporting.HANDLERS[t].batch is not None for t in reporting.WRITERS)


# --- reporting folds a run of writes into one row per key, as writing them in order would leave it -----


def test_reporting_folds_writes_per_row_as_applying_them_in_order_would() -> None:
    reg, meeting = uuid.uuid4(), uuid.uuid4()
    writes = [
        store.upsert_registration(reg, TENANT, meeting, "resident", "waitlisted", False, True),
        store.upsert_registration(reg, TENANT, meeting, "resident", "confirmed", True, None),
        store.upsert_registration(reg, TENANT, meeting, "resident", "cancelled", False, None),
        store.upsert_pairing(meeting, TENANT, 3, 10, 0),
        store.upsert_pairing(meeting, TENANT, 2, 9, 1),  # older: changes nothing
        store.upsert_meeting(meeting, TENANT, "standard", "published", datetime(2026, 12, 1, tzinfo=UTC)),
        store.upsert_meeting(meeting, TENANT, "standard", "cancelled", datetime(2026, 12, 1, tzinfo=UTC)),
    ]
    folded = {statement: args for statement, args in store.fold(writes)}
    assert len(store.fold(writes)) == 3  # one row per statement and key
    [registration] = [args for statement, args in folded.items() if "INTO registrations" in statement]
    assert registration[4:] == ("cancelled", True, True)  # last status, promoted sticks, last known first_time
    [pairing] = [args for statement, args in folded.items() if "INTO pairings" in statement]
    assert pairing[2:] == (3, 10, 0)
    [meeting_row] = [args for statement, args in folded.items() if "INTO meetings" in statement]
    assert meeting_row[3] == "cancelled"


@pytest.mark.parametrize("scoped", [True, False], ids=["row-level security", "none"])
async def test_a_batch_scopes_each_handler_to_its_tenant_when_asked_and_only_on_a_change(scoped: bool) -> None:
    svc = service()
    svc.consumer.tenant_scoped = scoped
    other = uuid.uuid4()
    foreign = make_event(
        "tenant.created", other, TenantCreated(tenant_id=other, slug="o", name="o", municipality_number="0301")
    )

    await svc.deliver(*records(tenant_created("a"), tenant_created("b"), foreign, tenant_created("c")))

    scopes = [s for s in svc.pool.conn.statements if "set_config('app.tenant_id'" in s]
    assert len(scopes) == (3 if scoped else 0)  # TENANT, the other, TENANT again
    assert svc.pool.conn.applied == ["a", "b", "o", "c"]
