"""From what is known about one notification to the text its reader gets."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from services.notification import seating, templates
from services.notification.templates import Channel, Rendered


@dataclass(frozen=True)
class MeetingView:
    title: str
    starts_at: datetime
    duration_minutes: int
    timezone: str
    venue: Mapping[str, Any]


@dataclass(frozen=True)
class Facts:
    kind: str
    name: str
    language: str
    meeting: MeetingView | None = None
    registration_id: uuid.UUID | None = None
    manage_token: str | None = None
    # Facts of this message only: seat, pair_number, interests (vocabulary ids), changes.
    details: Mapping[str, Any] = field(default_factory=dict)


def manage_url(base_url: str, registration_id: uuid.UUID, token: str) -> str:
    return f"{base_url.rstrip('/')}/manage/{registration_id}?token={quote(token, safe='')}"


def context(facts: Facts, public_base_url: str) -> dict[str, Any]:
    language = templates.language_for(facts.language)
    ctx: dict[str, Any] = {
        "name": facts.name,
        "manage_url": (
            manage_url(public_base_url, facts.registration_id, facts.manage_token)
            if facts.registration_id and facts.manage_token
            else None
        ),
        "seat": facts.details.get("seat"),
        "pair_number": facts.details.get("pair_number"),
        "interests": seating.interest_labels(facts.details.get("interests", []), language),
        "changes": list(facts.details.get("changes", [])),
    }
    if facts.meeting is not None:
        m = facts.meeting
        ctx.update(templates.meeting_context(m.title, m.starts_at, m.duration_minutes, m.timezone, dict(m.venue)))
    return ctx


def render(facts: Facts, channel: Channel, public_base_url: str) -> Rendered:
    return templates.render(facts.kind, facts.language, context(facts, public_base_url), channel)
