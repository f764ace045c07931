"""What each consumed event means for the messages to send: record them, schedule them, remove them.

Every function runs in the consumer's transaction, after the inbox has claimed the event. Each
notification row is keyed by (cause event, recipient, kind), so nothing here can plan a message twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.notification import domain, seating, store
from shared.db import Conn
from shared.events import (
    ContactUpserted,
    Envelope,
    ErasureRequestClosed,
    ErasureRequested,
    ManageLink,
    MeetingSnapshot,
    Pairing,
    ParticipantErased,
    RegistrationChanged,
    SignupClosed,
    SignupRepeated,
    SignupRequested,
)

CONFIRMING = frozenset({"registration.confirmed", "registration.promoted"})


async def contact_upserted(conn: Conn, c: ContactUpserted) -> None:
    await store.upsert_contact(
        conn,
        participant_id=c.participant_id,
        tenant_id=c.tenant_id,
        name=c.name,
        email=c.email,
        phone=c.phone,
        language=c.language,
    )


async def manage_link(conn: Conn, link: ManageLink) -> None:
    await store.upsert_manage_link(
        conn,
        participant_id=link.participant_id,
        registration_id=link.registration_id,
        meeting_id=link.meeting_id,
        tenant_id=link.tenant_id,
        manage_token=link.manage_token,
    )


async def signup_requested(conn: Conn, event: Envelope, s: SignupRequested) -> None:
    """Keep the sign-up's contact and token until it closes, and plan the message with its confirmation link:
    by e-mail when there is an address, else by SMS."""
    kept = await store.add_signup(
        conn,
        signup_id=s.signup_id,
        tenant_id=s.tenant_id,
        meeting_id=s.meeting_id,
        name=s.name,
        email=s.email,
        phone=s.phone,
        language=s.language,
        confirm_token=s.confirm_token,
        expires_at=s.expires_at,
    )
    if not kept:  # closed already: a replayed request brings nothing back
        return
    await store.add_signup_notification(
        conn,
        tenant_id=s.tenant_id,
        cause_event_id=event.id,
        cause_occurred_at=event.occurred_at,
        signup_id=s.signup_id,
        meeting_id=s.meeting_id,
        kind=domain.CONFIRM_SIGNUP,
        channel="email" if s.email else "sms",
    )


async def signup_closed(conn: Conn, event: Envelope, c: SignupClosed) -> None:
    """Confirmed or expired: scrub the sign-up's name, e-mail, phone and token; skip its unsent message."""
    await store.close_signup(
        conn, signup_id=c.signup_id, tenant_id=c.tenant_id, outcome=c.outcome, closed_at=event.occurred_at
    )


async def signup_repeated(conn: Conn, event: Envelope, r: SignupRepeated) -> None:
    """Tell the participant, at the contact we hold for them, that they are signed up already, with their
    own manage link. Nothing the caller typed is used."""
    await store.lock_meeting(conn, r.meeting_id)
    await _tell(conn, event, r.participant_id, domain.ALREADY_SIGNED_UP, r.meeting_id, r.registration_id)


async def erasure_requested(conn: Conn, event: Envelope, e: ErasureRequested) -> None:
    """Keep the erasure link's token until the request closes, and plan the message that carries it."""
    kept = await store.add_erasure_request(
        conn,
        request_id=e.request_id,
        tenant_id=e.tenant_id,
        participant_id=e.participant_id,
        confirm_token=e.confirm_token,
        expires_at=e.expires_at,
    )
    if not kept:
        return
    await store.add_notification(
        conn,
        tenant_id=e.tenant_id,
        cause_event_id=event.id,
        cause_occurred_at=event.occurred_at,
        participant_id=e.participant_id,
        kind=domain.CONFIRM_ERASURE,
        channel="email",
        erasure_request_id=e.request_id,
    )


async def erasure_request_closed(conn: Conn, event: Envelope, c: ErasureRequestClosed) -> None:
    """Erased or expired: forget the token; skip the message if it is still unsent."""
    await store.close_erasure_request(conn, request_id=c.request_id, outcome=c.outcome, closed_at=event.occurred_at)


