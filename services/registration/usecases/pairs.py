"""The coordinator's say over the pairs: swap, lock, publish. Each is a command event to matching."""

from __future__ import annotations

import uuid

import asyncpg

from services.registration import store
from services.registration.schemas import LockIn, PublishPairsIn, SwapIn
from services.registration.usecases.common import SOURCE, check_time, scope_of, scoped, visible_meeting
from shared import outbox
from shared.auth import Principal
from shared.db import Conn
from shared.errors import Conflict, Unprocessable
from shared.events import LockRequested, Pairing, Payload, PublishRequested, SwapRequested, make_event


async def _open_plan(conn: Conn, principal: Principal, meeting_id: uuid.UUID) -> tuple[asyncpg.Record, Pairing]:
    meeting = await visible_meeting(conn, principal, meeting_id, lock=True)
    if meeting["status"] != "registration_closed":
        raise Conflict(f"the meeting is {meeting['status']}; pairs can be changed after registration closes")
    check_time("change_pairs", meeting)
    row = await store.seating(conn, meeting_id)
    if row is None:
        raise Conflict("no pairs proposed yet; try again in a moment")
    return meeting, Pairing.model_validate(row["proposal"])


def _seated(plan: Pairing) -> dict[uuid.UUID, tuple[int, str]]:
    return {m.registration_id: (pair.number, m.group) for pair in plan.pairs for m in pair.members}


async def _command(conn: Conn, meeting: asyncpg.Record, type_: str, data: Payload) -> uuid.UUID:
    event = make_event(type_, meeting["tenant_id"], data)
    await outbox.enqueue(conn, SOURCE, [(event, meeting["id"])])
    return event.id


async def swap(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: SwapIn) -> tuple[uuid.UUID, int]:
    async with scoped(pool, scope_of(principal)) as conn:
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        seated = _seated(plan)
        a, b = body.registration_ids
        for rid in (a, b):
            if rid not in seated:
                raise Unprocessable(f"registration {rid} is not seated in version {plan.version} of the plan")
        if seated[a][1] != seated[b][1]:
            raise Unprocessable("swap two newcomers or two residents, so every pair keeps one of each")
        if seated[a][0] == seated[b][0]:
            raise Unprocessable("the two people sit in the same pair already")
        data = SwapRequested(meeting_id=meeting_id, tenant_id=meeting["tenant_id"], registration_ids=(a, b))
        return await _command(conn, meeting, "matching.swap_requested", data), plan.version


async def lock(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: LockIn) -> tuple[uuid.UUID, int]:
    async with scoped(pool, scope_of(principal)) as conn:
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        if body.registration_id not in _seated(plan):
            raise Unprocessable(f"registration {body.registration_id} is not seated in version {plan.version}")
        data = LockRequested(
            meeting_id=meeting_id,
            tenant_id=meeting["tenant_id"],
            registration_id=body.registration_id,
            locked=body.locked,
        )
        return await _command(conn, meeting, "matching.lock_requested", data), plan.version


async def publish_pairs(
    pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: PublishPairsIn
) -> tuple[uuid.UUID, int]:
    async with scoped(pool, scope_of(principal)) as conn:
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        if body.version != plan.version:
            raise Conflict(f"the current plan is version {plan.version}; review it and publish that version")
        if plan.status == "published":
            raise Conflict(f"version {plan.version} is published already")
        data = PublishRequested(meeting_id=meeting_id, tenant_id=meeting["tenant_id"], version=plan.version)
        return await _command(conn, meeting, "matching.publish_requested", data), plan.version


async def seating(
    pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID
) -> tuple[asyncpg.Record, asyncpg.Record | None, dict[uuid.UUID, str | None]]:
    """The meeting, its latest plan and the names of the people in it."""
    async with scoped(pool, scope_of(principal)) as conn:
        meeting = await visible_meeting(conn, principal, meeting_id)
        row = await store.seating(conn, meeting_id)
        if row is None:
            return meeting, None, {}
        plan = Pairing.model_validate(row["proposal"])
        ids = [m.participant_id for p in plan.pairs for m in p.members] + [u.participant_id for u in plan.unpaired]
        return meeting, row, await store.names_of(conn, ids)
