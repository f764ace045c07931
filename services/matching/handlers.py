"""Events matching consumes, and the seating plans it publishes.

- ``meeting.registration_closed`` (with its roster) -> the first proposal, once every registration on
  the roster is known (the roster travels on fmf.meetings.v1 and the registrations on
  fmf.registrations.v1, which Kafka does not order against each other).
- a late cancellation or promotion -> a re-match that keeps every pair still whole.
- the coordinator's commands (swap, lock, publish) -> a new version, or the published plan.
"""

from __future__ import annotations

import logging
import time
import uuid

import asyncpg

from services.matching import pairing, plans, store
from shared import metrics, outbox, tenancy, topics
from shared.consumer import Handlers, route, route_batch
from shared.db import Conn
from shared.events import (
    MEETING_EVENTS,
    PLACE_EVENTS,
    Envelope,
    LockRequested,
    MeetingSnapshot,
    Pairing,
    PublishRequested,
    RegistrationChanged,
    SwapRequested,
)
from shared.formats import FORMATS

log = logging.getLogger(__name__)
SUBSCRIBES_TO = (topics.TENANTS, topics.MEETINGS, topics.REGISTRATIONS, topics.MATCHING)
SOURCE = "matching"


async def meeting_changed(conn: Conn, event: Envelope, m: MeetingSnapshot) -> None:
    """meeting.*: keep the meeting's format, status and (once registration closes) its roster; on
    meeting.registration_closed, propose the first plan if every registration of the roster is known."""
    await store.upsert_meeting(conn, m.meeting_id, m.tenant_id, m.format, m.status, m.confirmed_registration_ids)
    if event.type == "meeting.registration_closed":
        await refresh(conn, m.meeting_id, event)


async def registration_changed(conn: Conn, event: Envelope, r: RegistrationChanged) -> None:
    """registration.confirmed | waitlisted | promoted | cancelled: keep the candidate (pseudonymous id, group,
    status, profile), then propose or re-match. A cancellation that promoted someone waits for that
    promotion, which follows on the same key, so the plan is re-matched once, with both."""
    await store.upsert_candidate(
        conn,
        registration_id=r.registration_id,
        tenant_id=r.tenant_id,
        meeting_id=r.meeting_id,
        participant_id=r.participant_id,
        group=r.group,
        status=r.status,
        profile=r.profile.model_dump(),
    )
    if r.promoted_registration_id is None:
        await refresh(conn, r.meeting_id, event)


async def registrations_changed(conn: Conn, events: list[tuple[Envelope, RegistrationChanged]]) -> None:
    """A run of registration.confirmed | waitlisted | promoted | cancelled, set-wise: every candidate
    kept with one statement (each registration as its last event of the run left it), then each meeting
    of the run proposed or re-matched once, with all of them, caused by its last event that does not wait
    for a promotion (a meeting whose only events do wait is left for the promotion, as one by one)."""
    latest: dict[uuid.UUID, RegistrationChanged] = {}
    due: dict[uuid.UUID, Envelope] = {}
    for event, r in events:
        latest[r.registration_id] = r
        if r.promoted_registration_id is None:
            due.pop(r.meeting_id, None)  # keep the meetings in the order of their last due event
            due[r.meeting_id] = event
    await store.upsert_candidates(
        conn,
        [
            store.Candidate(
                r.registration_id,
                r.tenant_id,
                r.meeting_id,
                r.participant_id,
                r.group,
                r.status,
                r.profile.model_dump(),
            )
            for r in latest.values()
        ],
    )
    for meeting_id, cause in due.items():
        await refresh(conn, meeting_id, cause)


async def swap_requested(conn: Conn, event: Envelope, command: SwapRequested) -> None:
    """matching.swap_requested: the two registrations (one group) change places, which locks their new
    pairs, and the rest is re-matched as a new version. Ignored (logged) without an open proposal, or
    when ``plans.swap`` refuses the two."""
    ctx = await _context(conn, command.meeting_id)
    if ctx is None:
        return
    meeting, latest = ctx
    try:
        groups, new_locks = plans.swap(latest, *command.registration_ids)
    except ValueError as exc:
        log.warning("swap ignored", extra={"reason": str(exc)})
        return
    for newcomer, resident in new_locks:
        await store.set_lock(conn, meeting["meeting_id"], meeting["tenant_id"], newcomer, resident)
    await _rematch(conn, meeting, latest, groups, event)


async def lock_requested(conn: Conn, event: Envelope, command: LockRequested) -> None:
    """matching.lock_requested: fix (``locked``) or release the pair that seats the registration, and
    re-match the rest as a new version. Ignored (logged) without an open proposal or when it is not seated."""
    ctx = await _context(conn, command.meeting_id)
    if ctx is None:
        return
    meeting, latest = ctx
    group = next((g for g in plans.groups_of(latest) if command.registration_id in g), None)
    if group is None:
        log.warning("lock ignored: not seated", extra={"registration_id": str(command.registration_id)})
        return
    if command.locked:
        newcomer, resident = plans.core_pair(group, plans.group_map(latest))
        await store.set_lock(conn, meeting["meeting_id"], meeting["tenant_id"], newcomer, resident)
    else:
        for rid in group:
            await store.release_lock(conn, meeting["meeting_id"], rid)
    await _rematch(conn, meeting, latest, plans.groups_of(latest), event)


def publishable(latest: Pairing, command: PublishRequested) -> Pairing | None:
    """The plan to publish: the latest proposal marked published, if the command names its version and
    it is not published yet; else None."""
    if latest.version != command.version or latest.status == "published":
        return None
    return latest.model_copy(update={"status": "published"})


