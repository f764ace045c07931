"""The meeting day and after, as the coordinator's console sees it: who is expected at check-in (in seat order
when there is a plan), and the figures of a meeting and of the tenant's meetings from registration's own
rows (reporting keeps the national figures)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.registration import domain, store
from services.registration.usecases import meetings
from services.registration.usecases.common import clock_of, now, scope_of, scoped, visible_meeting
from services.registration.views import MeetingView, RegistrationLine
from shared.auth import Principal
from shared.db import Conn
from shared.errors import NotFound
from shared.events import Pairing

GROUP_ORDER = ("newcomer", "resident")
STATUSES = ("confirmed", "attended", "no_show", "waitlisted", "cancelled")


@dataclass(frozen=True)
class Expected:
    """One person expected at the meeting (a confirmed place, or attendance recorded already), with their
    pair number, seat and side when the meeting has a plan (else None)."""

    line: RegistrationLine
    pair: int | None
    seat: int | None
    side: str | None


@dataclass(frozen=True)
class CheckIn:
    """The check-in list of a meeting: ``people`` in seat order (pair, then seat; anyone outside the plan
    after them by name), or by name without a plan; ``opens_at`` is the start when attendance cannot be
    recorded yet (else None); ``completable_at`` is the end when the meeting cannot be completed yet for
    its time (else None); ``can_complete`` whether its status allows completing (sign-up closed)."""

    meeting: MeetingView
    people: list[Expected]
    has_plan: bool
    opens_at: datetime | None
    completable_at: datetime | None
    can_complete: bool

    @property
    def here(self) -> int:
        return sum(1 for p in self.people if p.line.status == "attended")

    @property
    def not_here(self) -> int:
        return sum(1 for p in self.people if p.line.status == "no_show")


def _name_key(line: RegistrationLine) -> tuple[str, str]:
    return ((line.name or "").casefold(), str(line.id))


async def check_in(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID) -> CheckIn:
    """The meeting's check-in list (see ``CheckIn``); who is expected follows ``domain.ATTENDANCE_FROM`` and
    when check-in opens and completion is allowed follows ``domain.time_problem``. Raises NotFound (a meeting
    the principal cannot see)."""
    async with scoped(pool, scope_of(principal)) as conn:
        row = await visible_meeting(conn, principal, meeting_id)
        counts = await store.counts_by_group(conn, [meeting_id])
        lines = [
            RegistrationLine.of(r)
            for r in await store.registrations_of_meeting(conn, meeting_id)
            if r["status"] in domain.ATTENDANCE_FROM
        ]
        seating = await store.seating(conn, meeting_id)
    seats: dict[uuid.UUID, tuple[int, int, str]] = {}
    if seating is not None:
        plan = Pairing.model_validate(seating["proposal"])
        for pair in plan.pairs:
            for member in pair.members:
                seats[member.registration_id] = (pair.number, member.seat, member.side)
    people = [
        Expected(line, *seats[line.id]) if line.id in seats else Expected(line, None, None, None) for line in lines
    ]
    people.sort(
        key=lambda p: (0, p.pair, p.seat, *_name_key(p.line)) if p.pair is not None else (1, 0, 0, *_name_key(p.line))
    )
    clock, at = clock_of(row), now()
    return CheckIn(
        meeting=MeetingView.of(row, counts[meeting_id]),
        people=people,
        has_plan=bool(seats),
        opens_at=row["starts_at"] if domain.time_problem("attendance", clock, at) else None,
        completable_at=row["ends_at"] if domain.time_problem("complete", clock, at) else None,
        can_complete="complete" in domain.lifecycle_actions(row["status"]),
    )


async def registration_of_meeting(
    pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, registration_id: uuid.UUID
) -> RegistrationLine:
    """The registration, if it belongs to this meeting and the principal may see it. Raises NotFound."""
    async with scoped(pool, scope_of(principal)) as conn:
        await visible_meeting(conn, principal, meeting_id)
        reg = await store.registration(conn, registration_id)
        if reg is None or reg["meeting_id"] != meeting_id:
            raise NotFound(f"no registration {registration_id} in meeting {meeting_id}")
        return RegistrationLine.of(reg)


@dataclass(frozen=True)
class MeetingFigures:
    """A meeting's figures from registration: ``counts[group][status]`` for every group (newcomer, resident)
    and status (``STATUSES``), ``feedback`` answers and their ``mean_rating`` (1-5; None without answers)."""

    meeting: MeetingView
    counts: dict[str, dict[str, int]]
    feedback: int
    mean_rating: float | None

    def total(self, status: str) -> int:
        return sum(self.counts[g][status] for g in GROUP_ORDER)


async def _figures(conn: Conn, views: list[MeetingView]) -> list[MeetingFigures]:
    ids = [v.id for v in views]
    counts = await store.status_counts(conn, ids)
    feedback = await store.feedback_summary(conn, ids)
    return [
        MeetingFigures(
            meeting=v,
            counts={g: {s: counts[v.id].get(f"{s}:{g}", 0) for s in STATUSES} for g in GROUP_ORDER},
            feedback=feedback[v.id][0],
            mean_rating=feedback[v.id][1],
        )
        for v in views
    ]


async def meeting_figures(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID) -> MeetingFigures:
    """The meeting's figures (see ``MeetingFigures``). Raises NotFound (a meeting the principal cannot see)."""
    async with scoped(pool, scope_of(principal)) as conn:
        row = await visible_meeting(conn, principal, meeting_id)
        counts = await store.counts_by_group(conn, [meeting_id])
        (figures,) = await _figures(conn, [MeetingView.of(row, counts[meeting_id])])
        return figures


async def tenant_figures(pool: asyncpg.Pool, principal: Principal, slug: str) -> list[MeetingFigures]:
    """The figures of each of the tenant's meetings, by start time. Raises NotFound (a tenant the principal
    cannot see)."""
    views = await meetings.list_meetings(pool, principal, slug)
    async with scoped(pool, scope_of(principal)) as conn:
        return await _figures(conn, views)
