"""Dates and times as a participant reads them: in the tenant's time zone, in the reader's language.

One place for the wording, so that the pages, the messages and the calendar file agree:
«tirsdag 2. mars kl. 10.00–11.45» (nb), «tysdag 2. mars kl. 10.00–11.45» (nn),
"Tuesday 2 March, 10:00–11:45" (en). Babel's CLDR data gives the names of days and months; a language
it does not know (a pseudo-locale in tests, say) falls back to nb's words and the page's own direction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date

FALLBACK = "nb"
# Norwegian writes "kl. 10.00"; English "10:00".
_CLOCK = {"nb": ("kl. ", "."), "nn": ("kl. ", "."), "en": ("", ":")}


def _locale(language: str) -> str:
    try:
        Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return FALLBACK
    return language


def local(moment: datetime, timezone: str) -> datetime:
    """``moment`` (timezone-aware) on the tenant's clock. Raises ``ValueError`` for a naive datetime and
    ``zoneinfo.ZoneInfoNotFoundError`` for an unknown IANA name."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place on anyone's clock")
    return moment.astimezone(ZoneInfo(timezone))


def clock(moment: datetime, language: str) -> str:
    """ "10.00" (Norwegian) or "10:00" (English) for an already-local ``moment``."""
    separator = _CLOCK.get(language, _CLOCK[FALLBACK])[1]
    return f"{moment:%H}{separator}{moment:%M}"


def day(moment: datetime, language: str, *, year: bool = False) -> str:
    """ "tirsdag 2. mars" / "Tuesday 2 March" (with the year when ``year``) for an already-local ``moment``."""
    code = _locale(language)
    pattern = "EEEE d MMMM" if code == "en" else "EEEE d. MMMM"
    text = format_date(moment, pattern, locale=code)
    return f"{text} {moment.year}" if year else text


def meeting_when(
    starts_at: datetime, duration_minutes: int, timezone: str, language: str, *, year: bool = False
) -> str:
    """When a meeting is, in one phrase: «tirsdag 2. mars kl. 10.00–11.45» / "Tuesday 2 March, 10:00–11:45".

    ``starts_at`` is timezone-aware (UTC from the database is fine); ``duration_minutes`` in minutes;
    ``timezone`` an IANA name such as "Europe/Oslo". Never shows UTC."""
    start = local(starts_at, timezone)
    end = start + timedelta(minutes=duration_minutes)
    prefix = _CLOCK.get(language, _CLOCK[FALLBACK])[0]
    comma = ", " if not prefix else " "
    return f"{day(start, language, year=year)}{comma}{prefix}{clock(start, language)}–{clock(end, language)}"
