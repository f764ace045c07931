"""Events notification consumes: tenants, contacts and manage links, sign-ups and erasure requests waiting
for their confirmation link, meetings, registrations and published pairs. Each handler only decodes its
event and hands it to ``planning``."""

from __future__ import annotations

from services.notification import planning
from shared import tenancy, topics
from shared.consumer import EventConsumer
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

SUBSCRIBES_TO = (topics.TENANTS, topics.MEETINGS, topics.REGISTRATIONS, topics.CONTACTS, topics.MATCHING)


def register(consumer: EventConsumer) -> None:
    """Subscribe notification's handlers to the event types it acts on."""
    tenancy.register(consumer, with_contact=True)  # messages name the municipality and its contact

    @consumer.on("contact.upserted")
    async def contact_upserted(conn: Conn, event: Envelope) -> None:
        await planning.contact_upserted(conn, ContactUpserted.model_validate(event.data))

    @consumer.on("contact.manage_link")
    async def manage_link(conn: Conn, event: Envelope) -> None:
        await planning.manage_link(conn, ManageLink.model_validate(event.data))

    @consumer.on("contact.signup_requested")
    async def signup_requested(conn: Conn, event: Envelope) -> None:
        await planning.signup_requested(conn, event, SignupRequested.model_validate(event.data))

    @consumer.on("contact.signup_closed")
    async def signup_closed(conn: Conn, event: Envelope) -> None:
        await planning.signup_closed(conn, event, SignupClosed.model_validate(event.data))

    @consumer.on("contact.erasure_requested")
    async def erasure_requested(conn: Conn, event: Envelope) -> None:
        await planning.erasure_requested(conn, event, ErasureRequested.model_validate(event.data))

    @consumer.on("contact.erasure_request_closed")
    async def erasure_request_closed(conn: Conn, event: Envelope) -> None:
        await planning.erasure_request_closed(conn, event, ErasureRequestClosed.model_validate(event.data))

    @consumer.on("registration.signup_repeated")
    async def signup_repeated(conn: Conn, event: Envelope) -> None:
        await planning.signup_repeated(conn, event, SignupRepeated.model_validate(event.data))

    @consumer.on(
        "meeting.created",
        "meeting.published",
        "meeting.changed",
        "meeting.registration_closed",
        "meeting.cancelled",
        "meeting.completed",
    )
    async def meeting_event(conn: Conn, event: Envelope) -> None:
        await planning.meeting_event(conn, event, MeetingSnapshot.model_validate(event.data))

    @consumer.on("registration.confirmed", "registration.waitlisted", "registration.promoted", "registration.cancelled")
    async def registration_changed(conn: Conn, event: Envelope) -> None:
        await planning.registration_changed(conn, event, RegistrationChanged.model_validate(event.data))

    @consumer.on("registration.attended", "registration.no_show")
    async def attendance(conn: Conn, event: Envelope) -> None:
        await planning.registration_status(conn, RegistrationChanged.model_validate(event.data))

    @consumer.on("participant.erased")
    async def participant_erased(conn: Conn, event: Envelope) -> None:
        await planning.participant_erased(conn, event, ParticipantErased.model_validate(event.data))

    @consumer.on("matching.pairs_published")
    async def pairs_published(conn: Conn, event: Envelope) -> None:
        await planning.pairs_published(conn, event, Pairing.model_validate(event.data))
