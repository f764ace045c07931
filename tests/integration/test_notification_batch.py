"""A batch of consumed records applied set-wise (``planning.apply`` of the whole run) leaves notification's
database exactly as applying its records one by one does, for random interleavings of the event types on a
few keys (two participants, registrations and sign-ups, two meetings), with meeting events and erasures
between them (real PostgreSQL, no broker). Each case is applied both ways in a transaction that is rolled
back, and every table compared."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notification import domain, planning
from shared import db
from shared.events import (
    ContactUpserted,
    Envelope,
    ManageLink,
    MeetingSnapshot,
    ParticipantErased,
    Payload,
    RegistrationChanged,
    SignupClosed,
    SignupRequested,
    make_event,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
MIGRATIONS = Path(planning.__file__).with_name("migrations")
TENANT = uuid.uuid4()
PARTICIPANTS = [uuid.uuid4(), uuid.uuid4()]
REGISTRATIONS = [uuid.uuid4(), uuid.uuid4()]
SIGNUPS = [uuid.uuid4(), uuid.uuid4()]
MEETINGS = [uuid.uuid4(), uuid.uuid4()]
OPS = (
    "contact.upserted",
    "contact.manage_link",
    "contact.signup_requested",
    "contact.signup_closed",
    "registration.confirmed",
    "registration.waitlisted",
    "registration.promoted",
    "registration.cancelled",
    "meeting.published",
    "meeting.registration_closed",
    "participant.erased",
)
# The op, which of the two keys, and a variant (a name, a token, a waiting-list number, a reason).
CASES = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1), st.integers(0, 2)), min_size=1, max_size=16)
EXAMPLES = 60
# The columns compared: every one but generated ids and the times of the writing itself.
TABLES = {
    "contacts": "participant_id, tenant_id, name, email, phone, language, erased_at",
    "manage_links": "participant_id, registration_id, meeting_id, tenant_id, manage_token",
    "signups": "signup_id, tenant_id, meeting_id, name, email, phone, language, confirm_token, expires_at,"
    " closed_at, outcome",
    "registrations": "registration_id, tenant_id, meeting_id, participant_id, status, confirmed_by, confirmed_at",
    "meetings": "meeting_id, status, starts_at",
    "erased_participants": "participant_id, erased_at",
    "notifications": "tenant_id, cause_event_id, participant_id, signup_id, kind, channel, meeting_id,"
    " registration_id, status, last_error, details, CASE WHEN kind = ANY($1::text[]) THEN due_at END",
}


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(database, MIGRATIONS)
    p = await db.create_pool(database, 1, 2)
    yield p
    await p.close()


def record(op: str, k: int, variant: int, starts_at: datetime) -> tuple[Envelope, Payload]:
    """The event of one drawn step."""
    payload: Payload
    if op == "contact.upserted":
        payload = ContactUpserted(
            participant_id=PARTICIPANTS[k], tenant_id=TENANT, name=f"Navn {variant}", email=f"p{k}.{variant}@x.no"
        )
    elif op == "contact.manage_link":
        payload = ManageLink(
            participant_id=PARTICIPANTS[k],
            registration_id=REGISTRATIONS[k],
            meeting_id=MEETINGS[k],
            tenant_id=TENANT,
            manage_token=f"token-{variant}",
        )
    elif op == "contact.signup_requested":
        payload = SignupRequested(
            signup_id=SIGNUPS[k],
            tenant_id=TENANT,
            meeting_id=MEETINGS[k],
            name=f"Navn {variant}",
            email=f"s{k}@x.no" if variant else None,
            phone=None if variant else "+4791234567",
            confirm_token=f"confirm-{variant}",
            expires_at=starts_at,
        )
    elif op == "contact.signup_closed":
        payload = SignupClosed(signup_id=SIGNUPS[k], tenant_id=TENANT, outcome="confirmed" if variant else "expired")
    elif op.startswith("registration."):
        status = {"registration.waitlisted": "waitlisted", "registration.cancelled": "cancelled"}.get(op, "confirmed")
        payload = RegistrationChanged(
            registration_id=REGISTRATIONS[k],
            participant_id=PARTICIPANTS[k],
            meeting_id=MEETINGS[k],
            tenant_id=TENANT,
            group="newcomer",
            status=status,
            language="nb",
            waitlist_position=variant + 1 if op == "registration.waitlisted" else None,
            reason="erasure" if op == "registration.cancelled" and variant == 2 else None,
        )
    elif op.startswith("meeting."):
        payload = MeetingSnapshot(
            meeting_id=MEETINGS[k],
            tenant_id=TENANT,
            title="Kaffe og prat",
            format="standard",
            status="published" if op == "meeting.published" else "registration_closed",
            starts_at=starts_at,
            duration_minutes=105,
            venue={"name": "Biblioteket", "address": "Torvet 6", "kind": "library"},
            capacity={"newcomer": 10, "resident": 10},
        )
    else:
        payload = ParticipantErased(
            participant_id=PARTICIPANTS[k], tenant_id=TENANT, reason="request" if variant else "retention"
        )
    return make_event(op, TENANT, payload), payload


def drawn_cases() -> list[list[tuple[str, int, int]]]:
    """The cases hypothesis draws (applied afterwards: the database work is asynchronous)."""
    cases: list[list[tuple[str, int, int]]] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=CASES)
    def draw(case: list[tuple[str, int, int]]) -> None:
        cases.append(case)

    draw()
    return cases


async def state(conn: db.Conn) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in the compared columns, sorted."""
    found = {}
    for table, columns in TABLES.items():
        args = [sorted(domain.SCHEDULED)] if "$1" in columns else []
        rows = await conn.fetch(f"SELECT {columns} FROM {table}", *args)
        found[table] = sorted((tuple(map(str, row.values())) for row in rows), key=repr)
    return found


async def applied(pool: asyncpg.Pool, records: list[tuple[Envelope, Payload]], set_wise: bool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            if set_wise:
                await planning.apply(conn, records)
            else:
                for one in records:
                    await planning.apply(conn, [one])
            return await state(conn)
        finally:
            await transaction.rollback()


async def test_a_batch_applied_set_wise_equals_its_records_applied_one_by_one(pool: asyncpg.Pool) -> None:
    starts_at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    cases = drawn_cases()
    assert len(cases) >= EXAMPLES // 2
    planned_some = 0
    for case in cases:
        records = [record(op, k, variant, starts_at) for op, k, variant in case]
        one_by_one = await applied(pool, records, set_wise=False)
        together = await applied(pool, records, set_wise=True)
        assert together == one_by_one, case
        planned_some += bool(one_by_one["notifications"])
    assert planned_some > len(cases) // 3  # the cases do plan messages, so the comparison means something


async def test_a_confirmed_then_cancelled_place_in_one_batch_keeps_no_reminder(pool: asyncpg.Pool) -> None:
    starts_at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    steps = [
        ("meeting.published", 0, 0),
        ("registration.confirmed", 0, 0),
        ("contact.signup_requested", 1, 1),
        ("registration.cancelled", 0, 0),
        ("contact.signup_closed", 1, 1),
    ]
    together = await applied(pool, [record(op, k, v, starts_at) for op, k, v in steps], set_wise=True)
    kinds = sorted(row[4] for row in together["notifications"] if row[7] == str(REGISTRATIONS[0]))
    assert kinds == [domain.REGISTRATION_CANCELLED, domain.REGISTRATION_CONFIRMED]
    assert [row[8] for row in together["notifications"] if row[3] == str(SIGNUPS[1])] == ["skipped"]
    assert [row[10] for row in together["signups"]] == ["confirmed"]
