"""Public sign-up with double opt-in (DESIGN.md §10).

A sign-up without a coordinator token holds no place and reveals nothing: it is kept as *waiting* and a
message with a confirmation link goes to the contact given. Only when that link is used is the place
decided (confirmed or waitlisted, first confirmed first served, under the same meeting lock as every
other sign-up), and only then may the sign-up join a participant already known by that contact, because
the person has shown they hold it. A known participant's name, contact and profile never change here.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.registration import domain, store
from services.registration.schemas import SignUpIn
from services.registration.usecases.common import SOURCE, clock_of, now, refuse, scoped
from services.registration.usecases.registrations import sign_up_events
from services.registration.views import MeetingView
from shared import metrics, outbox, topics
from shared.auth import hash_token, new_token
from shared.db import ALL_TENANTS, Conn, transaction
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.events import (
    Envelope,
    Profile,
    SignupClosed,
    SignupRepeated,
    SignupRequested,
    make_event,
)
from shared.formats import FORMATS


def signup_key(signup_id: uuid.UUID) -> str:
    """The contacts-topic key of a waiting sign-up."""
    return f"signup/{signup_id}"


@dataclass(frozen=True)
class Requested:
    """What a public sign-up did; the caller's answer is the same whichever it was."""

    outcome: str  # "waiting" (a confirmation message goes out) or "repeated" (the person holds a place)
    tenant_id: uuid.UUID
    meeting_id: uuid.UUID


async def request(pool: asyncpg.Pool, meeting_id: uuid.UUID, body: SignUpIn) -> Requested:
    """Take a public sign-up: check the meeting and the invitation code, then either keep it waiting for
    its contact to be confirmed, or, when that contact's participant holds a live place in the meeting
    already, remind that participant (at their own contact) instead.

    Raises NotFound (no such published meeting), Conflict (sign-up not open), Forbidden (a newcomer
    without the meeting's invitation code, or with a wrong one: two texts), Unprocessable (the format's
    Norwegian level).
    """
    async with scoped(pool, "", public_meeting=meeting_id) as conn:
        meeting = await store.meeting(conn, meeting_id)
        if meeting is None or not domain.publicly_visible(meeting["status"]):
            raise NotFound(f"no meeting {meeting_id}")
        _check_open(meeting)
        if body.group == "newcomer":
            refused = domain.invitation_problem(body.invitation_code, meeting["invitation_code"])
            if refused:
                raise Forbidden(refused)
            minimum = FORMATS[meeting["format"]].min_norwegian_level
            refuse(domain.level_problem(body.norwegian_level, minimum), Unprocessable)
        tenant_id = meeting["tenant_id"]
        email, phone = domain.proven_contact(body.email, body.phone)
        known = await store.participant_by_contact(conn, tenant_id, email=email, phone=phone)
        live = await store.live_registration(conn, meeting_id, known["id"]) if known is not None else None
        if live is not None:
            await outbox.enqueue(conn, SOURCE, [_repeated(live)])
            # Counted as every public sign-up is: the metrics are as public as the answer, and tell as little.
            metrics.REGISTRATIONS.labels(outcome="awaiting_confirmation").inc()
            return Requested("repeated", tenant_id, meeting_id)
        tenant = await store.tenant_by_id(conn, tenant_id)
        assert tenant is not None
        signup_id, token = uuid.uuid4(), new_token()
        expires_at = now() + timedelta(hours=tenant["confirmation_hours"])
        profile = Profile.model_validate(body.model_dump()).model_dump()
        await store.insert_signup(
            conn,
            id=signup_id,
            tenant_id=tenant_id,
            meeting_id=meeting_id,
            group=body.group,
            name=body.name,
            email=body.email,
            phone=body.phone,
            language=body.language,
            profile=profile,
            confirm_token_hash=hash_token(token),
            expires_at=expires_at,
        )
        requested = SignupRequested(
            signup_id=signup_id,
            tenant_id=tenant_id,
            meeting_id=meeting_id,
            name=body.name,
            email=body.email,
            phone=body.phone,
            language=body.language,
            confirm_token=token,
            expires_at=expires_at,
        )
        event = make_event("contact.signup_requested", tenant_id, requested)
        await outbox.enqueue(conn, SOURCE, [(event, signup_key(signup_id))])
    metrics.REGISTRATIONS.labels(outcome="awaiting_confirmation").inc()
    return Requested("waiting", tenant_id, meeting_id)


