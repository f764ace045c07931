"""Events notification consumes: tenants, contacts and manage links, sign-ups and erasure requests waiting
for their confirmation link, meetings, registrations and published pairs. Every handler is ``planning``'s;
this module only says which event types go to which."""

from __future__ import annotations

from services.notification import planning
from shared import tenancy, topics
from shared.consumer import Handlers, route
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
    RegistrationChanged,
    SignupClosed,
    SignupRepeated,
    SignupRequested,
)

SUBSCRIBES_TO = (topics.TENANTS, topics.MEETINGS, topics.REGISTRATIONS, topics.CONTACTS, topics.MATCHING)


async def contact_upserted(conn: Conn, event: Envelope, contact: ContactUpserted) -> None:
    """contact.upserted: keep the participant's contact details."""
    await planning.contact_upserted(conn, contact)


async def manage_link(conn: Conn, event: Envelope, link: ManageLink) -> None:
    """contact.manage_link: keep the registration's manage token, for the links in messages."""
    await planning.manage_link(conn, link)


async def attendance(conn: Conn, event: Envelope, registration: RegistrationChanged) -> None:
    """registration.attended | no_show: kept, so a feedback request skips those who did not come."""
    await planning.registration_status(conn, registration)


HANDLERS = Handlers(
    tenancy.HANDLERS_WITH_CONTACT,  # messages name the municipality and its contact
    route("contact.upserted", ContactUpserted, contact_upserted),
    route("contact.manage_link", ManageLink, manage_link),
    route("contact.signup_requested", SignupRequested, planning.signup_requested),
    route("contact.signup_closed", SignupClosed, planning.signup_closed),
    route("contact.erasure_requested", ErasureRequested, planning.erasure_requested),
    route("contact.erasure_request_closed", ErasureRequestClosed, planning.erasure_request_closed),
    route("registration.signup_repeated", SignupRepeated, planning.signup_repeated),
    route(MEETING_EVENTS, MeetingSnapshot, planning.meeting_event),
    route(PLACE_EVENTS, RegistrationChanged, planning.registration_changed),
    route(ATTENDANCE_EVENTS, RegistrationChanged, attendance),
    route("participant.erased", ParticipantErased, planning.participant_erased),
    route("matching.pairs_published", Pairing, planning.pairs_published),
)