async def registration_changed(conn: Conn, event: Envelope, r: RegistrationChanged) -> None:
    await store.lock_meeting(conn, r.meeting_id)
    confirming = event.type in CONFIRMING
    await store.upsert_registration(
        conn,
        registration_id=r.registration_id,
        tenant_id=r.tenant_id,
        meeting_id=r.meeting_id,
        participant_id=r.participant_id,
        status="confirmed" if confirming else r.status,
        confirmed_by=event.id if confirming else None,
        confirmed_at=event.occurred_at if confirming else None,
    )
    kind = domain.registration_message(event.type, r.reason)
    if kind is not None:
        details = {"waitlist_position": r.waitlist_position} if r.waitlist_position else None
        await _tell(conn, event, r.participant_id, kind, r.meeting_id, r.registration_id, details=details)
    if event.type == "registration.cancelled":
        await store.remove_pending(conn, domain.SCHEDULED, registration_id=r.registration_id)
    if event.type == "registration.waitlisted":
        # The meetings and registrations topics are not ordered with each other: registration may have closed
        # before this place reached us, and the closing found nobody waiting yet.
        meeting = await store.meeting(conn, r.meeting_id)
        when = domain.WAITLIST_END_OF_STATUS.get(meeting["status"]) if meeting is not None else None
        if when is not None and not await store.told(conn, r.registration_id, domain.WAITLIST_ENDED):
            await _tell(
                conn,
                event,
                r.participant_id,
                domain.WAITLIST_ENDED,
                r.meeting_id,
                r.registration_id,
                details={"when": when},
            )
    if confirming:
        meeting = await store.meeting(conn, r.meeting_id)
        if meeting is not None:  # else scheduled when the meeting arrives
            await _schedule(conn, meeting, r.registration_id, r.participant_id, event.id, event.occurred_at)


async def meeting_event(conn: Conn, event: Envelope, m: MeetingSnapshot) -> None:
    await store.lock_meeting(conn, m.meeting_id)
    before = await store.meeting(conn, m.meeting_id)
    await store.upsert_meeting(
        conn,
        meeting_id=m.meeting_id,
        tenant_id=m.tenant_id,
        title=m.title,
        format=m.format,
        status=m.status,
        starts_at=m.starts_at,
        duration_minutes=m.duration_minutes,
        timezone=m.timezone,
        venue=m.venue.model_dump(),
    )
    meeting = await store.meeting(conn, m.meeting_id)
    assert meeting is not None
    if event.type == "meeting.cancelled":
        await store.remove_pending(conn, domain.SCHEDULED, meeting_id=m.meeting_id)
        for reg in await store.registrations_of(conn, m.meeting_id, domain.LIVE_STATUSES):
            await _tell(
                conn, event, reg["participant_id"], domain.MEETING_CANCELLED, m.meeting_id, reg["registration_id"]
            )
        return
    await _tell_the_waitlist_it_ended(conn, event, m)
    confirmed = await store.registrations_of(conn, m.meeting_id, ("confirmed",))
    if before is None:
        # Registrations that arrived before their meeting get their reminders now.
        for reg in confirmed:
            if reg["confirmed_by"] is not None:
                rid, pid = reg["registration_id"], reg["participant_id"]
                await _schedule(conn, meeting, rid, pid, reg["confirmed_by"], reg["confirmed_at"])
        return
    changes = domain.meeting_changes(_facts(before), _facts(meeting))
    if "time" in changes:
        await store.remove_pending(conn, domain.SCHEDULED, meeting_id=m.meeting_id)
        for reg in confirmed:
            await _schedule(conn, meeting, reg["registration_id"], reg["participant_id"], event.id, event.occurred_at)
    if event.type == "meeting.changed" and changes:
        for reg in await store.registrations_of(conn, m.meeting_id, domain.LIVE_STATUSES):
            await _tell(
                conn,
                event,
                reg["participant_id"],
                domain.MEETING_CHANGED,
                m.meeting_id,
                reg["registration_id"],
                details={"changes": changes, "was": _was(before)},
            )


async def _tell_the_waitlist_it_ended(conn: Conn, event: Envelope, m: MeetingSnapshot) -> None:
    """Registration closed or the meeting is over: each one still waiting hears, once, that they did not get
    a place (after the close: unless someone cancels before the start)."""
    when = domain.WAITLIST_END_OF_EVENT.get(event.type)
    if when is None:
        return
    for reg in await store.registrations_of(conn, m.meeting_id, ("waitlisted",)):
        if await store.told(conn, reg["registration_id"], domain.WAITLIST_ENDED):
            continue
        await _tell(
            conn,
            event,
            reg["participant_id"],
            domain.WAITLIST_ENDED,
            m.meeting_id,
            reg["registration_id"],
            details={"when": when},
        )


