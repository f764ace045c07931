"""The consumer's dispatch, with a fake pool, broker and Kafka message: nothing runs but the code.

Each event's payload is decoded once into the model EVENT_TYPES names and handed to the one handler of
its type; an invalid payload goes to the dead-letter topic; an event no handler wants is counted.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.matching import handlers as matching
from services.notification import handlers as notification
from services.registration import handlers as registration
from services.reporting import handlers as reporting
from shared import tenancy, topics
from shared.consumer import UNKNOWN_TYPE, EventConsumer, Handlers, route
from shared.db import Conn
from shared.events import (
    Envelope,
    MeetingSnapshot,
    Payload,
    TenantCreated,
    TokenIssued,
    make_event,
)

TENANT = uuid.uuid4()


class FakeConn:
    """Answers the inbox's claim (a fresh event) and records every statement."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    async def execute(self, sql: str, *args: object) -> str:
        self.statements.append(sql)
        return "OK"

    async def fetchval(self, sql: str, *args: object) -> object:
        self.statements.append(sql)
        return True

    def is_closed(self) -> bool:
        return False


class FakePool:
    def __init__(self) -> None:
        self.conn = FakeConn()
        self.acquired = 0

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConn]:
        self.acquired += 1
        yield self.conn


@dataclass
class FakeBroker:
    published: list[tuple[bytes, str, dict[str, str]]] = field(default_factory=list)

    async def publish(self, body: bytes, topic: str, *, key: object = None, headers: dict[str, str]) -> None:
        self.published.append((body, topic, headers))


@dataclass
class FakeRecord:
    topic: str
    partition: int = 0
    offset: int = 7
    key: bytes = b"k"


@dataclass
class FakeMessage:
    raw_message: FakeRecord
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass
class Calls:
    seen: list[tuple[str, Conn, Envelope, Payload]] = field(default_factory=list)


def consumer_with(table: Handlers, *, max_attempts: int = 3) -> tuple[EventConsumer, FakePool, FakeBroker]:
    pool, broker = FakePool(), FakeBroker()
    consumer = EventConsumer(f"test-{uuid.uuid4().hex[:8]}", pool, broker, max_attempts=max_attempts)  # type: ignore[arg-type]
    table.register(consumer)
    return consumer, pool, broker


async def deliver(consumer: EventConsumer, body: bytes, topic: str = topics.TENANTS) -> None:
    await consumer.process(body, FakeMessage(FakeRecord(topic)))  # type: ignore[arg-type]


def tenant_created(slug: str = "arendal") -> Envelope:
    return make_event(
        "tenant.created",
        TENANT,
        TenantCreated(tenant_id=TENANT, slug=slug, name="Arendal", municipality_number="4203"),
    )


def tables(calls: Calls) -> Handlers:
    async def on_tenant(conn: Conn, event: Envelope, tenant: TenantCreated) -> None:
        calls.seen.append(("tenant", conn, event, tenant))

    async def on_token(conn: Conn, event: Envelope, token: TokenIssued) -> None:
        calls.seen.append(("token", conn, event, token))

    return Handlers(
        route(("tenant.created", "tenant.updated"), TenantCreated, on_tenant),
        route("tenant.token_issued", TokenIssued, on_token),
    )


def ignored(group: str, type_: str) -> float:
    return REGISTRY.get_sample_value("fmf_events_ignored_total", {"group": group, "type": type_}) or 0.0


def dead_lettered(topic: str) -> float:
    return REGISTRY.get_sample_value("fmf_dlq_messages_total", {"topic": topic}) or 0.0


