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
    clock_of,
    now,
    refuse,
    scope_of,
    scoped,
    snapshot,
    visible_meeting,
    visible_tenant,
)
from services.registration.usecases.registrations import promote_into_free_places
from services.registration.views import MeetingView
from shared import outbox
from shared.auth import Principal
from shared.db import ALL_TENANTS, Conn
from shared.errors import Conflict, NotFound, Unprocessable
from shared.events import Capacity, Envelope, MeetingStatus, make_event
from shared.formats import FORMATS

TIME_AND_PLACE = frozenset({"starts_at", "duration_minutes", "venue"})


class TimingRefused(Unprocessable):
    """Unprocessable (422) for a meeting's timing; ``problems`` gives each problem's field and code
    (``domain.meeting_timing_problems``), ``str(exc)`` the API's sentences joined by "; "."""

    def __init__(self, problems: list[domain.MeetingProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def _check_timing(tenant: asyncpg.Record, starts_at: Any, duration: int, closes_at: Any) -> None:
    """Raise TimingRefused (Unprocessable) with every timing problem (domain.meeting_timing_problems) in the
    tenant's daytime."""
    window = domain.DayWindow(tenant["timezone"], tenant["day_starts"], tenant["day_ends"])
    problems = domain.meeting_timing_problems(
        starts_at=starts_at, duration_minutes=duration, registration_closes_at=closes_at, now=now(), window=window
    )
    if problems:
        raise TimingRefused(problems)


async def _view(conn: Conn, row: asyncpg.Record, *, coordinator: bool = True) -> MeetingView:
    """The meeting as its coordinator (or, without ``coordinator``, anyone) sees it, counted in this
    transaction."""
    counts = await store.counts_by_group(conn, [row["id"]])
    return MeetingView.of(row, counts[row["id"]], coordinator=coordinator)


async def create_meeting(pool: asyncpg.Pool, principal: Principal, slug: str, body: MeetingIn) -> MeetingView:
    """A new meeting in ``draft`` for the tenant ``slug``; the format sets the default capacity and length
    (minutes). Raises NotFound (a tenant the principal cannot see), Conflict (the tenant is suspended),
    Unprocessable (timing: daytime, future, closing time)."""
    fmt = FORMATS[body.format]
    duration = body.duration_minutes or fmt.duration_minutes
    capacity = body.capacity or Capacity(newcomer=fmt.newcomers, resident=fmt.residents)
    async with scoped(pool, scope_of(principal)) as conn:
        tenant = await visible_tenant(conn, principal, slug)
        refuse(domain.new_meeting_problem(tenant["status"], slug))
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
        return MeetingView.of(created)  # nobody is signed up yet


async def list_meetings(pool: asyncpg.Pool, principal: Principal, slug: str) -> list[MeetingView]:
    """The tenant's meetings (by start time) with their counts. Raises NotFound (a tenant the principal
    cannot see)."""
    async with scoped(pool, scope_of(principal)) as conn:
        tenant = await visible_tenant(conn, principal, slug)
        rows = await store.meetings_of_tenant(conn, tenant["id"])
        counts = await store.counts_by_group(conn, [r["id"] for r in rows])
        return [MeetingView.of(r, counts[r["id"]]) for r in rows]


async def get_meeting(pool: asyncpg.Pool, principal: Principal | None, meeting_id: uuid.UUID) -> MeetingView:
    """The meeting and its counts; the invitation code only for its coordinator. Anyone sees it once
    published (domain.publicly_visible). Raises NotFound otherwise."""
    async with scoped(pool, scope_of(principal), public_meeting=meeting_id) as conn:
        row = await store.meeting(conn, meeting_id)
        coordinator = row is not None and principal is not None and principal.can_see(row["tenant_id"])
        if row is None or not (coordinator or domain.publicly_visible(row["status"])):
            raise NotFound(f"no meeting {meeting_id}")
        return await _view(conn, row, coordinator=coordinator)


async def coordinator_meeting(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID) -> MeetingView:
    """The meeting with its counts and invitation code, for its own tenant's coordinator (or the operator)
    only, whatever its status. Raises NotFound for anyone else, even once the meeting is public."""
    async with scoped(pool, scope_of(principal)) as conn:
        return await _view(conn, await visible_meeting(conn, principal, meeting_id))


async def update_meeting(
    pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: MeetingUpdate
) -> MeetingView:
    """Edit the meeting until registration closes (domain.edit_problem); more places promote people from
    the waiting list. Returns the meeting as it is after the edit, counted in the same transaction.
    Raises NotFound, Conflict (not editable now, or a capacity below the confirmed places), Unprocessable
    (timing)."""
    async with scoped(pool, scope_of(principal)) as conn:
        row = await visible_meeting(conn, principal, meeting_id, lock=True)
        refuse(domain.edit_problem(row["status"], clock_of(row), now()))
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        if "capacity" in changes:
            changes["capacity_newcomer"] = changes["capacity"]["newcomer"]
            changes["capacity_resident"] = changes.pop("capacity")["resident"]
        changed = {k for k, v in changes.items() if row[k] != v and not (k == "venue" and store.venue_of(row) == v)}
        if not changed:
            return await _view(conn, row)
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
        for group in domain.GROUPS:
            events += await promote_into_free_places(conn, updated, group, event.correlation_id)
        await outbox.enqueue(conn, SOURCE, events)
        return await _view(conn, updated)


class CapacityRefused(Conflict):
    """Conflict (409): a group's capacity below its confirmed places (``domain.capacity_problem``); ``group``
    and ``confirmed`` (people) say which and how many, ``str(exc)`` the API's sentence."""

    def __init__(self, group: str, confirmed: int, message: str) -> None:
        super().__init__(message)
        self.group = group
        self.confirmed = confirmed


async def _check_capacity(conn: Conn, row: asyncpg.Record, merged: dict[str, Any]) -> None:
    for group in domain.GROUPS:
        confirmed = await store.count_confirmed(conn, row["id"], group)
        problem = domain.capacity_problem(group, merged[f"capacity_{group}"], confirmed)
        if problem:
            raise CapacityRefused(group, confirmed, problem)


async def transition(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, action: str) -> MeetingView:
    """Lifecycle ``action`` (publish, close, cancel, complete; domain.next_state), checked against the
    meeting's clock too. Returns the meeting as it is after it. Raises NotFound, Conflict (not allowed
    from its status, or too early or too late)."""
    async with scoped(pool, scope_of(principal)) as conn:
        row = await visible_meeting(conn, principal, meeting_id, lock=True)
        try:
            target = domain.next_state(action, row["status"])
        except domain.RuleViolation as exc:
            raise Conflict(str(exc)) from exc
        if action in domain.TIMED_ACTIONS:
            check_time(action, row)
        return await _view(conn, await _move(conn, meeting_id, target))


async def _move(conn: Conn, meeting_id: uuid.UUID, target: MeetingStatus) -> asyncpg.Record:
    """Set the meeting's status and emit its event; closing carries the roster (matching pairs it). When
    sign-up ends, the sign-ups still waiting for confirmation are closed with it."""
    if target in (MeetingStatus.REGISTRATION_CLOSED, MeetingStatus.CANCELLED):
        await signups.close_waiting_of_meeting(conn, meeting_id)
    row = await store.set_meeting_status(conn, meeting_id, target)
    closing = target == MeetingStatus.REGISTRATION_CLOSED
    roster = await store.confirmed_registration_ids(conn, meeting_id) if closing else None
    event = make_event(domain.EVENT_OF_STATE[target], row["tenant_id"], snapshot(row, roster))
    await outbox.enqueue(conn, SOURCE, [(event, meeting_id)])
    return row


async def close_due(pool: asyncpg.Pool, at: datetime | None = None, batch: int = 100) -> int:
    """Close registration of every published meeting whose closing time (domain.registration_closes) has
    come, exactly as the coordinator's close does: status, then ``meeting.registration_closed`` with the
    roster. Returns how many were closed. Safe on every replica at once: due meetings are claimed
    FOR UPDATE SKIP LOCKED, so each is closed once. Raises nothing of its own."""
    at = at or now()
    closed = 0
    while True:
        async with scoped(pool, ALL_TENANTS) as conn:
            due = await store.claim_meetings_due_to_close(conn, at, batch)
            for meeting_id in due:
                await _move(conn, meeting_id, MeetingStatus.REGISTRATION_CLOSED)
        closed += len(due)
        if len(due) < batch:
            return closed


async def new_invitation_code(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID) -> MeetingView:
    """Replace the meeting's invitation code (e.g. after it was shared too widely); the old one stops working.

    Returns the meeting with the new code. Raises NotFound for a meeting the coordinator cannot see,
    Conflict once sign-up is over (domain.invitation_code_problem).
    """
    async with scoped(pool, scope_of(principal)) as conn:
        row = await visible_meeting(conn, principal, meeting_id, lock=True)
        refuse(domain.invitation_code_problem(row["status"], clock_of(row), now()))
        await store.set_invitation_code(conn, meeting_id, domain.new_invitation_code())
        updated = await store.meeting(conn, meeting_id)
        assert updated is not None
        return await _view(conn, updated)
