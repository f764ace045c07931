"""Sign-ups, the waiting list, cancellations, attendance and feedback."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

import asyncpg

from services.registration import domain, store
from services.registration.schemas import AttendanceIn, FeedbackIn, SignUpIn
from services.registration.usecases.common import (
    SOURCE,
    Row,
    clock_of,
    now,
    refuse,
    registration_event,
    registration_for,
    scope_of,
    scoped,
    visible_meeting,
)
from services.registration.views import FeedbackReceipt, MeetingView, PlaceView, RegistrationLine, SignedUp
from shared import metrics, outbox
from shared.auth import Principal, hash_token, new_token
from shared.db import Conn
from shared.errors import Conflict, NotFound, Unprocessable
from shared.events import (
    ContactUpserted,
    Envelope,
    FeedbackGiven,
    ManageLink,
    Profile,
    RegistrationStatus,
    make_event,
)
from shared.formats import FORMATS


async def sign_up(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: SignUpIn) -> SignedUp:
    """A coordinator signs someone up (they vouch for the person: no confirmation step). The tenant's
    participant with this e-mail or phone is updated, or created; the place is confirmed while the group has
    room, else waitlisted (domain.place_for). Returns the place and its manage token (shown once).

    Raises NotFound (not the coordinator's meeting), Conflict (sign-up not open, already signed up, or the
    e-mail and the phone belong to two different participants), Unprocessable (Norwegian level).
    """
    async with scoped(pool, scope_of(principal), public_meeting=meeting_id) as conn:
        # The meeting row lock serialises sign-ups per meeting, so capacity can never be exceeded.
        meeting = await store.meeting(conn, meeting_id, lock=True)
        if meeting is None or not principal.can_see(meeting["tenant_id"]):
            raise NotFound(f"no meeting {meeting_id}")
        refuse(domain.sign_up_problem(meeting["tenant_status"], meeting["status"], clock_of(meeting), now()))
        if body.group == "newcomer":
            minimum = FORMATS[meeting["format"]].min_norwegian_level
            refuse(domain.level_problem(body.norwegian_level, minimum), Unprocessable)
        try:
            participant, confirmed, signed_up = await store.enrol(
                conn,
                meeting["tenant_id"],
                meeting_id,
                body.group,
                name=body.name,
                email=body.email,
                phone=body.phone,
                language=body.language,
                profile=Profile.model_validate(body.model_dump()).model_dump(),
                consent_at=now(),
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                "this e-mail address belongs to one participant and this phone number to another;"
                " correct one of them, or sign up with only one"
            ) from exc
        if signed_up:
            raise Conflict("this person is already signed up for this meeting")
        status = domain.place_for(confirmed, meeting[f"capacity_{body.group}"])
        token = new_token()
        registration: dict[str, Any] = {
            "id": uuid.uuid4(),
            "tenant_id": meeting["tenant_id"],
            "meeting_id": meeting_id,
            "participant_id": participant["id"],
            "group": body.group,
            "status": status,
        }
        waiting = await store.count_waitlisted(conn, meeting_id, body.group) if status == "waitlisted" else 0
        position = domain.waitlist_position(status, waiting)
        events = sign_up_events(
            participant,
            {
                **registration,
                "language": participant["language"],
                "profile": participant["profile"],
                "waitlist_position": position,  # last in the queue, under the meeting's lock
            },
            token,
            contact_changed=True,
        )
        await store.insert_registration(conn, SOURCE, events, **registration, token_hash=hash_token(token))
    metrics.REGISTRATIONS.labels(outcome=status).inc()
    metrics.TENANT_SIGNUPS.labels(tenant=meeting["tenant_slug"]).inc()
    return SignedUp(registration["id"], participant["id"], status, token)


def sign_up_events(
    participant: Row, reg: Mapping[str, Any], token: str, contact_changed: bool
) -> list[tuple[Envelope, object]]:
    """The events of a new registration: the contact (when new or changed), the manage link, and
    ``registration.confirmed`` or ``registration.waitlisted``; each with its partition key. Raises nothing."""
    correlation = uuid.uuid4()
    tenant_id, participant_id = reg["tenant_id"], participant["id"]
    events: list[tuple[Envelope, object]] = []
    if contact_changed:
        contact = ContactUpserted(
            participant_id=participant_id,
            tenant_id=tenant_id,
            name=participant["name"],
            email=participant["email"],
            phone=participant["phone"],
            language=participant["language"],
        )
        events.append((make_event("contact.upserted", tenant_id, contact, correlation_id=correlation), participant_id))
    link = ManageLink(
        participant_id=participant_id,
        registration_id=reg["id"],
        meeting_id=reg["meeting_id"],
        tenant_id=tenant_id,
        manage_token=token,
    )
    return [
        *events,
        (
            make_event("contact.manage_link", tenant_id, link, correlation_id=correlation),
            f"{participant_id}/{reg['id']}",
        ),
        (registration_event(f"registration.{reg['status']}", reg, reg["status"], correlation), reg["meeting_id"]),
    ]


async def promote_into_free_places(
    conn: Conn, meeting: asyncpg.Record, group: str, correlation: uuid.UUID
) -> list[tuple[Envelope, object]]:
    """Confirm waiting people (first in, first out) while the group has free places, until the meeting
    starts (domain.to_promote): after that nobody is called in to a table already talking. Call it with the
    meeting locked. Returns the ``registration.promoted`` events with their keys."""
    events: list[tuple[Envelope, object]] = []
    clock, capacity = clock_of(meeting), meeting[f"capacity_{group}"]
    if not domain.waitlist_moves(clock, now()):
        return events
    confirmed = await store.count_confirmed(conn, meeting["id"], group)
    free = domain.free_places(capacity, confirmed)
    waiting = await store.first_waitlisted(conn, meeting["id"], group, limit=free) if free else []
    for promoted in domain.to_promote(capacity, confirmed, waiting, clock, now()):
        await store.set_registration_status(conn, promoted["id"], RegistrationStatus.CONFIRMED)
        event = registration_event("registration.promoted", promoted, RegistrationStatus.CONFIRMED, correlation)
        events.append((event, meeting["id"]))
    return events


async def cancel_in_transaction(
    conn: Conn, reg: asyncpg.Record, correlation: uuid.UUID, reason: Literal["erasure"] | None = None
) -> list[tuple[Envelope, object]]:
    """Cancel a live registration and promote the first waiting person of its group into the place
    (domain.frees_a_place, domain.to_promote); a registration no longer live changes nothing. ``reason`` marks
    a cancellation nobody chose (an erasure), so that notification does not tell it. Locks the meeting.
    Returns the events with their keys, for the caller to enqueue; raises nothing of its own."""
    meeting = await store.meeting(conn, reg["meeting_id"], lock=True)
    assert meeting is not None
    current = await store.registration(conn, reg["id"])  # re-read under the meeting lock
    assert current is not None
    if not domain.is_live(current["status"]):
        return []
    await store.set_registration_status(conn, current["id"], RegistrationStatus.CANCELLED)
    cancelled = registration_event("registration.cancelled", current, RegistrationStatus.CANCELLED, correlation, reason)
    events: list[tuple[Envelope, object]] = [(cancelled, current["meeting_id"])]
    if domain.frees_a_place(current["status"], meeting["status"]):
        promoted = await promote_into_free_places(conn, meeting, current["group"], correlation)
        if promoted:
            cancelled.data["promoted_registration_id"] = promoted[0][0].data["registration_id"]
        events += promoted
    metrics.REGISTRATIONS.labels(outcome="cancelled").inc()
    return events


async def cancel_registration(
    pool: asyncpg.Pool, principal: Principal | None, manage_token: str | None, registration_id: uuid.UUID
) -> None:
    """Cancel a place with its manage token or as its coordinator; the first person waiting in the group
    gets it. Cancelling a cancelled place again changes nothing. Raises NotFound (unknown, or not the
    caller's), Conflict (domain.cancellation_problem: not live, meeting over, or started)."""
    async with scoped(pool, scope_of(principal)) as conn:
        reg = await registration_for(conn, principal, manage_token, registration_id)
        meeting = await store.meeting(conn, reg["meeting_id"])
        assert meeting is not None
        if domain.already_cancelled(reg["status"]):
            return
        refuse(domain.cancellation_problem(reg["status"], meeting["status"], clock_of(meeting), now()))
        await outbox.enqueue(conn, SOURCE, await cancel_in_transaction(conn, reg, uuid.uuid4()))


async def get_registration(
    pool: asyncpg.Pool, principal: Principal | None, manage_token: str | None, registration_id: uuid.UUID
) -> PlaceView:
    """The participant's place as their manage link (or their coordinator) sees it, with what the page may
    offer now (domain.participant_offers). Raises NotFound (unknown, or not the caller's)."""
    async with scoped(pool, scope_of(principal)) as conn:
        reg = await registration_for(conn, principal, manage_token, registration_id)
        meeting = await store.meeting(conn, reg["meeting_id"])
        assert meeting is not None
        feedback_given = await store.feedback(conn, registration_id) is not None
        offers = domain.participant_offers(reg["status"], meeting["status"], feedback_given, clock_of(meeting), now())
        return PlaceView(
            id=reg["id"],
            participant_id=reg["participant_id"],
            meeting_id=reg["meeting_id"],
            group=reg["group"],
            status=RegistrationStatus(reg["status"]),
            waitlist_position=reg["waitlist_position"],
            meeting=MeetingView.of(meeting, coordinator=False),
            feedback_given=feedback_given,
            offers=offers,
        )


async def coordinator_registration(
    pool: asyncpg.Pool, principal: Principal, registration_id: uuid.UUID
) -> tuple[RegistrationLine, MeetingView]:
    """A registration (with the person's name) and its meeting, for the meeting's own coordinator only.
    Raises NotFound for anyone else."""
    async with scoped(pool, scope_of(principal)) as conn:
        reg = await registration_for(conn, principal, None, registration_id)
        meeting = await store.meeting(conn, reg["meeting_id"])
        assert meeting is not None
        return RegistrationLine.of(reg), MeetingView.of(meeting)


async def list_registrations(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID) -> list[RegistrationLine]:
    """The meeting's registrations in sign-up order, with names and waiting-list positions. Raises
    NotFound (a meeting the principal cannot see)."""
    async with scoped(pool, scope_of(principal)) as conn:
        await visible_meeting(conn, principal, meeting_id)
        return [RegistrationLine.of(r) for r in await store.registrations_of_meeting(conn, meeting_id)]


async def record_attendance(
    pool: asyncpg.Pool, principal: Principal, registration_id: uuid.UUID, body: AttendanceIn
) -> RegistrationLine:
    """Record ``attended`` or ``no_show`` once the meeting has started (domain.attendance_problem);
    recording the same again changes nothing. Raises NotFound, Conflict."""
    async with scoped(pool, scope_of(principal)) as conn:
        reg = await registration_for(conn, principal, None, registration_id)
        meeting = await store.meeting(conn, reg["meeting_id"], lock=True)
        assert meeting is not None
        refuse(domain.attendance_problem(reg["status"], meeting["status"], clock_of(meeting), now()))
        if reg["status"] == body.status:
            return RegistrationLine.of(reg)
        await store.set_registration_status(conn, registration_id, body.status, attendance=True)
        event = registration_event(f"registration.{body.status}", reg, body.status, uuid.uuid4())
        await outbox.enqueue(conn, SOURCE, [(event, reg["meeting_id"])])
        updated = await store.registration(conn, registration_id)
        assert updated is not None
        return RegistrationLine.of(updated)


async def give_feedback(
    pool: asyncpg.Pool, manage_token: str, registration_id: uuid.UUID, body: FeedbackIn
) -> FeedbackReceipt:
    """The participant's feedback (rating 1-5 and two yes/no answers, an optional comment that stays with the
    municipality), once, after the meeting (domain.feedback_problem). Raises NotFound (not the token's
    registration), Conflict (not now, not for this place, or given already)."""
    async with scoped(pool, scope_of(None)) as conn:
        reg = await registration_for(conn, None, manage_token, registration_id)
        meeting = await store.meeting(conn, reg["meeting_id"])
        assert meeting is not None
        refuse(domain.feedback_problem(reg["status"], meeting["status"], clock_of(meeting), now()))
        row = await store.insert_feedback(conn, registration_id, reg["tenant_id"], reg["meeting_id"], body.model_dump())
        if row is None:
            raise Conflict("feedback for this registration has been given already; thank you!")
        data = FeedbackGiven(
            registration_id=registration_id,
            participant_id=reg["participant_id"],
            meeting_id=reg["meeting_id"],
            tenant_id=reg["tenant_id"],
            group=reg["group"],
            rating=body.rating,
            new_connection=body.new_connection,
            would_recommend=body.would_recommend,
        )
        await outbox.enqueue(conn, SOURCE, [(make_event("feedback.given", reg["tenant_id"], data), reg["meeting_id"])])
        return FeedbackReceipt(row["registration_id"], row["given_at"])


async def change_contact(
    pool: asyncpg.Pool, manage_token: str, registration_id: uuid.UUID, email: str | None, phone: str | None
) -> None:
    """The participant changes their e-mail and phone (already validated as in ``SignUpIn``; at least one)
    with their manage token; notification learns it (``contact.upserted``). Raises NotFound (not the token's
    registration), Conflict (the place is not live or the meeting is behind it:
    ``domain.contact_change_problem``; or the e-mail or phone belongs to another participant of the tenant)."""
    async with scoped(pool, scope_of(None)) as conn:
        reg = await registration_for(conn, None, manage_token, registration_id)
        meeting = await store.meeting(conn, reg["meeting_id"])
        assert meeting is not None
        problem = domain.contact_change_problem(reg["status"], meeting["status"])
        if problem is not None:
            raise Conflict(problem)
        tenant_id, participant_id = reg["tenant_id"], reg["participant_id"]
        if await store.contact_taken_by_other(conn, tenant_id, participant_id, email=email, phone=phone):
            raise Conflict("this e-mail address or phone number belongs to someone else signed up here")
        person = await store.set_contact(conn, participant_id, email, phone)
        contact = ContactUpserted(
            participant_id=participant_id,
            tenant_id=tenant_id,
            name=person["name"],
            email=person["email"],
            phone=person["phone"],
            language=person["language"],
        )
        await outbox.enqueue(conn, SOURCE, [(make_event("contact.upserted", tenant_id, contact), participant_id)])