async def test_the_payload_is_decoded_once_and_handed_typed_to_the_handler_of_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[object] = []
    original = TokenIssued.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[TokenIssued], data: object, **kwargs: Any) -> TokenIssued:
        decoded.append(data)
        return original(cls, data, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(TokenIssued, "model_validate", classmethod(counting))
    calls = Calls()
    consumer, pool, broker = consumer_with(tables(calls))
    token = TokenIssued(token_id=uuid.uuid4(), tenant_id=TENANT, token_hash="ab" * 32)
    event = make_event("tenant.token_issued", TENANT, token)

    await deliver(consumer, event.model_dump_json().encode())

    assert len(decoded) == 1
    [(which, conn, got_event, payload)] = calls.seen
    assert which == "token" and conn is pool.conn
    assert got_event.id == event.id and got_event.type == "tenant.token_issued"
    assert type(payload) is TokenIssued and payload == token
    assert any("INSERT INTO inbox" in s for s in pool.conn.statements)  # claimed in the same transaction
    assert broker.published == []


async def test_one_route_serves_each_of_its_types() -> None:
    calls = Calls()
    consumer, _, _ = consumer_with(tables(calls))
    updated = tenant_created("arendal-kommune").model_copy(update={"type": "tenant.updated"})
    await deliver(consumer, updated.model_dump_json().encode())
    [(which, _, event, payload)] = calls.seen
    assert which == "tenant" and event.type == "tenant.updated"
    assert isinstance(payload, TenantCreated) and payload.slug == "arendal-kommune"


async def test_an_invalid_payload_is_dead_lettered_without_a_transaction_or_a_handler() -> None:
    calls = Calls()
    consumer, pool, broker = consumer_with(tables(calls))
    before = dead_lettered(topics.TENANTS)
    body = Envelope(type="tenant.created", tenant_id=TENANT, data={"slug": 1}).model_dump_json().encode()

    await deliver(consumer, body)

    [(dead_body, dead_topic, headers)] = broker.published
    assert dead_topic == topics.dlq(topics.TENANTS) and dead_body == body
    assert headers["x-error"].startswith("invalid tenant.created payload")
    assert headers["x-original-topic"] == topics.TENANTS and headers["x-consumer-group"] == consumer.group
    assert dead_lettered(topics.TENANTS) == before + 1
    assert calls.seen == [] and pool.acquired == 0


async def test_an_unparseable_envelope_is_dead_lettered() -> None:
    consumer, _, broker = consumer_with(tables(Calls()))
    await deliver(consumer, b"{not json")
    [(body, _, headers)] = broker.published
    assert body == b"{not json" and headers["x-error"].startswith("unparseable envelope")


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_attempts() -> None:
    attempts: list[int] = []

    async def failing(conn: Conn, event: Envelope, tenant: TenantCreated) -> None:
        attempts.append(1)
        raise RuntimeError("this handler cannot apply it")

    consumer, _, broker = consumer_with(Handlers(route("tenant.created", TenantCreated, failing)), max_attempts=2)
    await deliver(consumer, tenant_created().model_dump_json().encode())
    assert len(attempts) == 2
    [(_, _, headers)] = broker.published
    assert headers["x-error"] == "RuntimeError: this handler cannot apply it"


async def test_a_known_type_no_handler_wants_is_counted_and_skipped() -> None:
    calls = Calls()
    consumer, pool, broker = consumer_with(tables(calls))
    before = ignored(consumer.group, "tenant.suspended")
    event = Envelope(type="tenant.suspended", tenant_id=TENANT, data={"tenant_id": str(TENANT), "status": "x"})

    await deliver(consumer, event.model_dump_json().encode())  # not even validated: nobody wants it

    assert ignored(consumer.group, "tenant.suspended") == before + 1
    assert calls.seen == [] and broker.published == [] and pool.acquired == 0


async def test_an_unknown_type_is_counted_as_unknown_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    consumer, pool, broker = consumer_with(tables(Calls()))
    event = Envelope(type="tenant.renamed", tenant_id=TENANT, data={"anything": 1})

    with caplog.at_level(logging.WARNING, logger="shared.consumer"):
        await deliver(consumer, event.model_dump_json().encode())

    assert ignored(consumer.group, UNKNOWN_TYPE) == 1
    assert ignored(consumer.group, "tenant.renamed") == 0  # types off the wire never become labels
    [record] = [r for r in caplog.records if r.name == "shared.consumer"]
    assert record.levelno == logging.WARNING and record.__dict__["event_type"] == "tenant.renamed"
    assert broker.published == [] and pool.acquired == 0


async def test_a_tombstone_is_neither_handled_nor_counted() -> None:
    consumer, pool, broker = consumer_with(tables(Calls()))
    await deliver(consumer, b"")
    assert ignored(consumer.group, UNKNOWN_TYPE) == 0 and broker.published == [] and pool.acquired == 0


# --- the table refuses what cannot work, when it is built ---------------------------------------


async def on_tenant(conn: Conn, event: Envelope, tenant: TenantCreated) -> None:
    pass


async def on_meeting(conn: Conn, event: Envelope, meeting: MeetingSnapshot) -> None:
    pass


async def on_anything(conn: Conn, event: Envelope, payload: Payload) -> None:
    pass


def test_a_type_events_do_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("tenant.renamed")):
        route("tenant.renamed", TenantCreated, on_tenant)
    with pytest.raises(ValueError, match="no event type"):
        route((), TenantCreated, on_tenant)


def test_another_model_than_the_type_carries_is_refused() -> None:
    with pytest.raises(TypeError, match=re.escape("meeting.created carries MeetingSnapshot, not TenantCreated")):
        route("meeting.created", TenantCreated, on_tenant)


def test_a_handler_annotated_for_another_payload_is_refused() -> None:
    with pytest.raises(TypeError, match="on_tenant takes TenantCreated"):
        route("meeting.created", MeetingSnapshot, on_tenant)  # type: ignore[arg-type]
    route("meeting.created", MeetingSnapshot, on_anything)  # a handler of any payload takes this one too


def test_two_handlers_of_one_type_are_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("tenant.created has two handlers")):
        Handlers(tenancy.HANDLERS, route("tenant.created", TenantCreated, on_tenant))
    consumer = EventConsumer("test", None, None)  # type: ignore[arg-type]
    tenancy.HANDLERS.register(consumer)
    tenancy.HANDLERS.register(consumer)  # the same table twice is harmless
    with pytest.raises(ValueError, match=re.escape("tenant.created has a handler already")):
        Handlers(route("tenant.created", TenantCreated, on_tenant)).register(consumer)


@pytest.mark.parametrize("service", [matching, notification, registration, reporting], ids=lambda m: m.__name__)
def test_every_service_subscribes_to_the_topics_of_the_types_it_handles(service: Any) -> None:
    assert service.HANDLERS.topics() <= set(service.SUBSCRIBES_TO)
    consumer = EventConsumer("test", None, None)  # type: ignore[arg-type]
    service.HANDLERS.register(consumer)
    assert set(consumer.handlers) == set(service.HANDLERS)


def test_services_other_than_registration_learn_tenants_and_tokens() -> None:
    tenant_types = {"tenant.created", "tenant.updated", "tenant.suspended", "tenant.reactivated"}
    tenant_types |= {"tenant.token_issued", "tenant.token_revoked"}
    for service in (matching, notification, reporting):
        assert tenant_types <= set(service.HANDLERS)
    assert notification.HANDLERS["tenant.created"].handler is tenancy.tenant_created_with_contact
    assert matching.HANDLERS["tenant.created"].handler is tenancy.tenant_created
