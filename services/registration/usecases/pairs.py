"""The coordinator's say over the pairs: swap, lock, publish. Each is a command event to matching."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg

from services.registration import domain, store
from services.registration.schemas import LockIn, PublishPairsIn, SwapIn
from services.registration.usecases.common import SOURCE, clock_of, now, scope_of, scoped, visible_meeting
from services.registration.views import CommandReceipt, MeetingView, SeatingView
from shared import outbox
from shared.auth import Principal
from shared.db import Conn
from shared.errors import Conflict, NotFound, Unprocessable
from shared.events import LockRequested, Pairing, Payload, PublishRequested, SwapRequested, make_event


class PlanConflict(Conflict):
    """A command on the pairs refused for the state of the meeting or its plan (409), with ``code`` for a
    page to word: ``cannot_change_now``, ``no_plan``, ``old_version``, ``published_already``."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.code = code


class PlanUnprocessable(Unprocessable):
    """A command on the pairs that names the wrong people (422), with ``code`` for a page to word:
    ``not_seated``, ``two_groups``, ``same_pair``."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.code = code


async def _open_plan(conn: Conn, principal: Principal, meeting_id: uuid.UUID) -> tuple[asyncpg.Record, Pairing]:
    meeting = await visible_meeting(conn, principal, meeting_id, lock=True)
    problem = domain.pairs_change_problem(meeting["status"], clock_of(meeting), now())
    if problem:
        raise PlanConflict(problem, "cannot_change_now")
    row = await store.seating(conn, meeting_id)
    if row is None:
        raise PlanConflict("no pairs proposed yet; try again in a moment", "no_plan")
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
        problem = domain.swap_problem(_seated(plan), a, b, plan.version)
        if problem:
            raise PlanUnprocessable(problem, domain.swap_problem_code(_seated(plan), a, b) or "not_seated")
        data = SwapRequested(meeting_id=meeting_id, tenant_id=meeting["tenant_id"], registration_ids=(a, b))
        return await _command(conn, meeting, "matching.swap_requested", data, plan)


async def lock(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: LockIn) -> CommandReceipt:
    """Ask matching to lock (or unlock) a seated person's pair. Raises NotFound, Conflict (as ``swap``),
    Unprocessable (not seated)."""
    async with scoped(pool, scope_of(principal)) as conn:
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        problem = domain.lock_problem(_seated(plan), body.registration_id, plan.version)
        if problem:
            raise PlanUnprocessable(problem, "not_seated")
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
        problem = domain.publish_pairs_problem(body.version, plan.version, plan.status)
        if problem:
            code = domain.publish_pairs_problem_code(body.version, plan.version, plan.status)
            raise PlanConflict(problem, code or "old_version")
        data = PublishRequested(meeting_id=meeting_id, tenant_id=meeting["tenant_id"], version=plan.version)
        return await _command(conn, meeting, "matching.publish_requested", data, plan)


async def seating(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID) -> SeatingView:
    """The meeting's latest long-table plan with the names of the people in it. Raises NotFound (a meeting
    the principal cannot see, or no plan yet: matching proposes one when registration closes)."""
    meeting, plan = await seating_if_any(pool, principal, meeting_id)
    if plan is None:
        raise NotFound("no seating yet: matching proposes the pairs when registration closes")
    return SeatingView(meeting, plan)


async def seating_if_any(
    pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID
) -> tuple[MeetingView, dict[str, Any] | None]:
    """The meeting (counted) and its latest plan with names as ``seating`` gives it, or None before matching
    proposed one. Raises NotFound for a meeting the principal cannot see."""
    async with scoped(pool, scope_of(principal)) as conn:
        meeting = await visible_meeting(conn, principal, meeting_id)
        view = MeetingView.of(meeting, (await store.counts_by_group(conn, [meeting_id])).get(meeting_id))
        row = await store.seating(conn, meeting_id)
        if row is None:
            return view, None
        plan = Pairing.model_validate(row["proposal"])
        ids = [m.participant_id for p in plan.pairs for m in p.members] + [u.participant_id for u in plan.unpaired]
        names = await store.names_of(conn, ids)
        return view, _named_plan(meeting["id"], row, names)


async def wait_for_plan(
    pool: asyncpg.Pool,
    principal: Principal,
    meeting_id: uuid.UUID,
    based_on: int,
    *,
    published: bool = False,
    timeout_s: float = 10.0,
    poll_s: float = 0.2,
) -> bool:
    """Wait for matching's answer to a command based on plan version ``based_on``: a later version, or with
    ``published`` that version announced. Polls the kept plan every ``poll_s`` seconds for at most
    ``timeout_s`` seconds. True when the answer came, False when it has not come yet (matching may still be
    working, or it ignored the command). Raises NotFound for a meeting the principal cannot see."""
    deadline = time.monotonic() + timeout_s
    while True:
        async with scoped(pool, scope_of(principal)) as conn:
            await visible_meeting(conn, principal, meeting_id)
            state = await store.seating_state(conn, meeting_id)
        if state is not None and (
            state["version"] > based_on
            or (published and state["version"] == based_on and state["status"] == "published")
        ):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)


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
