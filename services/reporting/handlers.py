"""Reporting consumes every topic into its personal-data-free read model."""

from __future__ import annotations

from services.reporting import store
from shared import tenancy, topics
from shared.consumer import EventConsumer
from shared.db import Conn
from shared.events import Envelope, MeetingSnapshot, Pairing, RegistrationChanged

SUBSCRIBES_TO = (
    topics.TENANTS,
    topics.MEETINGS,
    topics.REGISTRATIONS,
    topics.MATCHING,
    topics.NOTIFICATIONS,
    topics.FEEDBACK,
)


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
        await store.upsert_meeting(conn, m.meeting_id, m.tenant_id, m.format, m.status, m.starts_at)

    @consumer.on("registration.confirmed", "registration.waitlisted", "registration.promoted", "registration.cancelled")
    async def registration_changed(conn: Conn, event: Envelope) -> None:
        r = RegistrationChanged.model_validate(event.data)
        await store.upsert_registration(
            conn,
            r.registration_id,
            r.tenant_id,
            r.meeting_id,
            r.group,
            r.status,
            event.type == "registration.promoted",
            r.profile.first_time,
        )

    @consumer.on("matching.pairs_proposed", "matching.pairs_published")
    async def pairs_proposed(conn: Conn, event: Envelope) -> None:
        p = Pairing.model_validate(event.data)
        trios = sum(1 for pair in p.pairs if len(pair.members) > 2)
        await store.upsert_pairing(conn, p.meeting_id, p.tenant_id, p.version, len(p.pairs) - trios, trios)
