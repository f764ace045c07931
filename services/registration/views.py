"""What the registration use cases answer with: small, frozen view objects that the JSON API and the
server-rendered pages both render. No database row goes past a use case; these are built inside its
transaction, so what a caller is shown is what that transaction saw (and wrote)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.registration import domain
from shared.events import Capacity, MeetingStatus, RegistrationStatus, Venue

# A row as the store gives it (or a plain mapping in tests); it goes no further than the constructors below.
Row = asyncpg.Record | Mapping[str, Any]


def venue_of(row: Row) -> Venue:
    """The meeting row's venue (stored as JSON) as the contract's ``Venue``."""
    venue = row["venue"]
    return Venue.model_validate(venue if isinstance(venue, dict) else json.loads(venue))


@dataclass(frozen=True)
class TenantView:
    """A tenant (municipality) and its settings, as the operator sees it."""

    id: uuid.UUID
    slug: str
    name: str
    municipality_number: str
    timezone: str
    status: str
    day_starts: time
    day_ends: time
    retention_days: int
    contact_email: str | None
    contact_phone: str | None

    @classmethod
    def of(cls, row: Row) -> TenantView:
        return cls(
            id=row["id"],
            slug=row["slug"],
            name=row["name"],
            municipality_number=row["municipality_number"],
            timezone=row["timezone"],
            status=row["status"],
            day_starts=row["day_starts"],
            day_ends=row["day_ends"],
            retention_days=row["retention_days"],
            contact_email=row["contact_email"],
            contact_phone=row["contact_phone"],
        )


@dataclass(frozen=True)
class IssuedToken:
    """A new coordinator token: shown once, only its hash is kept."""

    token_id: uuid.UUID
    token: str


@dataclass(frozen=True)
class TenantActivity:
    """A tenant as the operator's console lists it: the tenant, its number of meetings, and its last activity
    (the latest meeting created or updated, or registration made; None before any)."""

    tenant: TenantView
    meetings: int
    last_activity: datetime | None

    @classmethod
    def of(cls, row: Row) -> TenantActivity:
        return cls(TenantView.of(row), row["meeting_count"], row["last_activity"])


@dataclass(frozen=True)
class AccessKey:
    """A coordinator token as the operator sees it afterwards: its id, when it was issued (None when that was
    not kept), and when it was revoked (None while it is active). Never the token: only its hash is kept."""

    token_id: uuid.UUID
    issued_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def of(cls, row: Row) -> AccessKey:
        return cls(row["token_id"], row["issued_at"], row["revoked_at"])


@dataclass(frozen=True)
class GroupCounts:
    """People per group (newcomers and residents)."""

    newcomer: int = 0
    resident: int = 0


@dataclass(frozen=True)
class MeetingView:
    """A meeting with its places taken per group and its running order; ``invitation_code`` only for its
    coordinator. Times are aware datetimes; ``local_starts``/``local_ends`` are in the tenant's zone."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    title: str
    format: str
    status: MeetingStatus
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    timezone: str
    registration_closes_at: datetime | None
    venue: Venue
    capacity: Capacity
    confirmed: GroupCounts
    waitlisted: GroupCounts
    agenda: tuple[domain.AgendaItem, ...]
    invitation_code: str | None

    @classmethod
    def of(cls, row: Row, counts: Mapping[str, int] | None = None, *, coordinator: bool = True) -> MeetingView:
        """The view of a meeting row (``store.meeting``) with ``counts`` as ``store.counts_by_group`` gives
        them for it (``{"confirmed:newcomer": n, ...}``; missing: none)."""
        counts = counts or {}
        zone = ZoneInfo(row["timezone"])
        pairs = min(row["capacity_newcomer"], row["capacity_resident"])
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            title=row["title"],
            format=row["format"],
            status=MeetingStatus(row["status"]),
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            duration_minutes=row["duration_minutes"],
            timezone=row["timezone"],
            registration_closes_at=row["registration_closes_at"],
            venue=venue_of(row),
            capacity=Capacity(newcomer=row["capacity_newcomer"], resident=row["capacity_resident"]),
            confirmed=GroupCounts(counts.get("confirmed:newcomer", 0), counts.get("confirmed:resident", 0)),
            waitlisted=GroupCounts(counts.get("waitlisted:newcomer", 0), counts.get("waitlisted:resident", 0)),
            agenda=tuple(domain.agenda(row["starts_at"].astimezone(zone), row["duration_minutes"], pairs)),
            invitation_code=row["invitation_code"] if coordinator else None,
        )

    @property
    def local_starts(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))

    @property
    def local_ends(self) -> datetime:
        return self.ends_at.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True)
