"""The harness of notification's integration tests: a real SMTP server whose answers the test controls,
a fake SMS gateway, a clock the test can move, the service in-process, the events registration and
matching publish, and waiting until the service has done everything it can.

The service runs with its own database and consumer group, whose offsets are first moved to the end of
the topics (``start_at_the_end``): it sees only the events the test publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiosmtpd.controller import Controller

from deploy.local.embedded import free_port
from services.notification import app, handlers
from services.notification.sender import Clock, system_clock
from shared import topics
from shared.events import (
    ContactUpserted,
    Envelope,
    ManageLink,
    MeetingSnapshot,
    Pair,
    Pairing,
    PairMember,
    ParticipantErased,
    Payload,
    Profile,
    RegistrationChanged,
    TenantCreated,
    make_event,
    topic_for,
)
from shared.service import Runtime
from shared.settings import Settings
from tests.support import (
    consumer_lag,
    eventually,
    notification_settings_class,
    outbox_backlog,
    read_all,
    sender_backlog,
)

OSLO = ZoneInfo("Europe/Oslo")
GATEWAY_KEY = "test-gateway-key"
BASE_URL = "https://pamelding.example.no"
VENUE = {"name": "Arendal bibliotek", "address": "Torvet 6, 4836 Arendal", "kind": "library"}


# --- a real SMTP server whose answers the test controls -------------------------------------------


@dataclass
class Mail:
    received_at: float
    to: str
    message: EmailMessage

    @property
    def notification_id(self) -> str:
        return str(self.message["X-FMF-Notification-Id"])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        content = part.get_content()
        assert isinstance(content, str)
        return content

    @property
    def calendar(self) -> tuple[str, bytes] | None:
        """The attached calendar file as (Content-Type header, bytes), or None."""
        for part in self.message.iter_attachments():
            if part.get_content_type() == "text/calendar":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return str(part["Content-Type"]), payload
        return None


class ControlledSmtp:
    """aiosmtpd with a handler that answers 451 while "down" or for a "busy" mailbox, and 550 for unknown
    mailboxes. It counts the mails each connection carried (``per_connection``), and with ``drop_after``
    set it ends every connection that has carried that many mails at its next MAIL command: with a 421
    reply (``drop_with="421"``) or by closing the socket without a word (``drop_with="close"``)."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.rcpt_attempts: Counter[str] = Counter()
        self.unknown: set[str] = set()
        self.busy: set[str] = set()
        self.down_until = 0.0
        self.per_connection: Counter[tuple[str, int]] = Counter()
        self.drop_after: int | None = None
        self.drop_with = "close"
        self.dropped = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.lock:
            carried = self.per_connection[session.peer]
            drop = self.drop_after is not None and carried >= self.drop_after
            self.dropped += drop
        if drop and self.drop_with == "421":
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the reply has gone
            return "421 4.4.2 Too many messages on this connection, closing"
        if drop:
            server.transport.abort()
            return "250 OK"  # never reaches the client
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.lock:
            self.rcpt_attempts[address] += 1
        if address in self.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if time.monotonic() < self.down_until or address in self.busy:
            return "451 4.3.0 Temporary local problem, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, _class=EmailMessage, policy=policy.default)
        with self.lock:
            self.per_connection[session.peer] += 1
            for rcpt in envelope.rcpt_tos:
                self.mails.append(Mail(time.time(), rcpt, message))
        return "250 OK: queued"

    def to(self, domain: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.mails if m.to.endswith("@" + domain)]


# --- a fake SMS gateway: JSON POST with a bearer key --------------------------------------------------


@dataclass
class Sms:
    received_at: float
    to: str
    text: str
    reference: str
    sender: str


