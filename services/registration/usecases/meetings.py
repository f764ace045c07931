"""Meetings: create, edit until registration closes, and move through the lifecycle."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.registration import domain, store
from services.registration.schemas import MeetingIn, MeetingUpdate
from services.registration.usecases import signups
from services.registration.usecases.common import (
    SOURCE,
    check_time,
    now,
    scope_of,
    scoped,
    snapshot,
    visible_meeting,
    visible_tenant,
)
from services.registration.usecases.registrations import promote_into_free_places
from shared import outbox
from shared.auth import Principal
from shared.db import ALL_TENANTS, Conn
from shared.errors import Conflict, NotFound, Unprocessable
from shared.events import Capacity, Envelope, make_event
from shared.formats import FORMATS

EDITABLE_STATES = frozenset({"draft", "published"})
TIME_AND_PLACE = frozenset({"starts_at", "duration_minutes", "venue"})


def _check_timing(tenant: asyncpg.Record, starts_at: Any, duration: int, closes_at: Any) -> None:
    window = domain.DayWindow(tenant["timezone"], tenant["day_starts"], tenant["day_ends"])
    problems = domain.meeting_problems(
        starts_at=starts_at, duration_minutes=duration, registration_closes_at=closes_at, now=now(), window=window
    )
    if problems:
        raise Unprocessable("; ".join(problems))


async def create_meeting(pool: asyncpg.Pool, principal: Principal, slug: str, body: MeetingIn) -> asyncpg.Record:
    fmt = FORMATS[body.format]
    duration = body.duration_minutes or fmt.duration_minutes
    capacity = body.capacity or Capacity(newcomer=fmt.newcomers, resident=fmt.residents)
    async with scoped(pool, scope_of(principal)) as conn:
        tenant = await visible_tenant(conn, principal, slug)
        if tenant["status"] != "active":
            raise Conflict(f"tenant '{slug}' is suspended; the operator can reactivate it")
        _check_timing(tenant, body.starts_at, duration, body.registration_closes_at)
        row = await store.insert_meeting(
            conn,
            id=uuid.uuid4(),
            tenant_id=tenant["id"],
            title=body.title,
            format=body.format,
            starts_at=body.starts_at,
            duration_minutes=duration,
            registration_closes_at=body.registration_closes_at,
            venue=body.venue.model_dump(),
            capacity_newcomer=capacity.newcomer,
            capacity_resident=capacity.resident,
            invitation_code=domain.new_invitation_code(),
        )
        created = await store.meeting(conn, row["id"])
        assert created is not None
        await outbox.enqueue(
            conn, SOURCE, [(make_event("meeting.created", tenant["id"], snapshot(created)), row["id"])]
        )
        return created


async def list_meetings(
    pool: asyncpg.Pool, principal: Principal, slug: str
) -> tuple[list[asyncpg.Record], dict[uuid.UUID, dict[str, int]]]:
    async with scoped(pool, scope_of(principal)) as conn:
        tenant = await visible_tenant(conn, principal, slug)
        rows = await store.meetings_of_tenant(conn, tenant["id"])
        return rows, await store.counts_by_group(conn, [r["id"] for r in rows])


async def get_meeting(
    pool: asyncpg.Pool, principal: Principal | None, meeting_id: uuid.UUID
) -> tuple[asyncpg.Record, dict[str, int], bool]:
    """The meeting, its counts, and whether the caller is its coordinator. Anyone sees it once published."""
    async with scoped(pool, scope_of(principal), public_meeting=meeting_id) as conn:
        row = await store.meeting(conn, meeting_id)
        coordinator = row is not None and principal is not None and principal.can_see(row["tenant_id"])
        if row is None or not (coordinator or row["status"] != "draft"):
            raise NotFound(f"no meeting {meeting_id}")
        counts = await store.counts_by_group(conn, [meeting_id])
        return row, counts[meeting_id], coordinator


async def update_meeting(
    pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: MeetingUpdate
) -> asyncpg.Record:
    async with scoped(pool, scope_of(principal)) as conn:
        row = await visible_meeting(conn, principal, meeting_id, lock=True)
        if row["status"] not in EDITABLE_STATES:
            raise Conflict(f"the meeting is {row['status']}; it can be edited until registration closes")
        check_time("edit", row)
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        if "capacity" in changes:
            changes["capacity_newcomer"] = changes["capacity"]["newcomer"]
            changes["capacity_resident"] = changes.pop("capacity")["resident"]
        changed = {k for k, v in changes.items() if row[k] != v and not (k == "venue" and store.venue_of(row) == v)}
        if not changed:
            return row
        tenant = await store.tenant_by_id(conn, row["tenant_id"])
        assert tenant is not None
        merged = {**dict(row), **changes}
        _check_timing(tenant, merged["starts_at"], merged["duration_minutes"], merged["registration_closes_at"])
        await _check_capacity(conn, row, merged)
        updated = await store.update_meeting(conn, meeting_id, {k: changes[k] for k in changed})
        fields = sorted({"capacity" if k.startswith("capacity_") else k for k in changed})
        event = make_event(
            "meeting.changed", row["tenant_id"], snapshot(updated).model_copy(update={"changes": fields})
        )
        events: list[tuple[Envelope, object]] = [(event, meeting_id)]
        for group in ("newcomer", "resident"):
            events += await promote_into_free_places(conn, updated, group, event.correlation_id)
        await outbox.enqueue(conn, SOURCE, events)
        return updated


async def _check_capacity(conn: Conn, row: asyncpg.Record, merged: dict[str, Any]) -> None:
    for group in ("newcomer", "resident"):
        confirmed = await store.count_confirmed(conn, row["id"], group)
        if merged[f"capacity_{group}"] < confirmed:
            raise Conflict(
                f"{confirmed} {group}s are confirmed already; the capacity cannot go below that"
                " (cancel registrations first)"
            )


async def transition(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, action: str) -> asyncpg.Record:
    async with scoped(pool, scope_of(principal)) as conn:
        row = await visible_meeting(conn, principal, meeting_id, lock=True)
        try:
            target = domain.next_state(action, row["status"])
        except domain.RuleViolation as exc:
            raise Conflict(str(exc)) from exc
        if action in domain.TIMED_ACTIONS:
            check_time(action, row)
        return await _move(conn, meeting_id, target)


async def _move(conn: Conn, meeting_id: uuid.UUID, target: str) -> asyncpg.Record:
    """Set the meeting's status and emit its event; closing carries the roster (matching pairs it). When
    sign-up ends, the sign-ups still waiting for confirmation are closed with it."""
    if target in ("registration_closed", "cancelled"):
        await signups.close_waiting_of_meeting(conn, meeting_id)
    row = await store.set_meeting_status(conn, meeting_id, target)
    roster = await store.confirmed_registration_ids(conn, meeting_id) if target == "registration_closed" else None
    event = make_event(domain.EVENT_OF_STATE[target], row["tenant_id"], snapshot(row, roster))
    await outbox.enqueue(conn, SOURCE, [(event, meeting_id)])
    return row


async def close_due(pool: asyncpg.Pool, at: datetime | None = None, batch: int = 100) -> int:
    """Close registration of every published meeting whose closing time (domain.registration_closes) has
    come, exactly as the coordinator's close does: status, then ``meeting.registration_closed`` with the
    roster. Returns how many were closed. Safe on every replica at once: due meetings are claimed
    FOR UPDATE SKIP LOCKED, so each is closed once."""
    at = at or now()
    closed = 0
    while True:
        async with scoped(pool, ALL_TENANTS) as conn:
            due = await store.claim_meetings_due_to_close(conn, at, batch)
            for meeting_id in due:
                await _move(conn, meeting_id, "registration_closed")
        closed += len(due)
        if len(due) < batch:
            return closed


async def new_invitation_code(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID) -> asyncpg.Record:
    """Replace the meeting's invitation code (e.g. after it was shared too widely); the old one stops working.

    Raises NotFound for a meeting the coordinator cannot see, Conflict once sign-up is over.
    """
    async with scoped(pool, scope_of(principal)) as conn:
        row = await visible_meeting(conn, principal, meeting_id, lock=True)
        if row["status"] not in EDITABLE_STATES:
            raise Conflict(f"the meeting is {row['status']}; newcomers can no longer sign up, so no new code")
        check_time("new_invitation_code", row)
        await store.set_invitation_code(conn, meeting_id, domain.new_invitation_code())
        updated = await store.meeting(conn, meeting_id)
        assert updated is not None
        return updated
