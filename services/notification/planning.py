"""What each consumed event means for the messages to send: record them, schedule them, remove them.

Every function runs in the consumer's transaction, after the inbox has claimed the event. Each
notification row is keyed by (cause event, recipient, kind), so nothing here can plan a message twice.

``apply`` takes a run of records of every type at once (one record on the one-record-per-transaction
path): it locks the run's meetings once, in one order, and applies the frequent types (contacts, manage
links, sign-ups, places) set-wise, a few statements per type for the whole run, in the waves
``domain.waves`` cuts (the records of one key in order, the others together), and every other type alone,
in its place.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from services.notification import domain, seating, store
from shared.db import Conn
from shared.events import (
    ATTENDANCE_EVENTS,
    MEETING_EVENTS,
    PLACE_EVENTS,
    ContactUpserted,
    Envelope,
    ErasureRequestClosed,
    ErasureRequested,
    ManageLink,
    MeetingSnapshot,
    Pairing,
    ParticipantErased,
    Payload,
    RegistrationChanged,
    SignupClosed,
    SignupRepeated,
    SignupRequested,
)

CONFIRMING = frozenset({"registration.confirmed", "registration.promoted"})


async def contact_upserted(conn: Conn, c: ContactUpserted) -> None:
    """Keep the participant's contact details (``contacts_upserted`` of one)."""
    await contacts_upserted(conn, [c])


async def contacts_upserted(conn: Conn, contacts: list[ContactUpserted]) -> None:
    """Keep the contact details of several participants, each once, with one statement."""
    await store.upsert_contacts(
        conn, [(c.participant_id, c.tenant_id, c.name, c.email, c.phone, c.language) for c in contacts]
    )


async def manage_links(conn: Conn, links: list[ManageLink]) -> None:
    """Keep the manage token of several registrations, each once, for the links in messages; one statement."""
    await store.upsert_manage_links(
        conn, [(k.participant_id, k.registration_id, k.meeting_id, k.tenant_id, k.manage_token) for k in links]
    )


async def signups_requested(conn: Conn, records: list[tuple[Envelope, SignupRequested]]) -> None:
    """Keep each sign-up's contact and token until it closes, and plan the message with its confirmation link:
    by e-mail when there is an address, else by SMS. Several sign-ups, each once, with two statements; one
    known already (or closed) brings nothing back."""
    kept = await store.add_signups(
        conn,
        [
            (
                s.signup_id,
                s.tenant_id,
                s.meeting_id,
                s.name,
                s.email,
                s.phone,
                s.language,
                s.confirm_token,
                s.expires_at,
            )
            for _, s in records
        ],
    )
    await store.add_signup_notifications(
        conn,
        [
            (
                s.tenant_id,
                e.id,
                e.occurred_at,
                s.signup_id,
                s.meeting_id,
                domain.CONFIRM_SIGNUP,
                "email" if s.email else "sms",
            )
            for e, s in records
            if s.signup_id in kept
        ],
    )


async def signups_closed(conn: Conn, records: list[tuple[Envelope, SignupClosed]]) -> None:
    """Confirmed or expired: scrub each sign-up's name, e-mail, phone and token; skip its unsent message.
    Several sign-ups, each once, with two statements."""
    await store.close_signups(conn, [(c.signup_id, c.tenant_id, c.outcome, e.occurred_at) for e, c in records])


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
    """A place event on its own: ``apply`` of one record."""
    await apply(conn, [(event, r)])


async def places_changed(conn: Conn, records: list[tuple[Envelope, RegistrationChanged]]) -> None:
    """registration.confirmed | waitlisted | promoted | cancelled of several registrations, each once, their
    meetings locked: record each status, and plan with one statement the message each event causes, the end
    of the waiting list for a place that arrives after registration closed (once per registration) and the
    reminders of a confirmed place whose meeting is known (else scheduled when the meeting arrives); a
    cancelled place's scheduled messages go. Each meeting is read once."""
    await store.upsert_registrations(
        conn,
        [(r.registration_id, r.tenant_id, r.meeting_id, r.participant_id, *_status(event, r)) for event, r in records],
    )
    meetings = await store.meetings(
        conn, {r.meeting_id for e, r in records if e.type in CONFIRMING or e.type == "registration.waitlisted"}
    )
    # The meetings and registrations topics are not ordered with each other: registration may have closed
    # before a waiting place reached us, and the closing found nobody waiting yet.
    ending: dict[uuid.UUID, str] = {}
    for e, r in records:
        meeting = meetings.get(r.meeting_id)
        when = domain.WAITLIST_END_OF_STATUS.get(meeting["status"]) if meeting is not None else None
        if e.type == "registration.waitlisted" and when is not None:
            ending[r.registration_id] = when
    told = await store.told_of(conn, list(ending), domain.WAITLIST_ENDED)
    planned: list[store.Planned] = []
    for event, r in records:
        kind = domain.registration_message(event.type, r.reason)
        if kind is not None:
            details = {"waitlist_position": r.waitlist_position} if r.waitlist_position else None
            planned.append(_message(event, r.participant_id, kind, r.meeting_id, r.registration_id, details))
        when = ending.get(r.registration_id)
        if when is not None and r.registration_id not in told:
            planned.append(
                _message(
                    event, r.participant_id, domain.WAITLIST_ENDED, r.meeting_id, r.registration_id, {"when": when}
                )
            )
        meeting = meetings.get(r.meeting_id)
        if event.type in CONFIRMING and meeting is not None:
            planned += _scheduled(meeting, r.registration_id, r.participant_id, event.id, event.occurred_at)
    await store.add_notifications(conn, planned)
    await store.remove_pending_of(
        conn, domain.SCHEDULED, [r.registration_id for e, r in records if e.type == "registration.cancelled"]
    )


