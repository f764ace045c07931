"""Sending at the speed of the mail server: the sender claims due messages in batches and sends them over a
small pool of SMTP connections, each carrying many messages (real PostgreSQL, a real SMTP server; no
broker: the relay that publishes the outbox runs apart from the sender)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.notification import sender
from services.notification.mailer import Mailer
from services.notification.settings import NotificationSettings
from services.notification.sms import SmsGateway
from shared import db
from tests.notification_support import BASE_URL, ControlledSmtp, due_confirmations, smtp_server

pytestmark = pytest.mark.asyncio(loop_scope="session")
MIGRATIONS = Path(sender.__file__).with_name("migrations")
WINTER_MORNING = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)  # 10.00 in Oslo


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(database, MIGRATIONS)
    p = await db.create_pool(database, 2, 6)
    yield p
    await p.close()


@pytest.fixture
async def sink() -> AsyncIterator[ControlledSmtp]:
    async with smtp_server() as server:
        yield server


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(database: str, sink: ControlledSmtp, **overrides: object) -> NotificationSettings:
    return NotificationSettings(
        database_url=database,
        smtp_port=sink.port,
        public_base_url=BASE_URL,
        **overrides,  # type: ignore[arg-type]
    )


async def drain(the_sender: sender.Sender, workers: int) -> None:
    """Workers claiming batches side by side until nothing is due."""

    async def worker() -> None:
        while await the_sender.send_batch():
            pass

    await asyncio.gather(*(worker() for _ in range(workers)))


async def outcomes(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> Counter[tuple[str, int]]:
    found = await pool.fetch("SELECT status, attempts FROM notifications WHERE id = ANY($1::uuid[])", ids)
    return Counter((r["status"], r["attempts"]) for r in found)


async def test_many_messages_go_over_no_more_connections_than_the_pool_holds_each_once_with_its_calendar(
    pool: asyncpg.Pool, database: str, sink: ControlledSmtp
) -> None:
    ids = await due_confirmations(pool, 45, WINTER_MORNING + timedelta(days=400))
    settings = settings_for(database, sink, smtp_pool_size=3, sender_batch_size=10)
    mailer = Mailer(settings)
    the_sender = sender.Sender(pool, settings, mailer, SmsGateway(settings))
    try:
        await drain(the_sender, workers=2)
    finally:
        await mailer.close()

    assert await outcomes(pool, ids) == Counter({("sent", 1): 45})
    events = await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'notification.sent'")
    assert events == 45
    received = Counter(m.notification_id for m in sink.mails)
    assert set(received) == {str(i) for i in ids} and set(received.values()) == {1}  # none lost, none twice
    # At most three connections, and they carried the 45 messages between them.
    assert 1 <= len(sink.per_connection) <= 3 and mailer.connections_opened == len(sink.per_connection)
    assert sum(sink.per_connection.values()) == 45 and max(sink.per_connection.values()) >= 15
    for mail in sink.mails:
        attached = mail.calendar
        assert attached is not None, mail.notification_id
        content_type, ics = attached
        assert 'method="PUBLISH"' in content_type or "method=PUBLISH" in content_type
        assert "folk-moter-folk.ics" in str(mail.message.get_payload()[1]["Content-Disposition"])  # type: ignore[index]
        assert b"@folkmoterfolk\r\n" in ics and b"TZID=Europe/Oslo" in ics


@pytest.mark.parametrize("drop_with", ["421", "close"])
async def test_a_server_that_ends_connections_mid_run_loses_and_repeats_nothing(
    pool: asyncpg.Pool, database: str, sink: ControlledSmtp, drop_with: str
) -> None:
    sink.drop_after, sink.drop_with = 4, drop_with  # every connection ends at its fifth message
    ids = await due_confirmations(pool, 30, WINTER_MORNING + timedelta(days=400))
    settings = settings_for(database, sink, smtp_pool_size=2, sender_batch_size=8)
    mailer = Mailer(settings)
    the_sender = sender.Sender(pool, settings, mailer, SmsGateway(settings))
    try:
        await drain(the_sender, workers=2)
    finally:
        await mailer.close()

    assert sink.dropped >= 5  # the server really did end connections with messages still to go
    # Each message went at once on a new connection: sent at the first attempt, no retry needed.
    assert await outcomes(pool, ids) == Counter({("sent", 1): 30})
    received = Counter(m.notification_id for m in sink.mails)
    assert set(received) == {str(i) for i in ids} and set(received.values()) == {1}
    assert max(sink.per_connection.values()) == 4 and len(sink.per_connection) >= 8


async def test_a_connection_idle_too_long_is_closed_and_the_next_message_opens_a_new_one(
    pool: asyncpg.Pool, database: str, sink: ControlledSmtp
) -> None:
    clock = Clock()
    settings = settings_for(database, sink, smtp_pool_size=1, smtp_idle_s=30.0)
    mailer = Mailer(settings, clock)
    the_sender = sender.Sender(pool, settings, mailer, SmsGateway(settings))
    try:
        first = await due_confirmations(pool, 3, WINTER_MORNING + timedelta(days=400))
        await drain(the_sender, workers=1)
        assert mailer.connections_opened == 1 and mailer.open_connections == 1

        clock.now += 29.0
        await mailer.prune()
        assert mailer.open_connections == 1  # not idle long enough yet
        clock.now += 1.0
        await mailer.prune()
        assert mailer.open_connections == 0

        second = await due_confirmations(pool, 2, WINTER_MORNING + timedelta(days=400))
        await drain(the_sender, workers=1)
        assert mailer.connections_opened == 2
        clock.now += 60.0  # idle too long, and nobody pruned: the next message does not reuse it
        third = await due_confirmations(pool, 1, WINTER_MORNING + timedelta(days=400))
        await drain(the_sender, workers=1)
        assert mailer.connections_opened == 3
    finally:
        await mailer.close()
    assert sorted(sink.per_connection.values()) == [1, 2, 3]
    assert await outcomes(pool, first + second + third) == Counter({("sent", 1): 6})
