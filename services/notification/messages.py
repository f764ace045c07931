"""From what is known about one notification to the text its reader gets."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from services.notification import domain, seating, templates
from services.notification.domain import single_line
from services.notification.templates import Channel, Rendered
from shared.calendar import meeting_ics


@dataclass(frozen=True)
class MeetingView:
    title: str
    starts_at: datetime
    duration_minutes: int
    timezone: str
    venue: Mapping[str, Any]


@dataclass(frozen=True)
class TenantView:
    """The municipality that sends the message, and whom the reader can contact there."""

    name: str = ""
    contact_email: str | None = None
    contact_phone: str | None = None


@dataclass(frozen=True)
class Facts:
    kind: str
    name: str
    language: str
    meeting: MeetingView | None = None
    registration_id: uuid.UUID | None = None
    manage_token: str | None = None
    # A sign-up's or an erasure request's confirmation link: its id, token and expiry.
    signup_id: uuid.UUID | None = None
    erasure_request_id: uuid.UUID | None = None
    confirm_token: str | None = None
    link_expires_at: datetime | None = None
    timezone: str = "Europe/Oslo"
    tenant: TenantView = field(default_factory=TenantView)
    # Facts of this message only: seat, pair_number, interests (vocabulary ids), partners, changes.
    details: Mapping[str, Any] = field(default_factory=dict)


def manage_url(base_url: str, registration_id: uuid.UUID, token: str) -> str:
    """The participant's manage link for one registration."""
    return f"{base_url.rstrip('/')}/manage/{registration_id}?token={quote(token, safe='')}"


def calendar_url(base_url: str, registration_id: uuid.UUID, token: str) -> str:
    """The link to the meeting's .ics file on the participant's manage page (registration serves it)."""
    return f"{base_url.rstrip('/')}/manage/{registration_id}/calendar.ics?token={quote(token, safe='')}"


def calendar_uid(registration_id: uuid.UUID) -> str:
    """The iCalendar UID of one registration's meeting: the same in every file about it (attachment or
    download: registration's ``/manage/{id}/calendar.ics`` writes the same), so a calendar that has the entry
    updates it instead of adding a second one."""
    return f"{registration_id}@folkmoterfolk"


# The UID the cached file of a meeting is written with; each registration's own (as long) replaces it.
_PLACEHOLDER_UID = calendar_uid(uuid.UUID(int=0))


def calendar(facts: Facts) -> bytes | None:
    """The meeting as an .ics file (``shared.calendar.meeting_ics``, on the tenant's clock) for the messages
    that carry one (``domain.WITH_CALENDAR``), with the registration's own UID; None for the others and when
    the meeting is not known. The manage link is in the message itself, not in the file."""
    if facts.kind not in domain.WITH_CALENDAR or facts.meeting is None or facts.registration_id is None:
        return None
    m = facts.meeting
    venue = {key: single_line(str(value)) for key, value in dict(m.venue).items()}
    location = ", ".join(part for part in (venue.get("name", ""), venue.get("address", "")) if part)
    file = _meeting_file(single_line(m.title), m.starts_at, m.duration_minutes, m.timezone, location)
    # A UID is always as long as the placeholder (a UUID's text), so the file's folded lines stay as written.
    return file.replace(_PLACEHOLDER_UID.encode(), calendar_uid(facts.registration_id).encode(), 1)


@lru_cache(maxsize=1024)
def _meeting_file(title: str, starts_at: datetime, duration_minutes: int, timezone: str, location: str) -> bytes:
    """One meeting's .ics file, written once per process and meeting (as it is now): the time zone's
    VTIMEZONE takes most of the CPU a message costs, the same for every participant of the meeting."""
    return meeting_ics(
        uid=_PLACEHOLDER_UID,
        title=title,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        timezone=timezone,
        location=location,
    )


def confirm_url(base_url: str, signup_id: uuid.UUID, token: str) -> str:
    """The link that confirms a public sign-up's contact (double opt-in) and decides its place."""
    return f"{base_url.rstrip('/')}/confirm/{signup_id}?token={quote(token, safe='')}"


def erase_url(base_url: str, request_id: uuid.UUID, token: str) -> str:
    """The link that confirms a participant's request to erase all their data."""
    return f"{base_url.rstrip('/')}/erase/{request_id}?token={quote(token, safe='')}"


def context(facts: Facts, public_base_url: str) -> dict[str, Any]:
    """What the templates see. Text from data is single-line here already (and again on output)."""
    language = templates.language_for(facts.language)
    token = facts.confirm_token
    ctx: dict[str, Any] = {
        "name": single_line(facts.name),
        "confirm_url": confirm_url(public_base_url, facts.signup_id, token) if facts.signup_id and token else None,
        "erase_url": (
            erase_url(public_base_url, facts.erasure_request_id, token) if facts.erasure_request_id and token else None
        ),
        "manage_url": (
            manage_url(public_base_url, facts.registration_id, facts.manage_token)
            if facts.registration_id and facts.manage_token
            else None
        ),
        "calendar_url": (
            calendar_url(public_base_url, facts.registration_id, facts.manage_token)
            if facts.registration_id and facts.manage_token and facts.kind in domain.WITH_CALENDAR_LINK
            else None
        ),
        "calendar_attached": facts.kind in domain.WITH_CALENDAR and facts.meeting is not None,
        "seat": facts.details.get("seat"),
        "pair_number": facts.details.get("pair_number"),
        "partners": int(facts.details.get("partners") or 1),  # people the reader talks with; older rows: 1
        "interests": [single_line(i) for i in seating.interest_labels(facts.details.get("interests", []), language)],
        "changes": list(facts.details.get("changes", [])),
        # waitlist_ended: "closed" (registration) or "over" (the meeting).
        "when": facts.details.get("when"),
        # registration_waitlisted: the place on the waiting list, 1 = the next to get a place.
        "waitlist_position": facts.details.get("waitlist_position"),
        # The municipality that sends the message, and whom to contact there.
        "municipality": single_line(facts.tenant.name),
        "contact_email": single_line(facts.tenant.contact_email or ""),
        "contact_phone": single_line(facts.tenant.contact_phone or ""),
    }
    ctx.update(
        {f"was_{key}": None for key in ("local_start", "local_end", "start", "end", "venue_name", "venue_address")}
    )
    if facts.meeting is not None:
        m = facts.meeting
        venue = {key: single_line(str(value)) for key, value in dict(m.venue).items()}
        ctx.update(templates.meeting_context(single_line(m.title), m.starts_at, m.duration_minutes, m.timezone, venue))
        was = facts.details.get("was")
        if was:  # a changed meeting: its time and place before the change
            old_venue = {key: single_line(str(value)) for key, value in dict(was.get("venue", {})).items()}
            old = templates.meeting_context(
                "", datetime.fromisoformat(was["starts_at"]), int(was["duration_minutes"]), m.timezone, old_venue
            )
            ctx.update({f"was_{key}": old[key] for key in ("local_start", "local_end", "venue_name", "venue_address")})
    if facts.link_expires_at is not None:
        timezone = facts.meeting.timezone if facts.meeting is not None else facts.timezone
        ctx.update(templates.expiry_context(facts.link_expires_at, timezone))
    return ctx


def render(facts: Facts, channel: Channel, public_base_url: str) -> Rendered:
    """The text of one message, in the reader's language, for ``channel``."""
    return templates.render(facts.kind, facts.language, context(facts, public_base_url), channel)