def _status(event: Envelope, r: RegistrationChanged) -> tuple[str, uuid.UUID | None, datetime | None]:
    """The status a place event records, and for a confirming one the event that confirmed it, and when."""
    if event.type in CONFIRMING:
        return "confirmed", event.id, event.occurred_at
    return str(r.status), None, None


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


def _message(
    cause: Envelope,
    participant_id: uuid.UUID,
    kind: str,
    meeting_id: uuid.UUID,
    registration_id: uuid.UUID,
    details: dict[str, Any] | None = None,
) -> store.Planned:
    return store.Planned(
        cause.tenant_id,
        cause.id,
        cause.occurred_at,
        participant_id,
        kind,
        "email",
        meeting_id,
        registration_id,
        details=details,
    )


def _scheduled(
    meeting: asyncpg.Record,
    registration_id: uuid.UUID,
    participant_id: uuid.UUID,
    cause_id: uuid.UUID,
    since: datetime,
) -> list[store.Planned]:
    """The reminders and feedback request of a confirmed place (none once the meeting is cancelled or over)."""
    if meeting["status"] in ("cancelled", "completed"):
        return []
    return [
        store.Planned(
            meeting["tenant_id"],
            cause_id,
            since,
            participant_id,
            item.kind,
            "sms" if item.kind in domain.SMS_ONLY else "email",
            meeting["meeting_id"],
            registration_id,
            due_at=item.due_at,
        )
        for item in domain.schedule(meeting["starts_at"], meeting["duration_minutes"], since)
    ]


async def _schedule(
    conn: Conn,
    meeting: asyncpg.Record,
    registration_id: uuid.UUID,
    participant_id: uuid.UUID,
    cause_id: uuid.UUID,
    since: datetime,
) -> None:
    await store.add_notifications(conn, _scheduled(meeting, registration_id, participant_id, cause_id, since))


# --- a run of records of every type, as the consumer hands it over ------------------------------------

# Types whose records lock their meeting (``store.lock_meeting``): what they plan depends on the meeting.
LOCKING = frozenset(
    {*MEETING_EVENTS, *PLACE_EVENTS, *ATTENDANCE_EVENTS, "registration.signup_repeated", "matching.pairs_published"}
)


async def _contacts(conn: Conn, records: list[tuple[Envelope, Payload]]) -> None:
    await contacts_upserted(conn, [p for _, p in records if isinstance(p, ContactUpserted)])


async def _links(conn: Conn, records: list[tuple[Envelope, Payload]]) -> None:
    await manage_links(conn, [p for _, p in records if isinstance(p, ManageLink)])


async def _requested(conn: Conn, records: list[tuple[Envelope, Payload]]) -> None:
    await signups_requested(conn, [(e, p) for e, p in records if isinstance(p, SignupRequested)])


async def _closed(conn: Conn, records: list[tuple[Envelope, Payload]]) -> None:
    await signups_closed(conn, [(e, p) for e, p in records if isinstance(p, SignupClosed)])


async def _places(conn: Conn, records: list[tuple[Envelope, Payload]]) -> None:
    await places_changed(conn, [(e, p) for e, p in records if isinstance(p, RegistrationChanged)])


SetWise = Callable[[Conn, list[tuple[Envelope, Payload]]], Awaitable[None]]
# The set-wise types: how to apply a wave of them (records of distinct keys), and each record's key.
SET_WISE: dict[str, tuple[SetWise, Callable[[Any], Hashable]]] = {
    "contact.upserted": (_contacts, lambda c: ("contact", c.participant_id)),
    "contact.manage_link": (_links, lambda k: ("link", k.registration_id)),
    "contact.signup_requested": (_requested, lambda s: ("signup", s.signup_id)),
    "contact.signup_closed": (_closed, lambda s: ("signup", s.signup_id)),
    **{t: (_places, lambda r: ("registration", r.registration_id)) for t in PLACE_EVENTS},
}


P = TypeVar("P", bound=Payload)


async def apply(conn: Conn, records: list[tuple[Envelope, P]]) -> None:
    """Apply consumed records of any types, in order, with the effect of applying them one by one: lock every
    meeting they touch at once (``store.lock_meetings``: one order, so replicas never deadlock), then, step by
    step as ``domain.waves`` cuts them, each wave's records of the set-wise types (``SET_WISE``) together,
    type by type, and every other record alone (``ONE_BY_ONE``)."""
    locked = (getattr(p, "meeting_id", None) for e, p in records if e.type in LOCKING)
    await store.lock_meetings(conn, [m for m in locked if m is not None])
    keys = [SET_WISE[e.type][1](p) if e.type in SET_WISE else None for e, p in records]
    for step in domain.waves(keys):
        wave = [records[i] for i in step]
        if keys[step[0]] is None:
            event, payload = wave[0]
            await ONE_BY_ONE[event.type](conn, event, payload)
            continue
        by_form: dict[SetWise, list[tuple[Envelope, Payload]]] = {}
        for event, payload in wave:
            by_form.setdefault(SET_WISE[event.type][0], []).append((event, payload))
        for form, of_form in by_form.items():
            await form(conn, of_form)


async def _attendance(conn: Conn, event: Envelope, r: RegistrationChanged) -> None:
    await registration_status(conn, r)


ONE_BY_ONE: dict[str, Callable[[Conn, Envelope, Any], Awaitable[None]]] = {
    "contact.erasure_requested": erasure_requested,
    "contact.erasure_request_closed": erasure_request_closed,
    "registration.signup_repeated": signup_repeated,
    "participant.erased": participant_erased,
    "matching.pairs_published": pairs_published,
    **{t: meeting_event for t in MEETING_EVENTS},
    **{t: _attendance for t in ATTENDANCE_EVENTS},
}
