"""Events of one meeting applied side by side, as two replicas do when a meeting's events and its
registrations' events sit on partitions that different replicas own (real PostgreSQL, no broker)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.notification import domain, planning, store
from shared import db
from shared.events import (
    ContactUpserted,
    Envelope,
    MeetingSnapshot,
    ParticipantErased,
    RegistrationChanged,
    make_event,
)
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")
MIGRATIONS = Path(planning.__file__).with_name("migrations")
TENANT = uuid.uuid4()


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(database, MIGRATIONS)
    p = await db.create_pool(database, 2, 4)
    yield p
    await p.close()


def meeting_event(meeting_id: uuid.UUID) -> tuple[Envelope, MeetingSnapshot]:
    snapshot = MeetingSnapshot(
        meeting_id=meeting_id,
        tenant_id=TENANT,
        title="Kaffe og prat",
        format="standard",
        status="published",
        starts_at=datetime.now(UTC) + timedelta(days=3),
        duration_minutes=105,
        venue={"name": "Biblioteket", "address": "Torvet 6", "kind": "library"},
        capacity={"newcomer": 10, "resident": 10},
    )
    return make_event("meeting.published", TENANT, snapshot), snapshot


def confirmed_event(meeting_id: uuid.UUID, participant_id: uuid.UUID) -> tuple[Envelope, RegistrationChanged]:
    reg = RegistrationChanged(
        registration_id=uuid.uuid4(),
        participant_id=participant_id,
        meeting_id=meeting_id,
        tenant_id=TENANT,
        group="resident",
        status="confirmed",
        language="nb",
    )
    return make_event("registration.confirmed", TENANT, reg), reg


async def kinds(pool: asyncpg.Pool, participant_id: uuid.UUID) -> list[str]:
    rows = await pool.fetch("SELECT kind FROM notifications WHERE participant_id = $1 ORDER BY kind", participant_id)
    return [r["kind"] for r in rows]


async def test_a_sign_up_applied_while_its_meeting_arrives_still_gets_its_reminders(pool: asyncpg.Pool) -> None:
    meeting, participant = uuid.uuid4(), uuid.uuid4()
    m_event, snapshot = meeting_event(meeting)
    r_event, reg = confirmed_event(meeting, participant)
    async with pool.acquire() as first:
        tx = first.transaction()
        await tx.start()
        await planning.meeting_event(first, m_event, snapshot)  # not committed yet

        async def apply_sign_up() -> None:
            async with pool.acquire() as second, second.transaction():
                await planning.registration_changed(second, r_event, reg)

        sign_up = asyncio.create_task(apply_sign_up())
        blocked = await eventually(lambda: waiting_for(pool, "Lock"), timeout_s=10, every_s=0.05)
        assert not sign_up.done(), blocked  # it waits for the meeting's transaction
        await tx.commit()
        await asyncio.wait_for(sign_up, 10)
    assert await kinds(pool, participant) == [
        "feedback_request",
        "registration_confirmed",
        "reminder_24h",
        "reminder_2h",
    ]


async def test_nothing_planned_during_an_erasure_is_ever_sent(pool: asyncpg.Pool) -> None:
    meeting, participant = uuid.uuid4(), uuid.uuid4()
    m_event, snapshot = meeting_event(meeting)
    async with pool.acquire() as conn, conn.transaction():
        await planning.meeting_event(conn, m_event, snapshot)
        contact = ContactUpserted(participant_id=participant, tenant_id=TENANT, name="Kari", email="kari@example.no")
        await planning.contact_upserted(conn, contact)
    r_event, reg = confirmed_event(meeting, participant)
    erased = ParticipantErased(participant_id=participant, tenant_id=TENANT)
    e_event = make_event("participant.erased", TENANT, erased)
    async with pool.acquire() as first, pool.acquire() as second:
        t1, t2 = first.transaction(), second.transaction()
        await t1.start()
        await t2.start()
        await planning.participant_erased(first, e_event, erased)
        await planning.registration_changed(second, r_event, reg)  # does not see the erasure yet
        await t1.commit()
        await t2.commit()
    assert await claimable(pool) == ["erasure_confirmed"]
    async with pool.acquire() as conn, conn.transaction():  # what the sender does once it went out
        row = await store.claim_due(conn, datetime.now(UTC), domain.WITH_MANAGE_LINK, 0.0)
        assert row is not None and row["kind"] == "erasure_confirmed"
        await store.mark_sent(conn, row["id"], "email")
        await store.delete_erased_contact(conn, participant)
    rows = await pool.fetch("SELECT kind, status FROM notifications WHERE participant_id = $1", participant)
    assert [tuple(r) for r in rows] == [("erasure_confirmed", "sent")]
    assert await pool.fetchval("SELECT count(*) FROM contacts") == 0


async def waiting_for(pool: asyncpg.Pool, wait_event_type: str) -> list[str]:
    """The queries of the other sessions of this database that wait (for a lock: ``Lock``). Asked outside any
    transaction: a transaction sees pg_stat_activity as it was at its first look."""
    rows = await pool.fetch(
        "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND wait_event_type = $1",
        wait_event_type,
    )
    return [r["query"] for r in rows]


async def claimable(pool: asyncpg.Pool) -> list[str]:
    """The kinds the sender would pick now, found with its own query (and nothing kept)."""
    found = []
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            while (row := await store.claim_due(conn, datetime.now(UTC), domain.WITH_MANAGE_LINK, 0.0)) is not None:
                found.append(row["kind"])
                await store.mark_skipped(conn, row["id"], "counted")
        finally:
            await tx.rollback()
    return found