def _repeated(live: asyncpg.Record) -> tuple[Envelope, object]:
    """``registration.signup_repeated`` for a live registration: its participant is told, at their own
    contact, that they hold a place already."""
    repeated = SignupRepeated(
        registration_id=live["id"],
        participant_id=live["participant_id"],
        meeting_id=live["meeting_id"],
        tenant_id=live["tenant_id"],
    )
    return make_event("registration.signup_repeated", live["tenant_id"], repeated), live["meeting_id"]


def _check_open(meeting: asyncpg.Record) -> None:
    """Raise Conflict when sign-up is not open now (domain.sign_up_problem)."""
    refuse(domain.sign_up_problem(meeting["tenant_status"], meeting["status"], clock_of(meeting), now()))


@dataclass(frozen=True)
class Confirmed:
    """The outcome of a confirmation link: the registration, and its manage token when it is new."""

    outcome: str  # "confirmed" | "waitlisted" | "repeated" (held a place already)
    registration_id: uuid.UUID
    meeting_id: uuid.UUID
    manage_token: str | None


async def signup_for_link(pool: asyncpg.Pool, signup_id: uuid.UUID, token: str) -> MeetingView:
    """The meeting of the waiting sign-up behind a confirmation link, for the page that asks to confirm.

    Raises NotFound when the link is not one (wrong id or token), Conflict when it was used or expired, or
    sign-up has closed (the page must not offer a button that the confirmation would refuse).
    """
    async with transaction(pool, store.scope_to_tenant_of_signup(signup_id)) as conn:
        signup = await _signup_with_token(conn, signup_id, token)
        meeting = await store.meeting(conn, signup["meeting_id"])
        assert meeting is not None
        _check_open(meeting)
        return MeetingView.of(meeting, coordinator=False)


async def _signup_with_token(conn: Conn, signup_id: uuid.UUID, token: str, *, lock: bool = False) -> asyncpg.Record:
    signup = await store.signup(conn, signup_id, lock=lock)
    if signup is None or not hmac.compare_digest(signup["confirm_token_hash"], hash_token(token)):
        raise NotFound("this confirmation link is not valid; copy the whole link from the message")
    refuse(domain.confirmation_link_problem(signup["status"], signup["expires_at"], now()))
    return signup


async def confirm(pool: asyncpg.Pool, signup_id: uuid.UUID, token: str) -> Confirmed:
    """Use a confirmation link: decide the place (confirmed while the group has room, else waitlisted).

    The sign-up joins the participant known by the proven contact (unchanged), or creates one; an unproven
    second contact that belongs to someone else is not stored. Raises NotFound (not a valid link), Conflict
    (used, expired, or sign-up has closed).
    """
    async with transaction(pool, store.scope_to_tenant_of_signup(signup_id)) as conn:
        # The meeting row lock serialises every sign-up of the meeting, so capacity can never be exceeded.
        tenant_meeting = await store.meeting_id_of_signup(conn, signup_id)
        meeting = await store.meeting(conn, tenant_meeting, lock=True) if tenant_meeting else None
        signup = await _signup_with_token(conn, signup_id, token, lock=True)
        assert meeting is not None
        _check_open(meeting)
        result = await _place(conn, meeting, signup)
    metrics.REGISTRATIONS.labels(outcome=result.outcome).inc()
    if result.outcome != "repeated":
        metrics.TENANT_SIGNUPS.labels(tenant=meeting["tenant_slug"]).inc()
    return result


async def _place(conn: Conn, meeting: asyncpg.Record, signup: asyncpg.Record) -> Confirmed:
    tenant_id, meeting_id, group = signup["tenant_id"], signup["meeting_id"], signup["group"]
    email, phone = domain.proven_contact(signup["email"], signup["phone"])
    person = await store.participant_by_contact(conn, tenant_id, email=email, phone=phone, lock=True)
    new_person = person is None
    if person is None:
        person = await _new_participant(conn, signup)
    events: list[tuple[Envelope, object]] = []
    live = await store.live_registration(conn, meeting_id, person["id"])
    await store.scrub_contacts_outbox(conn, topics.CONTACTS, [signup_key(signup["id"])])
    if live is not None:
        events.append(_repeated(live))
        await _close(conn, signup, "repeated", events, person["id"], live["id"])
        return Confirmed("repeated", live["id"], meeting_id, None)
    status = domain.place_for(await store.count_confirmed(conn, meeting_id, group), meeting[f"capacity_{group}"])
    token = new_token()
    registration: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "meeting_id": meeting_id,
        "participant_id": person["id"],
        "group": group,
        "status": status,
    }
    waiting = await store.count_waitlisted(conn, meeting_id, group) if status == "waitlisted" else 0
    position = domain.waitlist_position(status, waiting)
    facts = {
        **registration,
        "language": person["language"],
        "profile": person["profile"],
        "waitlist_position": position,
    }
    events += sign_up_events(person, facts, token, new_person)
    await store.insert_registration(conn, SOURCE, events, **registration, token_hash=hash_token(token))
    await _close(conn, signup, "confirmed", [], person["id"], registration["id"])
    return Confirmed(status, registration["id"], meeting_id, token)


