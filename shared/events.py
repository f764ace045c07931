"""Event contracts: the envelope every domain event travels in, and the payload of each event type.

The body of a Kafka record is the envelope as JSON. Its CloudEvents attributes are repeated as
binary-mode ``ce_*`` headers, so tools that only read headers can route and trace.
Schemas evolve additively: consumers ignore unknown fields and unknown event types.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import topics

Group = Literal["newcomer", "resident"]
SPEC_VERSION = "1.0"


class MeetingStatus(StrEnum):
    """Where a meeting is in its lifecycle (DESIGN.md §7): draft → published → registration_closed →
    completed, or cancelled from any of the first three. A ``StrEnum``: it is its string on the wire and
    compares equal to it."""

    DRAFT = "draft"
    PUBLISHED = "published"
    REGISTRATION_CLOSED = "registration_closed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RegistrationStatus(StrEnum):
    """A participant's place in one meeting (DESIGN.md §2): ``confirmed``, ``waitlisted``, ``cancelled``,
    then ``attended`` / ``no_show``. A ``StrEnum``: it is its string on the wire and compares equal to it."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    # A validation error never quotes the input: it may hold names, addresses and tokens, and the error
    # text travels into logs and dead-letter headers.
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    tenant_id: uuid.UUID
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    causation_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def headers(self, source: str) -> dict[str, str]:
        return {
            "ce_id": str(self.id),
            "ce_type": self.type,
            "ce_source": f"/fmf/{source}",
            "ce_specversion": SPEC_VERSION,
            "ce_time": self.occurred_at.isoformat(),
            "ce_tenantid": str(self.tenant_id),
            "ce_correlationid": str(self.correlation_id),
            "content-type": "application/json",
        }

    def caused(self, type_: str, data: BaseModel, tenant_id: uuid.UUID | None = None) -> Envelope:
        """A new event caused by this one: same correlation, this event as the cause."""
        return make_event(
            type_, tenant_id or self.tenant_id, data, correlation_id=self.correlation_id, causation_id=self.id
        )


def make_event(
    type_: str,
    tenant_id: uuid.UUID,
    data: BaseModel,
    *,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
) -> Envelope:
    return Envelope(
        type=type_,
        tenant_id=tenant_id,
        correlation_id=correlation_id or uuid.uuid4(),
        causation_id=causation_id,
        data=data.model_dump(mode="json"),
    )


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)  # as the envelope's


# --- fmf.tenants.v1 (key: tenant_id) ---------------------------------------------------------


class TenantCreated(Payload):
    """tenant.created, and tenant.updated after its settings change: the tenant as it is now."""

    tenant_id: uuid.UUID
    slug: str
    name: str
    municipality_number: str
    timezone: str = "Europe/Oslo"
    # Whom participants contact about the municipality's meetings (tenant settings); named in messages.
    contact_email: str | None = None
    contact_phone: str | None = None


class TokenIssued(Payload):
    """A coordinator token, as its SHA-256 hash, so every service can authenticate coordinators."""

    token_id: uuid.UUID
    tenant_id: uuid.UUID
    token_hash: str


class TokenRevoked(Payload):
    token_id: uuid.UUID
    tenant_id: uuid.UUID


class TenantStatusChanged(Payload):
    """tenant.suspended | tenant.reactivated."""

    tenant_id: uuid.UUID
    status: Literal["active", "suspended"]


# --- fmf.meetings.v1 (key: meeting_id) -------------------------------------------------------


class Venue(BaseModel):
    name: str
    address: str
    kind: str


class Capacity(BaseModel):
    newcomer: int
    resident: int


class MeetingSnapshot(Payload):
    """The meeting as it is after the event; every ``meeting.*`` event carries it whole."""

    meeting_id: uuid.UUID
    tenant_id: uuid.UUID
    title: str
    format: str
    status: MeetingStatus
    starts_at: datetime
    duration_minutes: int
    timezone: str = "Europe/Oslo"
    venue: Venue
    capacity: Capacity
    # Set on meeting.registration_closed: the confirmed registrations matching must pair.
    confirmed_registration_ids: list[uuid.UUID] | None = None
    # Set on meeting.changed: which fields changed (starts_at, duration_minutes, venue, title, capacity, ...).
    changes: list[str] | None = None


# --- fmf.registrations.v1 (key: meeting_id) --------------------------------------------------


