"""Notification through the real broker, real PostgreSQL, a real SMTP server (aiosmtpd) and a fake SMS
gateway that the test starts. The service runs in-process with a clock the test can move, so
reminders, feedback requests and quiet hours can be reached without waiting for them.

Each test starts the service with its own database and consumer group, whose offsets are first
moved to the end of the topics: it sees only the events the test publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import statistics
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
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiosmtpd.controller import Controller

from deploy.local.embedded import free_port
from services.notification import app, handlers, templates
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
from tests.support import consumer_lag, eventually, read_all

pytestmark = pytest.mark.asyncio(loop_scope="session")

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
        content = self.message.get_content()
        assert isinstance(content, str)
        return content


class ControlledSmtp:
    """aiosmtpd with a handler that answers 451 while "down" or for a "busy" mailbox, and 550 for unknown
    mailboxes."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.rcpt_attempts: Counter[str] = Counter()
        self.unknown: set[str] = set()
        self.busy: set[str] = set()
        self.down_until = 0.0
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

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
    return Settings(**values)


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


@pytest.fixture
async def mailserver() -> AsyncIterator[ControlledSmtp]:
    async with smtp_server() as server:
        yield server


@pytest.fixture
async def gateway() -> AsyncIterator[FakeSmsGateway]:
    async with sms_gateway() as fake:
        yield fake


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    async with kafka_producer(kafka_bootstrap) as p:
        yield p


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
    """Every published event consumed, and nothing due left unsent."""
    state: dict[str, Any] = {}

    async def done() -> bool:
        state["lag"] = await consumer_lag(settings.kafka_bootstrap, group_of(settings), list(handlers.SUBSCRIBES_TO))
        conn = await asyncpg.connect(settings.database_url)
        try:
            state["due"] = [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT n.kind, n.channel, n.attempts, n.due_at, n.last_error"
                    " FROM notifications n JOIN contacts c USING (participant_id)"
                    " WHERE n.status = 'pending' AND n.due_at <= $1",
                    clock(),
                )
            ]
        finally:
            await conn.close()
        return state["lag"] == 0 and not state["due"]

    try:
        await eventually(done, timeout_s=timeout_s, every_s=0.2)
    except AssertionError as exc:
        raise AssertionError(f"not settled: {state}") from exc


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


# --- the tests -------------------------------------------------------------------------------------------------

SUBJECTS = {  # (kind, language) -> the start of the subject
    ("registration_confirmed", "nb"): "Du er påmeldt: Kaffe og prat",
    ("registration_confirmed", "nn"): "Du er påmeld: Kaffe og prat",
    ("registration_confirmed", "en"): "You are signed up: Kaffe og prat",
    ("registration_waitlisted", "nn"): "Du står på venteliste",
    ("registration_promoted", "nn"): "Du har fått plass",
    ("registration_cancelled", "en"): "You are no longer signed up",
    ("meeting_changed", "nb"): "Endring i møtet",
    ("meeting_changed", "en"): "Change to the meeting",
    ("meeting_changed", "nn"): "Endring i møtet",
    ("pairs_published", "nb"): "Din plass ved bordet",
    ("pairs_published", "en"): "Your seat at the table",
    ("pairs_published", "nn"): "Plassen din ved bordet",
    ("seat_changed", "nn"): "Ny plass ved bordet",
    ("reminder_24h", "nb"): "Påminnelse: Kaffe og prat",
    ("reminder_24h", "en"): "Reminder: Kaffe og prat",
    ("reminder_24h", "nn"): "Påminning: Kaffe og prat",
    ("feedback_request", "nb"): "Hvordan var møtet?",
    ("feedback_request", "nn"): "Korleis var møtet?",
    ("erasure_confirmed", "nb"): "Opplysningene dine er slettet",
    ("meeting_cancelled", "en"): "The meeting is cancelled",
}


