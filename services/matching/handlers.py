"""Events matching consumes, and the pairing it publishes when registration closes."""

from __future__ import annotations

import time
import uuid

from services.matching import domain, store
from shared import metrics, outbox, tenancy, topics
from shared.consumer import EventConsumer
from shared.db import Conn
from shared.events import (
    Envelope,
    MeetingSnapshot,
    Pair,
    PairMember,
    PairsProposed,
    RegistrationChanged,
    Unpaired,
)

SUBSCRIBES_TO = (topics.TENANTS, topics.MEETINGS, topics.REGISTRATIONS)
SOURCE = "matching"


def register(consumer: EventConsumer) -> None:
    tenancy.register(consumer)

    @consumer.on(
        "meeting.created",
        "meeting.published",
        "meeting.changed",
        "meeting.registration_closed",
        "meeting.cancelled",
        "meeting.completed",
    )
    async def meeting_changed(conn: Conn, event: Envelope) -> None:
        m = MeetingSnapshot.model_validate(event.data)
        await store.upsert_meeting(conn, m.meeting_id, m.tenant_id, m.format, m.status, m.confirmed_registration_ids)
        if event.type == "meeting.registration_closed":
            await propose_when_complete(conn, m.meeting_id, event)

    @consumer.on("registration.confirmed", "registration.waitlisted", "registration.promoted", "registration.cancelled")
    async def registration_changed(conn: Conn, event: Envelope) -> None:
        r = RegistrationChanged.model_validate(event.data)
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
        await propose_when_complete(conn, r.meeting_id, event)


async def propose_when_complete(conn: Conn, meeting_id: uuid.UUID, cause: Envelope) -> None:
    """Propose the pairs once the meeting is closed and every registration of its roster is known.

    The roster travels on fmf.meetings.v1 and the registrations on fmf.registrations.v1; Kafka does not
    order across topics, so whichever arrives last triggers the proposal.
    """
    meeting = await store.lock_meeting(conn, meeting_id)
    if meeting is None or meeting["roster"] is None or meeting["status"] != "registration_closed":
        return
    if await store.latest_version(conn, meeting_id) > 0:
        return
    roster: list[uuid.UUID] = list(meeting["roster"])
    rows = {r["registration_id"]: r for r in await store.candidates(conn, roster)}
    if len(rows) < len(roster):
        return
    started = time.perf_counter()
    ordered = [rows[rid] for rid in roster]
    people = [domain.Candidate(r["registration_id"], r["participant_id"], r["group"], r["profile"]) for r in ordered]
    proposal = domain.pair_in_order(
        [c for c in people if c.group == "newcomer"], [c for c in people if c.group == "resident"]
    )
    seated = domain.seat(proposal.groups)
    pairs = [
        Pair(
            number=i,
            members=[
                PairMember(
                    participant_id=c.participant_id,
                    registration_id=c.registration_id,
                    group=c.group,
                    seat=seat_no,
                    side=side,
                )
                for c, seat_no, side in members
            ],
        )
        for i, members in enumerate(seated, start=1)
    ]
    data = PairsProposed(
        meeting_id=meeting_id,
        tenant_id=meeting["tenant_id"],
        version=1,
        pairs=pairs,
        unpaired=[
            Unpaired(participant_id=c.participant_id, registration_id=c.registration_id, group=c.group, reason=why)
            for c, why in proposal.unpaired
        ],
    )
    await store.insert_proposal(conn, meeting_id, 1, meeting["tenant_id"], data.model_dump(mode="json"))
    await outbox.enqueue(conn, SOURCE, [(cause.caused("matching.pairs_proposed", data), meeting_id)])
    metrics.MATCHING_DURATION.observe(time.perf_counter() - started)
    for pair in pairs:
        metrics.MATCHING_PAIR_SCORE.observe(pair.score)