@dataclass
class FakeSmsGateway:
    """A tiny HTTP server: 202 for a good request, 401 without the key, 400 for invalid numbers,
    503 while "down"."""

    received: list[Sms] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    invalid: set[str] = field(default_factory=set)
    down_until: float = 0.0
    port: int = 0
    server: asyncio.Server | None = None
    connections: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/sms"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.connections):
                writer.close()
            await self.server.wait_closed()

    def to(self, numbers: set[str]) -> list[Sms]:
        return [s for s in self.received if s.to in numbers]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, answer = self._answer(request_line.decode(), headers, body)
                payload = json.dumps(answer).encode()
                head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
                writer.write(head.encode() + b"\r\n" + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.connections.discard(writer)
            writer.close()

    def _answer(self, request_line: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if not request_line.startswith("POST /v1/sms "):
            return 404, {"error": "not found"}
        if headers.get("authorization") != f"Bearer {GATEWAY_KEY}":
            return 401, {"error": "bad key"}
        sms = json.loads(body)
        self.requests[sms["to"]] += 1
        if sms["to"] in self.invalid:
            return 400, {"error": "invalid number"}
        if time.monotonic() < self.down_until:
            return 503, {"error": "try later"}
        self.received.append(Sms(time.time(), sms["to"], sms["text"], sms["reference"], sms["from"]))
        return 202, {"id": str(uuid.uuid4())}


# --- time, settings and the service ------------------------------------------------------------------


class MovableClock:
    """Real time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def move_to(self, when: datetime) -> None:
        self.offset = when - datetime.now(UTC)


def daytime_clock() -> MovableClock:
    """A clock at noon in Oslo tomorrow, whatever the time the test runs."""
    clock = MovableClock()
    clock.move_to(local(datetime.now(UTC) + timedelta(days=1), 12))
    return clock


def service_settings(
    dsn: str, bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": dsn,
        "kafka_bootstrap": bootstrap,
        "consumer_group_prefix": f"t{uuid.uuid4().hex[:10]}",
        "topic_partitions": 3,
        "kafka_session_timeout_ms": 3000,
        "kafka_heartbeat_interval_ms": 500,
        "outbox_poll_interval_s": 0.5,
        "smtp_port": mailserver.port,
        "sender_poll_interval_s": 0.2,
        "sender_backoff_base_s": 0.2,
        "sender_backoff_cap_s": 1.0,
        "sender_max_attempts": 30,
        "manage_link_wait_s": 10.0,
        "public_base_url": BASE_URL,
        "sms_gateway_url": gateway.url,
        "sms_gateway_key": GATEWAY_KEY,
    }
    values.update(extra)
    return notification_settings_class()(**values)


def group_of(settings: Settings) -> str:
    return f"{settings.consumer_group_prefix}-notification"


async def start_at_the_end(bootstrap: str, group: str) -> None:
    """Commit the group's offsets at the current end of every topic the service reads."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in handlers.SUBSCRIBES_TO for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def notification_service(settings: Settings, clock: Clock = system_clock) -> AsyncIterator[Runtime]:
    runtime = Runtime(app.spec(clock), settings)
    async with runtime.running():
        yield runtime


@contextlib.asynccontextmanager
async def smtp_server() -> AsyncIterator[ControlledSmtp]:
    server = ControlledSmtp()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


@contextlib.asynccontextmanager
async def sms_gateway() -> AsyncIterator[FakeSmsGateway]:
    fake = FakeSmsGateway()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@contextlib.asynccontextmanager
async def kafka_producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


# --- events, as registration and matching publish them ------------------------------------------------


@dataclass
class Person:
    name: str
    language: str
    domain: str
    email: bool = True
    phone: str | None = None
    group: str = "resident"
    participant_id: uuid.UUID = field(default_factory=uuid.uuid4)
    registration_id: uuid.UUID = field(default_factory=uuid.uuid4)
    token: str = field(default_factory=lambda: uuid.uuid4().hex + uuid.uuid4().hex[:11])

    @property
    def address(self) -> str | None:
        return f"{self.name.lower()}@{self.domain}" if self.email else None

    @property
    def manage_url(self) -> str:
        return f"{BASE_URL}/manage/{self.registration_id}?token={self.token}"


class Events:
    """Builds and publishes events of one tenant, keyed as registration and matching key them."""

    def __init__(self, producer: AIOKafkaProducer, tenant: uuid.UUID | None = None) -> None:
        self.producer = producer
        self.tenant = tenant or uuid.uuid4()
        self.published: list[tuple[Envelope, str]] = []

    async def publish(self, type_: str, data: Payload, key: object, *, occurred_at: datetime | None = None) -> float:
        event = make_event(type_, self.tenant, data)
        if occurred_at is not None:
            event.occurred_at = occurred_at
        return await self.send(event, str(key))

    async def send(self, event: Envelope, key: str) -> float:
        self.published.append((event, key))
        sent_at = time.time()
        await self.producer.send_and_wait(
            topic_for(event.type),
            event.model_dump_json().encode(),
            key=key.encode(),
            headers=[(k, v.encode()) for k, v in event.headers("test").items()],
        )
        return sent_at

    async def replay(self) -> None:
        """Every event published so far, once more: the same ids, as Kafka redelivers them."""
        for event, key in list(self.published):
            await self.send(event, key)

    async def tenant_created(self, type_: str = "tenant.created", **contact: str) -> None:
        data = TenantCreated(
            tenant_id=self.tenant, slug=f"t-{self.tenant.hex[:6]}", name="T", municipality_number="4203", **contact
        )
        await self.publish(type_, data, self.tenant)

    async def meeting(
        self, type_: str, meeting_id: uuid.UUID, starts_at: datetime, *, status: str = "published", **venue: str
    ) -> None:
        data = MeetingSnapshot(
            meeting_id=meeting_id,
            tenant_id=self.tenant,
            title="Kaffe og prat",
            format="standard",
            status=status,
            starts_at=starts_at,
            duration_minutes=105,
            timezone="Europe/Oslo",
            venue={**VENUE, **venue},
            capacity={"newcomer": 10, "resident": 10},
        )
        await self.publish(type_, data, meeting_id)

    async def contact(self, p: Person, meeting_id: uuid.UUID, *, link: bool = True) -> None:
        contact = ContactUpserted(
            participant_id=p.participant_id,
            tenant_id=self.tenant,
            name=p.name,
            email=p.address,
            phone=p.phone,
            language=p.language,
        )
        await self.publish("contact.upserted", contact, p.participant_id)
        if link:
            await self.manage_link(p, meeting_id)

    async def manage_link(self, p: Person, meeting_id: uuid.UUID) -> None:
        data = ManageLink(
            participant_id=p.participant_id,
            registration_id=p.registration_id,
            meeting_id=meeting_id,
            tenant_id=self.tenant,
            manage_token=p.token,
        )
        await self.publish("contact.manage_link", data, f"{p.participant_id}/{p.registration_id}")

    async def registration(
        self, type_: str, p: Person, meeting_id: uuid.UUID, *, promoted: Person | None = None, **kw: Any
    ) -> float:
        status = {"registration.promoted": "confirmed"}.get(type_, type_.split(".")[1])
        data = RegistrationChanged(
            registration_id=p.registration_id,
            participant_id=p.participant_id,
            meeting_id=meeting_id,
            tenant_id=self.tenant,
            group=p.group,
            status=status,
            language=p.language,
            profile=Profile(interests=["football"]),
            promoted_registration_id=promoted.registration_id if promoted else None,
        )
        return await self.publish(type_, data, meeting_id, **kw)

    async def pairs(
        self, meeting_id: uuid.UUID, version: int, seats: list[tuple[Person, int, Person, int]], changed: list[Person]
    ) -> None:
        pairs = [
            Pair(
                number=i + 1,
                members=[
                    PairMember(
                        participant_id=p.participant_id,
                        registration_id=p.registration_id,
                        group=p.group,
                        seat=seat,
                        side="left" if seat % 2 else "right",
                    )
                    for p, seat in ((a, sa), (b, sb))
                ],
                reasons=["shared interests: Football, Cooking", "close in age"] if i == 0 else ["close in age"],
            )
            for i, (a, sa, b, sb) in enumerate(seats)
        ]
        data = Pairing(
            meeting_id=meeting_id,
            tenant_id=self.tenant,
            version=version,
            status="published",
            pairs=pairs,
            changed=[p.registration_id for p in changed],
        )
        await self.publish("matching.pairs_published", data, meeting_id)

    async def erased(self, p: Person, reason: str = "request") -> None:
        data = ParticipantErased(
            participant_id=p.participant_id,
            tenant_id=self.tenant,
            registration_ids=[p.registration_id],
            reason=reason,
        )
        await self.publish("participant.erased", data, p.participant_id)


# --- waiting and reading the record -------------------------------------------------------------------


async def settled(settings: Settings, clock: Clock = system_clock, timeout_s: float = 30.0) -> None:
    """The service has done everything it can for now: every published event consumed (the group's
    committed offsets at the end of every topic it reads), no notification the sender could claim at
    ``clock()`` and none it is sending, and its outbox drained (every outcome event on the broker).
    What is still pending is due later, or waits for something the service has not been told."""
    state: dict[str, Any] = {}
    link_wait_s = float(settings.model_dump()["manage_link_wait_s"])  # notification's own setting

    async def done() -> bool:
        state["lag"] = await consumer_lag(settings.kafka_bootstrap, group_of(settings), list(handlers.SUBSCRIBES_TO))
        if state["lag"]:
            return False
        state["sender"] = await sender_backlog(settings.database_url, clock(), link_wait_s)
        if state["sender"]:
            return False
        state["outbox"] = await outbox_backlog(settings.database_url)
        return state["outbox"] == 0

    try:
        await eventually(done, timeout_s=timeout_s, every_s=0.2)
    except AssertionError as exc:
        raise AssertionError(f"not settled: {state}") from exc


async def consumed(settings: Settings, timeout_s: float = 30.0) -> None:
    """Every event published so far consumed: the group's committed offsets at the end of its topics."""

    async def caught_up() -> bool:
        lag = await consumer_lag(settings.kafka_bootstrap, group_of(settings), list(handlers.SUBSCRIBES_TO))
        return lag == 0

    await eventually(caught_up, timeout_s=timeout_s)


async def rows(settings: Settings, where: str = "true", *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetch(f"SELECT * FROM notifications WHERE {where} ORDER BY created_at", *args)
    finally:
        await conn.close()


async def kinds_by_id(settings: Settings) -> dict[str, str]:
    return {str(r["id"]): r["kind"] for r in await rows(settings)}


async def outcome_events(bootstrap: str, notification_ids: set[str]) -> list[dict[str, Any]]:
    found = []
    for rec in await read_all(bootstrap, [topics.NOTIFICATIONS]):
        body = json.loads(rec.value)
        if body["data"]["notification_id"] in notification_ids:
            found.append(body)
    return found


def local(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.astimezone(OSLO).replace(hour=hour, minute=minute, second=0, microsecond=0)


async def at_least(items: list[Any], n: int) -> list[Any] | None:
    return items if len(items) >= n else None


async def at_least_events(bootstrap: str, ids: set[str], n: int) -> list[dict[str, Any]] | None:
    found = await outcome_events(bootstrap, ids)
    return found if len(found) >= n else None


async def due_confirmations(
    pool: asyncpg.Pool, count: int, starts_at: datetime, *, language: str = "nb"
) -> list[uuid.UUID]:
    """Straight into notification's database: a published meeting at ``starts_at`` and ``count`` people with a
    contact, a confirmed registration, a manage link and a due ``registration_confirmed`` e-mail to
    ``person<i>@pool.example.no``; the notifications' ids."""
    tenant, meeting = uuid.uuid4(), uuid.uuid4()
    people = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), i) for i in range(count)]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO meetings (meeting_id, tenant_id, title, status, starts_at, duration_minutes, timezone, venue)"
            " VALUES ($1, $2, 'Kaffe og prat', 'published', $3, 105, 'Europe/Oslo', $4)",
            meeting,
            tenant,
            starts_at,
            VENUE,
        )
        await conn.executemany(
            "INSERT INTO contacts (participant_id, tenant_id, name, email, language) VALUES ($1, $2, $3, $4, $5)",
            [(p, tenant, f"Person {i}", f"person{i}@pool.example.no", language) for p, _, _, i in people],
        )
        await conn.executemany(
            "INSERT INTO registrations (registration_id, tenant_id, meeting_id, participant_id, status)"
            " VALUES ($1, $2, $3, $4, 'confirmed')",
            [(r, tenant, meeting, p) for p, r, _, _ in people],
        )
        await conn.executemany(
            "INSERT INTO manage_links (registration_id, participant_id, meeting_id, tenant_id, manage_token)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(r, p, meeting, tenant, f"token-{i}") for p, r, _, i in people],
        )
        await conn.executemany(
            "INSERT INTO notifications (id, tenant_id, cause_event_id, cause_occurred_at, participant_id,"
            " meeting_id, registration_id, kind, channel)"
            " VALUES ($1, $2, $3, now(), $4, $5, $6, 'registration_confirmed', 'email')",
            [(n, tenant, uuid.uuid4(), p, meeting, r) for p, r, n, _ in people],
        )
    return [n for _, _, n, _ in people]
