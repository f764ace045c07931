"""Message templates per language (nb, nn, en) and channel.

``templates/<language>/<kind>.txt`` is the e-mail: its first line is the subject.
``templates/<language>/sms/<kind>.txt`` is the SMS text; line breaks in it are only for reading the
file and become spaces. ``templates/<language>/parts/`` holds pieces several messages share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.notification.domain import (
    REGISTRATION_CONFIRMED,
    REGISTRATION_PROMOTED,
    REGISTRATION_WAITLISTED,
    single_line,
)
from shared import i18n, localtime

LANGUAGES = ("nb", "nn", "en")
FALLBACK = "nb"
FOLDER = Path(__file__).with_name("templates")


def _one_line(value: Any) -> Any:
    # Every value put into a template is data (names, titles, places, links): none may break a line.
    return single_line(value) if isinstance(value, str) else value


_env = Environment(
    finalize=_one_line,
    loader=FileSystemLoader(FOLDER),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # plain-text messages
)

# (hour, hours, minute, minutes, "and") per language, for "1 time og 45 minutter".
_DURATION_WORDS = {
    "nb": ("time", "timer", "minutt", "minutter", "og"),
    "nn": ("time", "timar", "minutt", "minutt", "og"),
    "en": ("hour", "hours", "minute", "minutes", "and"),
}
_DURATION_SHORT = {"nb": ("t", "min"), "nn": ("t", "min"), "en": ("h", "min")}

Channel = Literal["email", "sms"]


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


def has_template(kind: str, channel: Channel, language: str = FALLBACK) -> bool:
    return (FOLDER / _path(kind, channel, language)).is_file()


def _path(kind: str, channel: Channel, language: str) -> str:
    return f"{language}/{kind}.txt" if channel == "email" else f"{language}/sms/{kind}.txt"


def meeting_context(
    title: str, starts_at: datetime, duration_minutes: int, timezone: str, venue: dict[str, Any]
) -> dict[str, Any]:
    """The facts about a meeting that every language shows: the times on the tenant's clock
    (``local_start``, ``local_end``); ``render`` words them in the reader's language."""
    start = localtime.local(starts_at, timezone)
    return {
        "title": title,
        "duration": duration_minutes,
        "venue_name": venue.get("name", ""),
        "venue_address": venue.get("address", ""),
        "local_start": start,
        "local_end": start + timedelta(minutes=duration_minutes),
    }


def expiry_context(expires_at: datetime, timezone: str) -> dict[str, Any]:
    """When a confirmation link expires, in the tenant's time zone (the words follow in ``render``)."""
    local = localtime.local(expires_at, timezone)
    return {"expires_local": local, "expires_short": f"{local:%d.%m.}"}


def long_date(local: datetime, language: str, *, year: bool = True) -> str:
    """ "tirsdag 2. mars 2027" / "Tuesday 2 March 2027" (``shared.localtime.day``, as the pages say it)."""
    return localtime.day(local, language, year=year)


