"""Events notification consumes: tenants, contacts and manage links, sign-ups and erasure requests waiting
for their confirmation link, meetings, registrations and published pairs. Every type but the tenants' goes
to ``planning.apply``, one batch form for all of them, so that a batch's run is every record between two
tenant events however the types interleave; this module only says which types carry which payload."""

from __future__ import annotations

from services.notification import planning
from shared import tenancy, topics
from shared.consumer import Handlers, route_batch
from shared.events import (
    ATTENDANCE_EVENTS,
    MEETING_EVENTS,
    PLACE_EVENTS,
    ContactUpserted,
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

HANDLERS = Handlers(
    tenancy.HANDLERS_WITH_CONTACT,  # messages name the municipality and its contact
    route_batch("contact.upserted", ContactUpserted, planning.apply),
    route_batch("contact.manage_link", ManageLink, planning.apply),
    route_batch("contact.signup_requested", SignupRequested, planning.apply),
    route_batch("contact.signup_closed", SignupClosed, planning.apply),
    route_batch("contact.erasure_requested", ErasureRequested, planning.apply),
    route_batch("contact.erasure_request_closed", ErasureRequestClosed, planning.apply),
    route_batch("registration.signup_repeated", SignupRepeated, planning.apply),
    route_batch(MEETING_EVENTS, MeetingSnapshot, planning.apply),
    route_batch(PLACE_EVENTS, RegistrationChanged, planning.apply),
    route_batch(ATTENDANCE_EVENTS, RegistrationChanged, planning.apply),
    route_batch("participant.erased", ParticipantErased, planning.apply),
    route_batch("matching.pairs_published", Pairing, planning.apply),
)
