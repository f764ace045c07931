"""A meeting as an iCalendar (.ics) file that a phone's calendar can take (RFC 5545, via ``icalendar``).

The times are written on the tenant's clock with its time zone (a VTIMEZONE built from the IANA data),
never as UTC: a calendar shows them as the participant will live them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

PRODUCT_ID = "-//Folk moter folk//fmf//NO"


def meeting_ics(
    *,
    uid: str,
    title: str,
    starts_at: datetime,
    duration_minutes: int,
    timezone: str,
    location: str,
    description: str = "",
    url: str | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """One VEVENT in a VCALENDAR, as the bytes of an .ics file (``text/calendar; charset=utf-8``).

    ``uid`` identifies the event for updates (use the registration or meeting id plus a domain);
    ``starts_at`` is timezone-aware; ``duration_minutes`` in minutes; ``timezone`` an IANA name.
    ``stamp`` (DTSTAMP) defaults to now. Raises ``ValueError`` for a naive ``starts_at``."""
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must be timezone-aware")
    zone = ZoneInfo(timezone)
    start = starts_at.astimezone(zone)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp or datetime.now(ZoneInfo("UTC")))
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=duration_minutes))
    event.add("summary", title)
    event.add("location", location)
    if description:
        event.add("description", description)
    if url:
        event.add("url", url)
    calendar.add_component(event)
    # The zone's rules for the meeting's own years only: the default (1970-2038) makes the file 4x larger.
    calendar.add_missing_timezones(first_date=date(start.year - 1, 1, 1), last_date=date(start.year + 2, 1, 1))
    return calendar.to_ical()