def when_text(local_start: datetime, local_end: datetime, language: str, *, year: bool = True) -> str:
    """«tirsdag 2. mars 2027 kl. 10.00–11.45» / "Tuesday 2 March 2027, 10:00–11:45" for a meeting already on
    the tenant's clock (``shared.localtime.meeting_when``, as the pages say it)."""
    minutes = int((local_end - local_start).total_seconds() // 60)
    return localtime.meeting_when(local_start, minutes, str(local_start.tzinfo), language, year=year)


def short_date(local: datetime, language: str) -> str:
    """ "1.3." / "1 Mar": a date an SMS can afford."""
    return format_date(local, "d MMM", locale="en") if language == "en" else f"{local.day}.{local.month}."


def duration_text(minutes: int, language: str) -> str:
    """ "1 time og 45 minutter" / "1 hour and 45 minutes"."""
    hour, hours, minute, minutes_word, and_ = _DURATION_WORDS[language]
    h, m = divmod(minutes, 60)
    parts = []
    if h:
        parts.append(f"{h} {hour if h == 1 else hours}")
    if m or not h:
        parts.append(f"{m} {minute if m == 1 else minutes_word}")
    return f" {and_} ".join(parts)


def duration_short(minutes: int, language: str) -> str:
    """ "1 t 45 min" / "1 h 45 min"."""
    h_unit, m_unit = _DURATION_SHORT[language]
    h, m = divmod(minutes, 60)
    parts = ([f"{h} {h_unit}"] if h else []) + ([f"{m} {m_unit}"] if m or not h else [])
    return " ".join(parts)


_PHONE_WORD = {"nb": "tlf.", "nn": "tlf.", "en": "phone"}


def contact_text(email: str | None, phone: str | None, language: str) -> str:
    """The municipality's contact as the messages give it: "x@kommune.no, tlf. +4737013000", or ""."""
    return ", ".join(part for part in (email, f"{_PHONE_WORD[language]} {phone}" if phone else None) if part)


# The status of a place as the pages say it (shared/locale, msgids of registration's _status.html): one
# wording per language for the confirmation page, the manage page and the messages.
PLACE = "You have a place."
WAITING_AS_NUMBER = "You are on the waiting list as number %(n)s."
WAITING = "You are on the waiting list."


def status_text(kind: str, language: str, waitlist_position: int | None) -> str:
    """The place's status in the reader's language from the shared catalogue (``shared.i18n``): «Du har plass.»
    for a confirmed or promoted place, «Du står på venteliste som nr. 3.» (or without the number when it is
    not known) for a waiting one; "" for other kinds."""
    gettext = i18n.translations(language).gettext
    if kind in (REGISTRATION_CONFIRMED, REGISTRATION_PROMOTED):
        return gettext(PLACE)
    if kind == REGISTRATION_WAITLISTED:
        return gettext(WAITING_AS_NUMBER) % {"n": waitlist_position} if waitlist_position else gettext(WAITING)
    return ""


def _localised(context: dict[str, Any], language: str, kind: str = "") -> dict[str, Any]:
    # A message names the municipality that sends it and whom to contact there, when known.
    context = {"municipality": "", "contact_email": "", "contact_phone": "", **context}
    extra: dict[str, Any] = {
        "lang": language,
        "status": status_text(kind, language, context.get("waitlist_position")),
        "contact": contact_text(context["contact_email"], context["contact_phone"], language),
        # An SMS has room for one: the phone (the reader holds one), else the e-mail address.
        "contact_short": context["contact_phone"] or context["contact_email"],
    }
    for prefix in ("", "was_"):
        start, end = context.get(f"{prefix}local_start"), context.get(f"{prefix}local_end")
        if isinstance(start, datetime) and isinstance(end, datetime):
            # "date_time", not "when": that is a message's own fact (waitlist_ended: "closed" or "over").
            extra[f"{prefix}date_time"] = when_text(start, end, language)
            extra[f"{prefix}date_time_short"] = when_text(start, end, language, year=False)
            extra[f"{prefix}day"] = long_date(start, language)
            extra[f"{prefix}day_short"] = long_date(start, language, year=False)
            extra[f"{prefix}date_short"] = short_date(start, language)
            extra[f"{prefix}start"] = localtime.clock(start, language)
            extra[f"{prefix}end"] = localtime.clock(end, language)
    expires = context.get("expires_local")
    if isinstance(expires, datetime):
        extra["expires_day"] = long_date(expires, language)
        extra["expires_time"] = localtime.clock(expires, language)
    if isinstance(context.get("duration"), int):
        extra["duration_text"] = duration_text(context["duration"], language)
        extra["duration_short"] = duration_short(context["duration"], language)
    return {**context, **extra}


def render(kind: str, preferred_language: str, context: dict[str, Any], channel: Channel = "email") -> Rendered:
    """The message of ``kind`` in the reader's language (bokmål when we have none in theirs)."""
    language = language_for(preferred_language)
    text = _env.get_template(_path(kind, channel, language)).render(**_localised(context, language, kind))
    if channel == "sms":
        return Rendered(language, "", " ".join(text.split()))
    subject, _, body = text.partition("\n")
    return Rendered(language, subject.strip(), body.lstrip("\n"))
