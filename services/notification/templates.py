"""Message templates per language (nb, nn, en); the first line of a template is the subject."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

LANGUAGES = ("nb", "nn", "en")
FALLBACK = "nb"
_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # plain-text messages
)


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    body: str


def language_for(preferred: str) -> str:
    """The participant's language if we have templates in it, else bokmål."""
    primary = preferred.split("-")[0].lower()
    if primary == "no":
        primary = "nb"
    return primary if primary in LANGUAGES else FALLBACK


def meeting_context(
    title: str, starts_at: datetime, duration_minutes: int, timezone: str, venue: dict[str, Any]
) -> dict[str, Any]:
    local = starts_at.astimezone(ZoneInfo(timezone))
    end = local + timedelta(minutes=duration_minutes)
    return {
        "title": title,
        "date": f"{local:%d.%m.%Y}",
        "start": f"{local:%H:%M}",
        "end": f"{end:%H:%M}",
        "duration": duration_minutes,
        "venue_name": venue.get("name", ""),
        "venue_address": venue.get("address", ""),
    }


def render(kind: str, preferred_language: str, context: dict[str, Any]) -> Rendered:
    language = language_for(preferred_language)
    text = _env.get_template(f"{language}/{kind}.txt").render(**context)
    subject, _, body = text.partition("\n")
    return Rendered(language, subject.strip(), body.lstrip("\n"))