async def _new_participant(conn: Conn, signup: asyncpg.Record) -> asyncpg.Record:
    email, phone = signup["email"], signup["phone"]
    tenant_id = signup["tenant_id"]
    # The second contact was not proven: keep it only when it is nobody else's.
    if email and phone and await store.phone_or_email_taken(conn, tenant_id, email=None, phone=phone):
        phone = None
    row = await store.insert_participant(
        conn,
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=signup["name"],
        email=email,
        phone=phone,
        language=signup["language"],
        profile=signup["profile"],
        consent_at=signup["requested_at"],
    )
    if row is None:  # a concurrent confirmation created the person with this contact first: join them
        proven_email, proven_phone = domain.proven_contact(email, phone)
        row = await store.participant_by_contact(conn, tenant_id, email=proven_email, phone=proven_phone, lock=True)
        assert row is not None
    return row


async def _close(
    conn: Conn,
    signup: asyncpg.Record,
    status: str,
    events: list[tuple[Envelope, object]],
    participant_id: uuid.UUID | None = None,
    registration_id: uuid.UUID | None = None,
) -> None:
    """Close a waiting sign-up: blank it, and tell notification to drop its copy (event, then tombstone)."""
    outcome = "expired" if status == "expired" else "confirmed"
    closed = SignupClosed(signup_id=signup["id"], tenant_id=signup["tenant_id"], outcome=outcome)
    key = signup_key(signup["id"])
    events = [*events, (make_event("contact.signup_closed", signup["tenant_id"], closed), key)]
    await outbox.enqueue(conn, SOURCE, events)
    await outbox.enqueue_tombstones(conn, SOURCE, signup["tenant_id"], topics.CONTACTS, [key], events[-1][0])
    await store.close_signup(conn, signup["id"], status, participant_id=participant_id, registration_id=registration_id)


async def close_waiting_with_contact(conn: Conn, tenant_id: uuid.UUID, email: str | None, phone: str | None) -> None:
    """On erasure: the person's sign-ups still waiting for confirmation go too (closed as expired). Raises
    nothing of its own."""
    for signup in await store.pending_signups_with_contact(conn, tenant_id, email, phone):
        await store.scrub_contacts_outbox(conn, topics.CONTACTS, [signup_key(signup["id"])])
        await _close(conn, signup, "expired", [])


async def close_waiting_of_meeting(conn: Conn, meeting_id: uuid.UUID) -> None:
    """When sign-up ends (closed, by the coordinator or the clock, or cancelled): the meeting's sign-ups still
    waiting for confirmation can no longer get a place, so their links and details go now (closed as
    expired), not at their expiry time (issue 17, kind 4: a credential lives no longer than what it grants).
    Raises nothing of its own."""
    for signup in await store.pending_signups_of_meeting(conn, meeting_id):
        await store.scrub_contacts_outbox(conn, topics.CONTACTS, [signup_key(signup["id"])])
        await _close(conn, signup, "expired", [])


async def expire(pool: asyncpg.Pool, at: datetime | None = None) -> int:
    """Close the sign-ups whose confirmation time is over: their details are blanked everywhere.

    Returns how many were closed. Safe to run on every replica at once (rows are claimed SKIP LOCKED).
    Raises nothing of its own.
    """
    at = at or now()
    async with scoped(pool, ALL_TENANTS) as conn:
        expired = await store.expired_signups(conn, at)
        for signup in expired:
            await store.scrub_contacts_outbox(conn, topics.CONTACTS, [signup_key(signup["id"])])
            await _close(conn, signup, "expired", [])
    return len(expired)
