"""Reporting consumes every topic into its personal-data-free read model.

It keeps ids, groups, statuses and answers as numbers, never a name, contact detail or comment.
``participant.erased`` needs nothing: the erased person's registrations stay counted, and nothing
here could identify them. Registration events of one meeting arrive in order (one key), so the last
one applied holds a registration's status; other topics carry facts that do not depend on order.

Each event type has a *writer*: a pure function of the event and its typed payload to the statements
it writes (``store.Write``). The consumer hands each run of records of one route to its ``Applying``
handler at once, which folds their writes per row (``store.apply_set``: one upsert per statement for the
whole run); a rebuild runs a whole batch of them together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from services.reporting import store
from shared import tenancy, topics
from shared.consumer import Handlers, route_batch
from shared.db import Conn
from shared.events import (
    MEETING_EVENTS,
    REGISTRATION_EVENTS,
    Envelope,
    FeedbackGiven,
    MeetingSnapshot,
    NotificationOutcome,
    Pairing,
    Payload,
    RegistrationChanged,
)

SUBSCRIBES_TO = (
    topics.TENANTS,
    topics.MEETINGS,
    topics.REGISTRATIONS,
    topics.MATCHING,
    topics.NOTIFICATIONS,
    topics.FEEDBACK,
)

P = TypeVar("P", bound=Payload)
Writer = Callable[[Envelope, P], list[store.Write]]
"""``(event, payload) -> statements``: pure; reads the envelope's type and time only where it says so."""


def meeting_changed(event: Envelope, m: MeetingSnapshot) -> list[store.Write]:
    """meeting.*: the meeting's format, status, start (UTC), timezone and title."""
    return [store.upsert_meeting(m.meeting_id, m.tenant_id, m.format, m.status, m.starts_at, m.timezone, m.title)]


def registration_changed(event: Envelope, r: RegistrationChanged) -> list[store.Write]:
    """registration.*: group and status, whether it was ever promoted (``event.type``), and of the
    profile only whether it is the person's first time."""
    promoted = event.type == "registration.promoted"
    return [
        store.upsert_registration(
            r.registration_id, r.tenant_id, r.meeting_id, r.group, r.status, promoted, r.profile.first_time
        )
    ]


def pairs_changed(event: Envelope, p: Pairing) -> list[store.Write]:
    """matching.pairs_proposed | pairs_published: the plan's version and its numbers of pairs and trios."""
    trios = sum(1 for pair in p.pairs if len(pair.members) > 2)
    return [store.upsert_pairing(p.meeting_id, p.tenant_id, p.version, len(p.pairs) - trios, trios)]


def feedback_given(event: Envelope, f: FeedbackGiven) -> list[store.Write]:
    """feedback.given: the rating (1-5) and the two yes/no answers."""
    return [
        store.upsert_feedback(
            f.registration_id, f.tenant_id, f.meeting_id, f.group, f.rating, f.new_connection, f.would_recommend
        )
    ]


def notification_outcome(event: Envelope, n: NotificationOutcome) -> list[store.Write]:
    """notification.sent | failed: channel and outcome (from ``event.type``) at ``event.occurred_at``;
    never the error text, which may quote a contact detail."""
    outcome = event.type.removeprefix("notification.")
    return [
        store.record_notification(n.notification_id, n.tenant_id, n.meeting_id, n.channel, outcome, event.occurred_at)
    ]


@dataclass(frozen=True)
class Applying(Generic[P]):
    """The handler of a writer, for a run of events in order: applies all their statements on the inbox
    transaction's connection, folded per row (``store.apply_set``)."""

    writer: Writer[P]

    async def __call__(self, conn: Conn, events: list[tuple[Envelope, P]]) -> None:
        await store.apply_set(conn, [write for event, payload in events for write in self.writer(event, payload)])


HANDLERS = Handlers(
    tenancy.HANDLERS,
    route_batch(MEETING_EVENTS, MeetingSnapshot, Applying(meeting_changed)),
    route_batch(REGISTRATION_EVENTS, RegistrationChanged, Applying(registration_changed)),
    route_batch(("matching.pairs_proposed", "matching.pairs_published"), Pairing, Applying(pairs_changed)),
    route_batch("feedback.given", FeedbackGiven, Applying(feedback_given)),
    route_batch(("notification.sent", "notification.failed"), NotificationOutcome, Applying(notification_outcome)),
)
# The writer of each event type that has one (tenants and tokens have handlers of their own).
WRITERS: dict[str, Writer[Any]] = {
    event_type: row.batch.writer for event_type, row in HANDLERS.items() if isinstance(row.batch, Applying)
}