class SignedUp:
    """A coordinator's sign-up: the place decided at once, and the manage token (shown once)."""

    registration_id: uuid.UUID
    participant_id: uuid.UUID
    status: RegistrationStatus
    manage_token: str


@dataclass(frozen=True)
class RegistrationLine:
    """One registration in the coordinator's list of a meeting (with the participant's name)."""

    id: uuid.UUID
    participant_id: uuid.UUID
    group: str
    status: RegistrationStatus
    name: str | None
    signed_up_at: datetime
    waitlist_position: int | None

    @classmethod
    def of(cls, row: Row) -> RegistrationLine:
        return cls(
            id=row["id"],
            participant_id=row["participant_id"],
            group=row["group"],
            status=RegistrationStatus(row["status"]),
            name=row["name"],
            signed_up_at=row["signed_up_at"],
            waitlist_position=row["waitlist_position"],
        )


@dataclass(frozen=True)
class PlaceView:
    """A participant's own registration, as their manage link shows it: the place, the meeting, whether
    feedback was given, and what the page may offer (``cancel``, ``feedback``, ``erase``: exactly what the
    use cases would accept now)."""

    id: uuid.UUID
    participant_id: uuid.UUID
    meeting_id: uuid.UUID
    group: str
    status: RegistrationStatus
    waitlist_position: int | None
    meeting: MeetingView
    feedback_given: bool
    offers: frozenset[str]


@dataclass(frozen=True)
class FeedbackReceipt:
    """Feedback stored for a registration, and when (an aware datetime)."""

    registration_id: uuid.UUID
    given_at: datetime


@dataclass(frozen=True)
class CommandReceipt:
    """A coordinator's command to matching (swap, lock, publish), and the plan version it was based on."""

    command_id: uuid.UUID
    based_on_version: int


@dataclass(frozen=True)
class SeatingView:
    """The long-table seating of a meeting with names (``plan`` is the JSON answer)."""

    meeting: MeetingView
    plan: dict[str, Any]


@dataclass(frozen=True)
class PublicMeeting:
    """A meeting as its public page shows it: the meeting, its places per group
    (``domain.availability``), and whether sign-up is open now (``sign_up_problem`` is None)."""

    meeting: MeetingView
    newcomer: domain.Availability
    resident: domain.Availability
    open: bool

    @classmethod
    def of(cls, meeting: MeetingView, open_: bool) -> PublicMeeting:
        """The public view of ``meeting`` (counted), with ``open_``: whether sign-up is open now."""
        return cls(
            meeting=meeting,
            newcomer=domain.availability(
                meeting.capacity.newcomer, meeting.confirmed.newcomer, meeting.waitlisted.newcomer
            ),
            resident=domain.availability(
                meeting.capacity.resident, meeting.confirmed.resident, meeting.waitlisted.resident
            ),
            open=open_,
        )


@dataclass(frozen=True)
class TenantPage:
    """A tenant's public page: the tenant and its upcoming published meetings, soonest first."""

    tenant: TenantView
    meetings: tuple[PublicMeeting, ...]


@dataclass(frozen=True)
class MeetingPage:
    """One meeting's public page: the tenant, the meeting, and the invitation code the page was opened with
    (checked; None for residents' page)."""

    tenant: TenantView
    meeting: PublicMeeting
    invitation_code: str | None


@dataclass(frozen=True)
class Partner:
    """Whom a participant talks with once the pairs are published: first names only, and the seats."""

    pair_number: int
    seat: int
    first_names: tuple[str, ...]


@dataclass(frozen=True)
class OwnPlace:
    """The manage page's view: the place (``PlaceView``), the tenant, the partner once published, and the
    participant's own contact details (the page is theirs and is not stored by browsers or proxies)."""

    place: PlaceView
    tenant: TenantView
    partner: Partner | None
    email: str | None = None
    phone: str | None = None