class Profile(BaseModel):
    """Non-identifying attributes, safe for matching and reporting."""

    model_config = ConfigDict(extra="ignore")

    interests: list[str] = Field(default_factory=list)
    occupation_field: str | None = None
    languages: list[str] = Field(default_factory=list)
    age_band: str | None = None
    gender: str | None = None
    same_gender_partner: bool = False
    norwegian_level: str | None = None
    first_time: bool | None = None


class RegistrationChanged(Payload):
    """registration.confirmed | waitlisted | promoted | cancelled."""

    registration_id: uuid.UUID
    participant_id: uuid.UUID
    meeting_id: uuid.UUID
    tenant_id: uuid.UUID
    group: Group
    status: RegistrationStatus
    language: str
    profile: Profile = Field(default_factory=Profile)
    # On registration.cancelled: the waiting registration promoted into the freed place, whose
    # registration.promoted follows on the same key.
    promoted_registration_id: uuid.UUID | None = None
    # On registration.cancelled: why, when it was not the person's or the coordinator's choice.
    # "erasure": the participant's data was erased (participant.erased follows with the same
    # correlation id); they are told once, by the erasure confirmation, not by a cancellation message.
    reason: Literal["erasure"] | None = None
    # On registration.waitlisted: the place in the group's waiting list (1 = the next to get a place).
    waitlist_position: int | None = None


class SignupRepeated(Payload):
    """registration.signup_repeated (key: meeting_id): someone signed up publicly with the contact of a
    participant who holds a live place in this meeting already. Notification tells that participant, at
    their own contact, that they are signed up, with their existing manage link; the caller learns nothing."""

    registration_id: uuid.UUID
    participant_id: uuid.UUID
    meeting_id: uuid.UUID
    tenant_id: uuid.UUID


class ParticipantErased(Payload):
    """participant.erased (key: participant_id): personal data is gone; registrations stay as anonymous rows."""

    participant_id: uuid.UUID
    tenant_id: uuid.UUID
    registration_ids: list[uuid.UUID] = Field(default_factory=list)
    reason: Literal["request", "retention"] = "request"


# --- fmf.feedback.v1 (key: meeting_id) ----------------------------------------------------------


class FeedbackGiven(Payload):
    """feedback.given: the answers, without the free-text comment (that stays in registration)."""

    registration_id: uuid.UUID
    participant_id: uuid.UUID
    meeting_id: uuid.UUID
    tenant_id: uuid.UUID
    group: Group
    rating: int = Field(ge=1, le=5)
    new_connection: bool
    would_recommend: bool


# --- fmf.contacts.v1 (compacted; consumed by notification only) --------------------------------
# contact.upserted is keyed by participant_id, contact.manage_link by "<participant_id>/<registration_id>";
# erasure publishes a tombstone (null value) for each of those keys. A sign-up waiting for its contact to be
# confirmed is keyed "signup/<signup_id>", an erasure waiting for confirmation "erasure/<request_id>"; each
# ends with a *_closed event and a tombstone, so that a compacted topic keeps none of their details.


class ContactUpserted(Payload):
    participant_id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    email: str | None = None
    phone: str | None = None
    language: str = "nb"


class ManageLink(Payload):
    """contact.manage_link: the participant's manage token for one registration, for the links in messages."""

    participant_id: uuid.UUID
    registration_id: uuid.UUID
    meeting_id: uuid.UUID
    tenant_id: uuid.UUID
    manage_token: str


class SignupRequested(Payload):
    """contact.signup_requested (key ``signup/<signup_id>``): a sign-up without a coordinator token waits for
    its contact to be confirmed (double opt-in). Notification sends the link
    ``<public_base_url>/confirm/<signup_id>?token=<confirm_token>`` to the e-mail given, or by SMS to the
    phone when there is no e-mail, in ``language``. The place is decided only when the link is used."""

    signup_id: uuid.UUID
    tenant_id: uuid.UUID
    meeting_id: uuid.UUID
    name: str
    email: str | None = None
    phone: str | None = None
    language: str = "nb"
    confirm_token: str
    expires_at: datetime


class SignupClosed(Payload):
    """contact.signup_closed (key ``signup/<signup_id>``, followed by a tombstone): the sign-up was confirmed
    or expired; every copy of its contact details and token can go."""

    signup_id: uuid.UUID
    tenant_id: uuid.UUID
    outcome: Literal["confirmed", "expired"]


