"""The coordinator's say over the pairs: swap, lock, publish. Each is a command event to matching."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.registration import domain, store
from services.registration.schemas import LockIn, PublishPairsIn, SwapIn
from services.registration.usecases.common import SOURCE, clock_of, now, refuse, scope_of, scoped, visible_meeting
from services.registration.views import CommandReceipt, MeetingView, SeatingView
from shared import outbox
from shared.auth import Principal
from shared.db import Conn
from shared.errors import Conflict, NotFound, Unprocessable
from shared.events import LockRequested, Pairing, Payload, PublishRequested, SwapRequested, make_event


async def _open_plan(conn: Conn, principal: Principal, meeting_id: uuid.UUID) -> tuple[asyncpg.Record, Pairing]:
    meeting = await visible_meeting(conn, principal, meeting_id, lock=True)
    refuse(domain.pairs_change_problem(meeting["status"], clock_of(meeting), now()))
    row = await store.seating(conn, meeting_id)
    if row is None:
        raise Conflict("no pairs proposed yet; try again in a moment")
    return meeting, Pairing.model_validate(row["proposal"])


def _seated(plan: Pairing) -> dict[uuid.UUID, tuple[int, str]]:
    return {m.registration_id: (pair.number, m.group) for pair in plan.pairs for m in pair.members}


async def _command(conn: Conn, meeting: asyncpg.Record, type_: str, data: Payload, plan: Pairing) -> CommandReceipt:
    event = make_event(type_, meeting["tenant_id"], data)
    await outbox.enqueue(conn, SOURCE, [(event, meeting["id"])])
    return CommandReceipt(event.id, plan.version)


async def swap(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: SwapIn) -> CommandReceipt:
    """Ask matching to swap two newcomers (or two residents) of the current plan; both pairs are then
    locked. Raises NotFound, Conflict (domain.pairs_change_problem, or no plan yet), Unprocessable (not
    seated, two groups, or one pair)."""
    async with scoped(pool, scope_of(principal)) as conn:
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        a, b = body.registration_ids
        refuse(domain.swap_problem(_seated(plan), a, b, plan.version), Unprocessable)
        data = SwapRequested(meeting_id=meeting_id, tenant_id=meeting["tenant_id"], registration_ids=(a, b))
        return await _command(conn, meeting, "matching.swap_requested", data, plan)


async def lock(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: LockIn) -> CommandReceipt:
    """Ask matching to lock (or unlock) a seated person's pair. Raises NotFound, Conflict (as ``swap``),
    Unprocessable (not seated)."""
    async with scoped(pool, scope_of(principal)) as conn:
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        refuse(domain.lock_problem(_seated(plan), body.registration_id, plan.version), Unprocessable)
        data = LockRequested(
            meeting_id=meeting_id,
            tenant_id=meeting["tenant_id"],
            registration_id=body.registration_id,
            locked=body.locked,
        )
        return await _command(conn, meeting, "matching.lock_requested", data, plan)


async def publish_pairs(
    pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: PublishPairsIn
) -> CommandReceipt:
    """Ask matching to announce version ``body.version`` of the plan. Raises NotFound, Conflict (as
    ``swap``, another version is current, or this one is published already)."""
    async with scoped(pool, scope_of(principal)) as conn:
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        refuse(domain.publish_pairs_problem(body.version, plan.version, plan.status))
        data = PublishRequested(meeting_id=meeting_id, tenant_id=meeting["tenant_id"], version=plan.version)
        return await _command(conn, meeting, "matching.publish_requested", data, plan)


async def seating(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID) -> SeatingView:
    """The meeting's latest long-table plan with the names of the people in it. Raises NotFound (a meeting
    the principal cannot see, or no plan yet: matching proposes one when registration closes)."""
    async with scoped(pool, scope_of(principal)) as conn:
        meeting = await visible_meeting(conn, principal, meeting_id)
        row = await store.seating(conn, meeting_id)
        if row is None:
            raise NotFound("no seating yet: matching proposes the pairs when registration closes")
        plan = Pairing.model_validate(row["proposal"])
        ids = [m.participant_id for p in plan.pairs for m in p.members] + [u.participant_id for u in plan.unpaired]
        names = await store.names_of(conn, ids)
        return SeatingView(MeetingView.of(meeting), _named_plan(meeting["id"], row, names))


def _named_plan(meeting_id: uuid.UUID, row: asyncpg.Record, names: dict[uuid.UUID, str | None]) -> dict[str, Any]:
    """The stored proposal as the seating answer: every member with their name (None once erased)."""
    proposal = row["proposal"]

    def named(member: dict[str, Any]) -> dict[str, Any]:
        return {**member, "name": names.get(uuid.UUID(member["participant_id"]))}

    return {
        "meeting_id": str(meeting_id),
        "version": row["version"],
        "status": proposal.get("status", "proposed"),
        "total_score": proposal.get("total_score", 0.0),
        "changed": proposal.get("changed", []),
        "pairs": [{**p, "members": [named(m) for m in p["members"]]} for p in proposal["pairs"]],
        "unpaired": [named(u) for u in proposal.get("unpaired", [])],
    }