async def pairs_published(conn: Conn, event: Envelope, plan: Pairing) -> None:
    await store.lock_meeting(conn, plan.meeting_id)
    version = await store.seating_version(conn, plan.meeting_id)
    if version is not None and plan.version <= version:
        return  # an older plan than the one people were told about
    told = {
        row["registration_id"]: seating.Told(row["seat"], frozenset(row["partners"]))
        for row in await store.told_seating(conn, plan.meeting_id)
    }
    for notice in seating.notices(plan, told):
        await _tell(
            conn,
            event,
            notice.participant_id,
            domain.PAIRS_PUBLISHED if notice.first else domain.SEAT_CHANGED,
            plan.meeting_id,
            notice.registration_id,
            details={
                "seat": notice.seat,
                "pair_number": notice.pair_number,
                "interests": list(notice.interests),
                "partners": notice.partners,
            },
        )
    participant_of = {m.registration_id: m.participant_id for p in plan.pairs for m in p.members}
    await store.save_seating(
        conn,
        plan.meeting_id,
        plan.version,
        [
            (rid, participant_of[rid], told_now.seat, sorted(told_now.partners))
            for rid, told_now in seating.seating(plan).items()
        ],
    )


async def participant_erased(conn: Conn, event: Envelope, e: ParticipantErased) -> None:
    had_contact = await store.erase_participant(conn, e.participant_id, e.tenant_id, event.occurred_at)
    if had_contact and e.reason != "request":
        # Erased because the retention period ended: nobody asked, so nothing to confirm.
        await store.delete_erased_contact(conn, e.participant_id)
    elif had_contact:
        await store.add_notification(
            conn,
            tenant_id=e.tenant_id,
            cause_event_id=event.id,
            cause_occurred_at=event.occurred_at,
            participant_id=e.participant_id,
            kind=domain.ERASURE_CONFIRMED,
            channel="email",
            even_if_erased=True,
        )


async def registration_status(conn: Conn, r: RegistrationChanged) -> None:
    """Attendance: kept so a feedback request skips those who did not come."""
    await store.lock_meeting(conn, r.meeting_id)
    await store.upsert_registration(
        conn,
        registration_id=r.registration_id,
        tenant_id=r.tenant_id,
        meeting_id=r.meeting_id,
        participant_id=r.participant_id,
        status=r.status,
    )


def _was(before: asyncpg.Record) -> dict[str, Any]:
    """The time and place a changed meeting had, so that its message can say from what to what."""
    venue = dict(before["venue"])
    return {
        "starts_at": before["starts_at"].isoformat(),
        "duration_minutes": before["duration_minutes"],
        "venue": {"name": venue.get("name", ""), "address": venue.get("address", "")},
    }


def _facts(meeting: asyncpg.Record) -> domain.MeetingFacts:
    return domain.MeetingFacts(meeting["starts_at"], meeting["duration_minutes"], dict(meeting["venue"]))


async def _tell(
    conn: Conn,
    cause: Envelope,
    participant_id: uuid.UUID,
    kind: str,
    meeting_id: uuid.UUID,
    registration_id: uuid.UUID,
    *,
    details: dict[str, Any] | None = None,
) -> None:
    await store.add_notification(
        conn,
        tenant_id=cause.tenant_id,
        cause_event_id=cause.id,
        cause_occurred_at=cause.occurred_at,
        participant_id=participant_id,
        kind=kind,
        channel="email",
        meeting_id=meeting_id,
        registration_id=registration_id,
        details=details,
    )


async def _schedule(
    conn: Conn,
    meeting: asyncpg.Record,
    registration_id: uuid.UUID,
    participant_id: uuid.UUID,
    cause_id: uuid.UUID,
    since: datetime,
) -> None:
    if meeting["status"] in ("cancelled", "completed"):
        return
    for item in domain.schedule(meeting["starts_at"], meeting["duration_minutes"], since):
        await store.add_notification(
            conn,
            tenant_id=meeting["tenant_id"],
            cause_event_id=cause_id,
            cause_occurred_at=since,
            participant_id=participant_id,
            kind=item.kind,
            channel="sms" if item.kind in domain.SMS_ONLY else "email",
            meeting_id=meeting["meeting_id"],
            registration_id=registration_id,
            due_at=item.due_at,
        )