class ErasureRequested(Payload):
    """contact.erasure_requested (key ``erasure/<request_id>``): a participant asked, with a manage link, to
    erase all their data. Notification sends ``<public_base_url>/erase/<request_id>?token=<confirm_token>``
    to the participant's own contact; erasure happens only when that link is used."""

    request_id: uuid.UUID
    participant_id: uuid.UUID
    tenant_id: uuid.UUID
    confirm_token: str
    expires_at: datetime


class ErasureRequestClosed(Payload):
    """contact.erasure_request_closed (key ``erasure/<request_id>``, followed by a tombstone)."""

    request_id: uuid.UUID
    tenant_id: uuid.UUID
    outcome: Literal["erased", "expired"]


# --- fmf.matching.v1 (key: meeting_id) -------------------------------------------------------


class PairMember(BaseModel):
    participant_id: uuid.UUID
    registration_id: uuid.UUID
    group: Group
    seat: int
    side: Literal["left", "right"]


ReasonKind = Literal["shared_interests", "same_occupation", "same_situation", "common_languages", "close_in_age"]
UnpairedKind = Literal[
    "no_one_in_other_group",
    "paired_before_with_everyone",
    "same_gender_no_fit",
    "same_gender_no_gender",
    "others_want_same_gender",
    "groups_do_not_fit",
    "groups_full",
    "no_fit",
]


class Reason(BaseModel):
    """One reason a pair was chosen, as codes a page words in its own language: ``kind``, the vocabulary ids
    it names (``items``: interests, an occupation field or spoken languages; none for ``close_in_age``), and
    whose reason it is (``member``: None for the pair, "extra" for a trio's third member, "extra_<k>" for
    the k-th extra of a larger group)."""

    kind: ReasonKind
    items: list[str] = Field(default_factory=list)
    member: str | None = None


class UnpairedReason(BaseModel):
    """Why someone has no pair, as a code; for ``no_fit``, how many of the other group are ruled out by
    each rule (not of the same gender, which the person asked for; wanting a partner of their own gender;
    paired with the person before)."""

    kind: UnpairedKind
    not_same_gender: int = 0
    want_own_gender: int = 0
    paired_before: int = 0


class Pair(BaseModel):
    """A pair, or a trio when the groups are uneven, with its seats and the reasons it was chosen:
    ``reasons`` in plain English, ``why`` the same as codes (empty in plans made before it existed)."""

    number: int
    members: list[PairMember]
    score: float = 0.0
    reasons: list[str] = Field(default_factory=list)
    locked: bool = False
    why: list[Reason] = Field(default_factory=list)


class Unpaired(BaseModel):
    """Someone left without a pair: ``reason`` in plain English, ``why`` the same as a code (None in plans
    made before it existed)."""

    participant_id: uuid.UUID
    registration_id: uuid.UUID
    group: Group
    reason: str
    why: UnpairedReason | None = None


class Pairing(Payload):
    """matching.pairs_proposed | matching.pairs_published: the whole seating plan of one meeting."""

    meeting_id: uuid.UUID
    tenant_id: uuid.UUID
    version: int
    status: Literal["proposed", "published"] = "proposed"
    pairs: list[Pair]
    unpaired: list[Unpaired] = Field(default_factory=list)
    total_score: float = 0.0
    # Registration ids whose partner changed since the previous version (empty for version 1).
    changed: list[uuid.UUID] = Field(default_factory=list)


class SwapRequested(Payload):
    """Command from a coordinator: the two people (same group) change places."""

    meeting_id: uuid.UUID
    tenant_id: uuid.UUID
    registration_ids: tuple[uuid.UUID, uuid.UUID]


class LockRequested(Payload):
    """Command from a coordinator: fix (or release) the pair that holds this registration."""

    meeting_id: uuid.UUID
    tenant_id: uuid.UUID
    registration_id: uuid.UUID
    locked: bool = True


class PublishRequested(Payload):
    """Command from a coordinator: announce the current proposal."""

    meeting_id: uuid.UUID
    tenant_id: uuid.UUID
    version: int


# --- fmf.notifications.v1 (key: meeting_id or participant_id) --------------------------------