async def test_every_kind_of_message_once_in_the_right_language_with_the_right_content(
    database: str,
    kafka_bootstrap: str,
    mailserver: ControlledSmtp,
    gateway: FakeSmsGateway,
    producer: AIOKafkaProducer,
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = MovableClock()
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    amina = Person("Amina", "nb", domain, phone="+4791000001", group="newcomer")
    bjorn = Person("Bjorn", "nn", domain)
    chris = Person("Chris", "en", domain, phone="+4791000003")
    dawit = Person("Dawit", "ar", domain, email=False, phone="+4791000004", group="newcomer")  # SMS only, bokmål
    eva = Person("Eva", "nn", domain)
    frida = Person("Frida", "en", domain)
    people = [amina, bjorn, chris, dawit, eva, frida]
    meeting, other = uuid.uuid4(), uuid.uuid4()
    starts = local(datetime.now(UTC) + timedelta(days=3), 12)  # 12:00 in Oslo, three days ahead
    other_starts = starts + timedelta(days=7)

    async with notification_service(settings, clock):
        await ev.tenant_created()
        await ev.meeting("meeting.published", meeting, starts)
        await ev.meeting("meeting.published", other, other_starts)
        for p in people:
            await ev.contact(p, other if p is frida else meeting)
        for p in (amina, bjorn, chris, dawit):
            await ev.registration("registration.confirmed", p, meeting)
        await ev.registration("registration.waitlisted", eva, meeting)
        await ev.registration("registration.confirmed", frida, other)
        await settled(settings, clock)
        # Bjørn cancels; Eva gets his place. Then the meeting moves one hour later.
        await ev.registration("registration.cancelled", bjorn, meeting, promoted=eva)
        await ev.registration("registration.promoted", eva, meeting)
        await settled(settings, clock)
        starts += timedelta(hours=1)
        await ev.meeting("meeting.changed", meeting, starts)
        await ev.meeting("meeting.cancelled", other, other_starts, status="cancelled")
        # The pairs are published; then a re-match swaps the seats of the second pair.
        await ev.pairs(meeting, 1, [(amina, 1, chris, 2), (dawit, 3, eva, 4)], [])
        await ev.pairs(meeting, 2, [(amina, 1, chris, 2), (dawit, 4, eva, 3)], [])
        await settled(settings, clock)

        reminders = {(r["kind"], r["participant_id"]): r for r in await rows(settings, "kind LIKE 'reminder%'")}
        assert reminders[("reminder_24h", amina.participant_id)]["due_at"] == starts - timedelta(hours=24)
        assert reminders[("reminder_2h", amina.participant_id)]["status"] == "pending"
        assert not [
            r for r in reminders.values() if r["participant_id"] in (bjorn.participant_id, frida.participant_id)
        ]

        clock.move_to(starts - timedelta(hours=24) + timedelta(seconds=1))
        await settled(settings, clock)
        clock.move_to(starts - timedelta(hours=2) + timedelta(seconds=1))
        await settled(settings, clock)
        await ev.registration("registration.attended", amina, meeting)
        await ev.registration("registration.no_show", chris, meeting)
        await settled(settings, clock)
        clock.move_to(starts + timedelta(minutes=105, seconds=1))
        await settled(settings, clock)
        await ev.erased(amina)
        await ev.erased(frida, reason="retention")  # erased when the retention period ended: no message
        await settled(settings, clock)

        record = await kinds_by_id(settings)
        mails = mailserver.to(domain)
        texts = gateway.to({p.phone for p in people if p.phone})
        got = Counter((m.to.split("@")[0], record[m.notification_id]) for m in mails)
        got.update((next(p.name.lower() for p in people if p.phone == s.to), record[s.reference]) for s in texts)
        assert got == Counter(
            {
                ("amina", "registration_confirmed"): 1,
                ("bjorn", "registration_confirmed"): 1,
                ("chris", "registration_confirmed"): 1,
                ("dawit", "registration_confirmed"): 1,  # SMS: no e-mail address
                ("eva", "registration_waitlisted"): 1,
                ("frida", "registration_confirmed"): 1,
                ("bjorn", "registration_cancelled"): 1,
                ("eva", "registration_promoted"): 1,
                ("amina", "meeting_changed"): 1,
                ("chris", "meeting_changed"): 1,
                ("dawit", "meeting_changed"): 1,
                ("eva", "meeting_changed"): 1,
                ("frida", "meeting_cancelled"): 1,
                ("amina", "pairs_published"): 1,
                ("chris", "pairs_published"): 1,
                ("dawit", "pairs_published"): 1,
                ("eva", "pairs_published"): 1,
                ("dawit", "seat_changed"): 1,  # only the two whose seats changed
                ("eva", "seat_changed"): 1,
                ("amina", "reminder_24h"): 1,
                ("chris", "reminder_24h"): 1,
                ("dawit", "reminder_24h"): 1,
                ("eva", "reminder_24h"): 1,
                ("amina", "reminder_2h"): 1,  # SMS, to those with a phone number
                ("chris", "reminder_2h"): 1,
                ("dawit", "reminder_2h"): 1,
                ("amina", "feedback_request"): 1,  # attended
                ("dawit", "feedback_request"): 1,
                ("eva", "feedback_request"): 1,  # not Chris: he did not come
                ("amina", "erasure_confirmed"): 1,
            }
        )
        for m in mails:
            who = next(p for p in people if p.address == m.to)
            kind = record[m.notification_id]
            expected = SUBJECTS.get((kind, who.language))
            if expected:
                assert str(m.message["Subject"]).startswith(expected), (who.name, kind, m.message["Subject"])
            assert m.message["Content-Language"] == who.language
            assert f"{who.name}!" in m.body
            if kind in ("registration_confirmed", "registration_promoted", "reminder_24h", "pairs_published"):
                assert who.manage_url in m.body, (who.name, kind)
                promise = {
                    "nb": ["på dagtid", "1 time og 45 minutter", "ingen plikt til å holde kontakt"],
                    "nn": ["på dagtid", "1 time og 45 minutt", "inga plikt til å halde kontakt"],
                    "en": ["in the daytime", "1 hour and 45 minutes", "no obligation to keep in touch"],
                }[who.language]
                assert all(phrase in m.body for phrase in promise), (who.name, kind)
        by_kind = {(m.to.split("@")[0], record[m.notification_id]): m for m in mails}
        day = templates.long_date(starts.astimezone(OSLO), "nb")
        assert f"Når: {day}, klokka 13:00–14:45" in by_kind[("amina", "reminder_24h")].body
        assert "13:00–14:45" in by_kind[("chris", "meeting_changed")].body
        assert "The meeting has a new time." in by_kind[("chris", "meeting_changed")].body
        # From what to what: the old time as well as the new (issue 17, kind 7).
        assert "The time has moved from " in by_kind[("chris", "meeting_changed")].body
        assert "12:00–13:45," in by_kind[("chris", "meeting_changed")].body  # the old time, one hour earlier
        seat = by_kind[("amina", "pairs_published")].body
        assert "På møtet sitter du på plass 1." in seat and "Dere har felles interesser: Fotball, Matlaging." in seat
        assert "Chris" not in seat and "chris@" not in seat and "+4791000003" not in seat  # never the partner
        assert "At the meeting you sit at seat 2." in by_kind[("chris", "pairs_published")].body
        assert "Football, Cooking" in by_kind[("chris", "pairs_published")].body
        assert "På møtet sit du på plass 3." in by_kind[("eva", "seat_changed")].body
        assert eva.manage_url in by_kind[("eva", "feedback_request")].body
        texts_by = {(s.to, record[s.reference]): s for s in texts}
        dawit_confirmed = texts_by[(dawit.phone, "registration_confirmed")].text  # type: ignore[index]
        assert dawit_confirmed.startswith("Hei Dawit! Du er påmeldt Kaffe og prat")  # Arabic -> bokmål
        assert "Dagtid, 1 t 45 min. Ingen plikt til kontakt etterpå." in dawit_confirmed
        assert dawit.manage_url in dawit_confirmed
        assert "plass 4" in texts_by[(dawit.phone, "seat_changed")].text  # type: ignore[index]
        two_hours = texts_by[(chris.phone, "reminder_2h")].text  # type: ignore[index]
        assert two_hours.startswith("Hi Chris! Today 13:00-14:45: Kaffe og prat, Arendal bibliotek")
        assert all(s.sender == "FolkMoter" for s in texts)
        # Reminders of the cancelled meeting are gone; the erased participant's details too.
        assert not await rows(settings, "meeting_id = $1 AND status = 'pending'", other)
        conn = await asyncpg.connect(settings.database_url)
        try:
            erased = [amina.participant_id, frida.participant_id]
            for table in ("contacts", "manage_links"):
                query = f"SELECT count(*) FROM {table} WHERE participant_id = ANY($1::uuid[])"
                assert await conn.fetchval(query, erased) == 0, table
            assert await conn.fetchval("SELECT count(*) FROM contacts WHERE participant_id = $1", eva.participant_id)
        finally:
            await conn.close()
        skipped = {
            (r["participant_id"], r["kind"]): r["last_error"] for r in await rows(settings, "status = 'skipped'")
        }
        assert skipped[(eva.participant_id, "reminder_2h")] == "no phone number"
        assert skipped[(chris.participant_id, "feedback_request")] == "the participant did not take part"

        # Kafka delivers at least once: every event again changes nothing and sends nothing.
        sent_before = (len(mailserver.mails), len(gateway.received))
        record_before = [dict(r) for r in await rows(settings)]
        await ev.replay()
        await settled(settings, clock)
        await asyncio.sleep(1.0)
        assert (len(mailserver.mails), len(gateway.received)) == sent_before
        assert [dict(r) for r in await rows(settings)] == record_before
        sent_ids = {str(r["id"]) for r in record_before if r["status"] == "sent"}
        assert len(await outcome_events(kafka_bootstrap, sent_ids)) == len(sent_ids)


async def test_a_duplicated_event_sends_nothing_twice_and_a_late_manage_link_is_waited_for(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    kari, ola = Person("Kari", "nb", domain), Person("Ola", "en", domain)
    meeting = uuid.uuid4()
    async with notification_service(settings):
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        await ev.contact(kari, meeting, link=False)
        await ev.contact(ola, meeting)
        confirmed = make_event(
            "registration.confirmed",
            ev.tenant,
            RegistrationChanged(
                registration_id=kari.registration_id,
                participant_id=kari.participant_id,
                meeting_id=meeting,
                tenant_id=ev.tenant,
                group="resident",
                status="confirmed",
                language="nb",
            ),
        )
        for _ in range(3):  # the same event three times, as a producer retry or a rebalance delivers it
            await ev.send(confirmed, str(meeting))
        await ev.registration("registration.confirmed", ola, meeting)
        await eventually(lambda: _at_least(mailserver.to(domain), 1), timeout_s=20)
        await asyncio.sleep(1.5)
        assert [m.to for m in mailserver.to(domain)] == [ola.address]  # Kari's message waits for her manage link
        await ev.manage_link(kari, meeting)
        await settled(settings)
        await asyncio.sleep(1.0)
        mails = mailserver.to(domain)
        assert sorted(m.to for m in mails) == sorted([str(kari.address), str(ola.address)])
        kari_mail = next(m for m in mails if m.to == kari.address)
        assert kari.manage_url in kari_mail.body
        assert (
            len(await rows(settings, "participant_id = $1 AND kind = 'registration_confirmed'", kari.participant_id))
            == 1
        )


async def test_quiet_hours_defer_an_sms_to_the_morning_but_not_an_e_mail(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = MovableClock()
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    clock.move_to(local(tomorrow, 22, 30))  # 22:30 in Oslo
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    by_sms = Person("Sara", "nb", domain, email=False, phone="+4793000001")
    by_mail = Person("Mats", "nb", domain)
    meeting = uuid.uuid4()
    async with notification_service(settings, clock):
        await ev.meeting("meeting.published", meeting, local(tomorrow + timedelta(days=5), 11))
        for p in (by_sms, by_mail):
            await ev.contact(p, meeting)
            await ev.registration("registration.confirmed", p, meeting)
        await eventually(lambda: _at_least(mailserver.to(domain), 1), timeout_s=20)
        await asyncio.sleep(1.0)
        assert gateway.to({str(by_sms.phone)}) == []
        [deferred] = await rows(
            settings, "participant_id = $1 AND kind = 'registration_confirmed'", by_sms.participant_id
        )
        morning = local(tomorrow + timedelta(days=1), 8)
        assert deferred["status"] == "pending" and deferred["due_at"] == morning and deferred["channel"] == "sms"
        clock.move_to(morning - timedelta(minutes=1))
        await asyncio.sleep(1.0)
        assert gateway.to({str(by_sms.phone)}) == []
        clock.move_to(morning + timedelta(seconds=1))
        texts = await eventually(lambda: _at_least(gateway.to({str(by_sms.phone)}), 1), timeout_s=10)
        await settled(settings, clock)
        await asyncio.sleep(0.5)
    assert len(gateway.to({str(by_sms.phone)})) == 1 and texts[0].text.startswith("Hei Sara!")


async def test_delivery_latency_from_event_to_smtp_accept(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    people = [Person(f"l{i}", "nb", domain) for i in range(60)]
    meeting = uuid.uuid4()
    published: dict[str, float] = {}
    async with notification_service(settings):
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        for p in people:
            await ev.contact(p, meeting)
        await settled(settings)
        for p in people:  # one sign-up at a time, as people sign up
            published[str(p.address)] = await ev.registration("registration.confirmed", p, meeting)
            await asyncio.sleep(0.05)
        await eventually(lambda: _at_least(mailserver.to(domain), len(people)), timeout_s=30)
        record = await rows(settings, "kind = 'registration_confirmed'")
    consumed = statistics.median((r["created_at"] - r["cause_occurred_at"]).total_seconds() for r in record)
    sent = statistics.median((r["sent_at"] - r["created_at"]).total_seconds() for r in record)
    latencies = sorted(m.received_at - published[m.to] for m in mailserver.to(domain))
    assert len(latencies) == len(people)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * len(latencies)) - 1)]
    print(
        f"\ndelivery latency, event published -> SMTP accepted, n={len(latencies)}: "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        f" (median: event to recorded {consumed * 1000:.0f} ms, recorded to sent {sent * 1000:.0f} ms)"
    )
    assert p99 < 5.0


async def _at_least(items: list[Any], n: int) -> list[Any] | None:
    return items if len(items) >= n else None


async def _at_least_events(bootstrap: str, ids: set[str], n: int) -> list[dict[str, Any]] | None:
    found = await outcome_events(bootstrap, ids)
    return found if len(found) >= n else None


async def test_every_message_names_the_municipality_and_whom_to_contact_there(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    """Issue 17, kind 7: no mail named the municipality, and "Kontakt arrangøren" gave no contact. The
    contact is a tenant setting that travels on tenant.created / tenant.updated."""
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    kari = Person("Kari", "nb", domain)
    meeting = uuid.uuid4()
    async with notification_service(settings):
        await ev.tenant_created()
        await ev.tenant_created("tenant.updated", contact_email="fmf@kommune.example.no", contact_phone="+4737013000")
        await settled(settings)
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        await ev.contact(kari, meeting)
        await ev.registration("registration.confirmed", kari, meeting)
        await settled(settings)  # sent before the cancellation, which would make it stale
        await ev.registration("registration.cancelled", kari, meeting)
        await settled(settings)
        await asyncio.sleep(0.5)
        mails = mailserver.to(domain)
    assert len(mails) == 2
    for mail in mails:
        assert "T – Folk møter folk" in mail.body
        assert "Kontakt arrangøren: fmf@kommune.example.no, tlf. +4737013000" in mail.body


async def test_those_still_waiting_hear_once_that_they_did_not_get_a_place(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    """Issue 17, kind 7: people on the waiting list were never told they did not get a place. They hear it
    once: when registration closes, or, when their waiting place reaches notification after the close (the
    topics are not ordered with each other), as soon as it arrives; never again when the meeting is over."""
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    placed, waiting, late = Person("Kari", "nb", domain), Person("Ola", "en", domain), Person("Siv", "nn", domain)
    meeting = uuid.uuid4()
    starts = local(datetime.now(UTC) + timedelta(days=5), 11)
    async with notification_service(settings):
        await ev.meeting("meeting.published", meeting, starts)
        for p in (placed, waiting, late):
            await ev.contact(p, meeting)
        await ev.registration("registration.confirmed", placed, meeting)
        await ev.registration("registration.waitlisted", waiting, meeting)
        await settled(settings)
        await ev.meeting("meeting.registration_closed", meeting, starts, status="registration_closed")
        await ev.meeting("meeting.registration_closed", meeting, starts, status="registration_closed")  # again
        await settled(settings)
        await ev.registration("registration.waitlisted", late, meeting)  # arrives after the close
        await settled(settings)
        await ev.meeting("meeting.completed", meeting, starts, status="completed")
        await settled(settings)
        await asyncio.sleep(0.5)
        record = await kinds_by_id(settings)
        ended = [m for m in mailserver.to(domain) if record[m.notification_id] == "waitlist_ended"]
    assert sorted(m.to for m in ended) == sorted([str(waiting.address), str(late.address)])
    by_to = {m.to: m for m in ended}
    closed = by_to[str(waiting.address)]
    assert str(closed.message["Subject"]).startswith("Registration has closed: Kaffe og prat")
    assert "you did not get a place" in closed.body and "If someone cancels before the meeting starts" in closed.body
    late_news = by_to[str(late.address)]
    assert str(late_news.message["Subject"]).startswith("Påmeldinga er stengd: Kaffe og prat")
    assert "fekk dessverre ikkje plass" in late_news.body