async def publish_requested(conn: Conn, event: Envelope, command: PublishRequested) -> None:
    """matching.publish_requested: mark the latest proposal published, remember its pairs (later meetings
    avoid repeating them) and announce matching.pairs_published. Ignored (logged) without an open
    proposal, or when the command names another version or the plan is published already."""
    ctx = await _context(conn, command.meeting_id)
    if ctx is None:
        return
    meeting, latest = ctx
    published = publishable(latest, command)
    if published is None:
        log.warning(
            "publish ignored",
            extra={"requested": command.version, "latest": latest.version, "status": latest.status},
        )
        return
    await store.mark_published(conn, meeting["meeting_id"], latest.version, published.model_dump(mode="json"))
    await store.record_history(conn, meeting["tenant_id"], meeting["meeting_id"], plans.published_pairs(published))
    await outbox.enqueue(conn, SOURCE, [(event.caused("matching.pairs_published", published), meeting["meeting_id"])])


HANDLERS = Handlers(
    tenancy.HANDLERS,
    route(MEETING_EVENTS, MeetingSnapshot, meeting_changed),
    route_batch(PLACE_EVENTS, RegistrationChanged, registrations_changed),
    route("matching.swap_requested", SwapRequested, swap_requested),
    route("matching.lock_requested", LockRequested, lock_requested),
    route("matching.publish_requested", PublishRequested, publish_requested),
)


async def _context(conn: Conn, meeting_id: uuid.UUID) -> tuple[asyncpg.Record, Pairing] | None:
    meeting = await store.lock_meeting(conn, meeting_id)
    row = await store.latest_proposal(conn, meeting_id)
    if meeting is None or row is None or meeting["status"] != "registration_closed":
        log.warning("command ignored: no open proposal", extra={"meeting_id": str(meeting_id)})
        return None
    return meeting, Pairing.model_validate(row["proposal"])


async def _people(conn: Conn, meeting_id: uuid.UUID, only: list[uuid.UUID] | None = None) -> list[pairing.Person]:
    rows = await (store.candidates(conn, only) if only is not None else store.confirmed_candidates(conn, meeting_id))
    return [
        pairing.Person.from_profile(r["registration_id"], r["participant_id"], r["group"], r["profile"]) for r in rows
    ]


async def refresh(conn: Conn, meeting_id: uuid.UUID, cause: Envelope) -> None:
    """Propose the first plan when it can be made; re-match when the confirmed people changed since."""
    meeting = await store.lock_meeting(conn, meeting_id)
    if meeting is None or meeting["roster"] is None or meeting["status"] != "registration_closed":
        return
    row = await store.latest_proposal(conn, meeting_id)
    if row is None:
        roster: list[uuid.UUID] = list(meeting["roster"])
        people = await _people(conn, meeting_id, only=roster)
        if len(people) < len(roster):
            return  # some registrations of the roster have not arrived yet
        started = time.perf_counter()
        proposal = pairing.propose(
            [p for p in people if p.group == "newcomer"],
            [p for p in people if p.group == "resident"],
            FORMATS[meeting["format"]].weights,
            await store.history(conn, meeting["tenant_id"], meeting_id),
        )
        metrics.MATCHING_DURATION.observe(time.perf_counter() - started)
        await _save(conn, meeting, proposal, "proposed", None, cause)
        return
    latest = Pairing.model_validate(row["proposal"])
    current = {p.registration_id for p in await _people(conn, meeting_id)}
    if current != plans.members_of(latest):
        await _rematch(conn, meeting, latest, plans.groups_of(latest), cause)


async def _rematch(
    conn: Conn, meeting: asyncpg.Record, latest: Pairing, groups: list[list[uuid.UUID]], cause: Envelope
) -> None:
    meeting_id = meeting["meeting_id"]
    people = await _people(conn, meeting_id)
    started = time.perf_counter()
    proposal = pairing.rematch(
        groups,
        [p for p in people if p.group == "newcomer"],
        [p for p in people if p.group == "resident"],
        FORMATS[meeting["format"]].weights,
        await store.history(conn, meeting["tenant_id"], meeting_id),
        await store.locks(conn, meeting_id),
    )
    metrics.MATCHING_DURATION.observe(time.perf_counter() - started)
    await _save(conn, meeting, proposal, latest.status, latest, cause)


async def _save(
    conn: Conn,
    meeting: asyncpg.Record,
    proposal: pairing.Proposal,
    status: str,
    previous: Pairing | None,
    cause: Envelope,
) -> None:
    meeting_id, tenant_id = meeting["meeting_id"], meeting["tenant_id"]
    version = (previous.version if previous else 0) + 1
    plan = plans.to_pairing(
        meeting_id, tenant_id, version, status, proposal, await store.locks(conn, meeting_id), previous
    )
    await store.insert_versioned_proposal(conn, meeting_id, version, tenant_id, status, plan.model_dump(mode="json"))
    events = [(cause.caused("matching.pairs_proposed", plan), meeting_id)]
    if status == "published":  # a re-match after publishing is announced as the new published plan
        await store.record_history(conn, tenant_id, meeting_id, plans.published_pairs(plan))
        events.append((cause.caused("matching.pairs_published", plan), meeting_id))
    await outbox.enqueue(conn, SOURCE, events)
    for pair in plan.pairs:
        metrics.MATCHING_PAIR_SCORE.observe(pair.score)
