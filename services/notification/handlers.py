"""Events notification consumes: contacts, meetings, and the registration changes that cause messages."""

from __future__ import annotations

from services.notification import store
from shared import tenancy, topics
from shared.consumer import EventConsumer
from shared.db import Conn
from shared.events import ContactUpserted, Envelope, MeetingSnapshot, RegistrationChanged

SUBSCRIBES_TO = (topics.TENANTS, topics.MEETINGS, topics.REGISTRATIONS, topics.CONTACTS)

# registration event type -> notification kind
KIND_OF = {"registration.confirmed": "registration_confirmed"}


def register(consumer: EventConsumer) -> None:
    tenancy.register(consumer)

    @consumer.on("contact.upserted")
    async def contact_upserted(conn: Conn, event: Envelope) -> None:
        c = ContactUpserted.model_validate(event.data)
        await store.upsert_contact(conn, **c.model_dump())

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
        await store.upsert_meeting(
            conn,
            meeting_id=m.meeting_id,
            tenant_id=m.tenant_id,
            title=m.title,
            status=m.status,
            starts_at=m.starts_at,
            duration_minutes=m.duration_minutes,
            timezone=m.timezone,
            venue=m.venue.model_dump(),
        )

    @consumer.on(*KIND_OF)
    async def registration_changed(conn: Conn, event: Envelope) -> None:
        r = RegistrationChanged.model_validate(event.data)
        await store.add_notification(
            conn,
            tenant_id=r.tenant_id,
            cause_event_id=event.id,
            participant_id=r.participant_id,
            meeting_id=r.meeting_id,
            kind=KIND_OF[event.type],
            channel="email",
        )