class NotificationOutcome(Payload):
    """notification.sent | notification.failed; no contact details.

    A message to a sign-up that waits for its contact to be confirmed has no participant yet: it carries
    ``signup_id`` instead of ``participant_id``."""

    notification_id: uuid.UUID
    tenant_id: uuid.UUID
    meeting_id: uuid.UUID | None = None
    participant_id: uuid.UUID | None = None
    signup_id: uuid.UUID | None = None
    kind: str
    channel: Literal["email", "sms"]
    error: str | None = None


# Which topic each event type goes to, and which payload model describes it.
EVENT_TYPES: dict[str, tuple[str, type[Payload]]] = {
    "tenant.created": (topics.TENANTS, TenantCreated),
    "tenant.updated": (topics.TENANTS, TenantCreated),
    "tenant.token_issued": (topics.TENANTS, TokenIssued),
    "tenant.token_revoked": (topics.TENANTS, TokenRevoked),
    "tenant.suspended": (topics.TENANTS, TenantStatusChanged),
    "tenant.reactivated": (topics.TENANTS, TenantStatusChanged),
    "meeting.created": (topics.MEETINGS, MeetingSnapshot),
    "meeting.published": (topics.MEETINGS, MeetingSnapshot),
    "meeting.changed": (topics.MEETINGS, MeetingSnapshot),
    "meeting.registration_closed": (topics.MEETINGS, MeetingSnapshot),
    "meeting.cancelled": (topics.MEETINGS, MeetingSnapshot),
    "meeting.completed": (topics.MEETINGS, MeetingSnapshot),
    "registration.confirmed": (topics.REGISTRATIONS, RegistrationChanged),
    "registration.waitlisted": (topics.REGISTRATIONS, RegistrationChanged),
    "registration.promoted": (topics.REGISTRATIONS, RegistrationChanged),
    "registration.cancelled": (topics.REGISTRATIONS, RegistrationChanged),
    "registration.attended": (topics.REGISTRATIONS, RegistrationChanged),
    "registration.no_show": (topics.REGISTRATIONS, RegistrationChanged),
    "registration.signup_repeated": (topics.REGISTRATIONS, SignupRepeated),
    "participant.erased": (topics.REGISTRATIONS, ParticipantErased),
    "feedback.given": (topics.FEEDBACK, FeedbackGiven),
    "contact.upserted": (topics.CONTACTS, ContactUpserted),
    "contact.manage_link": (topics.CONTACTS, ManageLink),
    "contact.signup_requested": (topics.CONTACTS, SignupRequested),
    "contact.signup_closed": (topics.CONTACTS, SignupClosed),
    "contact.erasure_requested": (topics.CONTACTS, ErasureRequested),
    "contact.erasure_request_closed": (topics.CONTACTS, ErasureRequestClosed),
    "matching.pairs_proposed": (topics.MATCHING, Pairing),
    "matching.pairs_published": (topics.MATCHING, Pairing),
    "matching.swap_requested": (topics.MATCHING, SwapRequested),
    "matching.lock_requested": (topics.MATCHING, LockRequested),
    "matching.publish_requested": (topics.MATCHING, PublishRequested),
    "notification.sent": (topics.NOTIFICATIONS, NotificationOutcome),
    "notification.failed": (topics.NOTIFICATIONS, NotificationOutcome),
}


# Families of event types that consumers route together.
MEETING_EVENTS = tuple(t for t in EVENT_TYPES if t.startswith("meeting."))
"""Every ``meeting.*`` type: each carries the whole meeting (``MeetingSnapshot``)."""
PLACE_EVENTS = ("registration.confirmed", "registration.waitlisted", "registration.promoted", "registration.cancelled")
"""A registration's place changed: it holds one, waits for one, or gave it up."""
ATTENDANCE_EVENTS = ("registration.attended", "registration.no_show")
"""What the coordinator recorded on the day."""
REGISTRATION_EVENTS = PLACE_EVENTS + ATTENDANCE_EVENTS
"""Every type that carries ``RegistrationChanged``."""


def topic_for(event_type: str) -> str:
    return EVENT_TYPES[event_type][0]


def payload(event: Envelope) -> Payload | None:
    """The typed payload of a known event type, or None for a type this code does not know."""
    known = EVENT_TYPES.get(event.type)
    if known is None:
        return None
    return known[1].model_validate(event.data)
