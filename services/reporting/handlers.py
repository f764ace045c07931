"""Reporting consumes every topic into its personal-data-free read model.

It keeps ids, groups, statuses and answers as numbers, never a name, contact detail or comment.
``participant.erased`` needs nothing: the erased person's registrations stay counted, and nothing
here could identify them. Registration events of one meeting arrive in order (one key), so the last
one applied holds a registration's status; other topics carry facts that do not depend on order.

Each event type has a *writer*: a pure function from the event to the statements it writes
(``store.Write``). The service applies one event's writes in its inbox transaction; a rebuild runs
a whole batch of them together.
"""

from __future__ import annotations

from collections.abc import Callable

from services.reporting import store
from shared import tenancy, topics
from shared.consumer import EventConsumer
from shared.db import Conn
from shared.events import Envelope, FeedbackGiven, MeetingSnapshot, NotificationOutcome, Pairing, RegistrationChanged

SUBSCRIBES_TO = (
    topics.TENANTS,
    topics.MEETINGS,
    topics.REGISTRATIONS,
    topics.MATCHING,
    topics.NOTIFICATIONS,
    topics.FEEDBACK,
)

Writer = Callable[[Envelope], list[store.Write]]


def meeting_changed(event: Envelope) -> list[store.Write]:
    m = MeetingSnapshot.model_validate(event.data)
    return [store.upsert_meeting(m.meeting_id, m.tenant_id, m.format, m.status, m.starts_at, m.timezone, m.title)]


def registration_changed(event: Envelope) -> list[store.Write]:
    r = RegistrationChanged.model_validate(event.data)
    promoted = event.type == "registration.promoted"
    return [
        store.upsert_registration(
            r.registration_id, r.tenant_id, r.meeting_id, r.group, r.status, promoted, r.profile.first_time
        )
    ]


def pairs_changed(event: Envelope) -> list[store.Write]:
    p = Pairing.model_validate(event.data)
    trios = sum(1 for pair in p.pairs if len(pair.members) > 2)
    return [store.upsert_pairing(p.meeting_id, p.tenant_id, p.version, len(p.pairs) - trios, trios)]


def feedback_given(event: Envelope) -> list[store.Write]:
    f = FeedbackGiven.model_validate(event.data)
    return [
        store.upsert_feedback(
            f.registration_id, f.tenant_id, f.meeting_id, f.group, f.rating, f.new_connection, f.would_recommend
        )
    ]


def notification_outcome(event: Envelope) -> list[store.Write]:
    n = NotificationOutcome.model_validate(event.data)
    outcome = event.type.removeprefix("notification.")
    return [
        store.record_notification(n.notification_id, n.tenant_id, n.meeting_id, n.channel, outcome, event.occurred_at)
    ]


WRITERS: dict[str, Writer] = {
    **dict.fromkeys(
        (
            "meeting.created",
            "meeting.published",
            "meeting.changed",
            "meeting.registration_closed",
            "meeting.cancelled",
            "meeting.completed",
        ),
        meeting_changed,
    ),
    **dict.fromkeys(
        (
            "registration.confirmed",
            "registration.waitlisted",
            "registration.promoted",
            "registration.cancelled",
            "registration.attended",
            "registration.no_show",
        ),
        registration_changed,
    ),
    "matching.pairs_proposed": pairs_changed,
    "matching.pairs_published": pairs_changed,
    "feedback.given": feedback_given,
    "notification.sent": notification_outcome,
    "notification.failed": notification_outcome,
}


async def apply(conn: Conn, event: Envelope) -> None:
    await store.apply(conn, WRITERS[event.type](event))


def register(consumer: EventConsumer) -> None:
    tenancy.register(consumer)
    consumer.on(*WRITERS)(apply)
