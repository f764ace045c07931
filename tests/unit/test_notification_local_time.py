"""Every time a participant reads in a message is on the tenant's clock, in their language, never UTC; the
messages word a meeting's time as the pages do; the confirmation of a place and the reminder carry the
meeting as a calendar file."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from services.notification import domain, messages, preview, templates
from services.notification.mailer import Mailer
from services.notification.settings import NotificationSettings
from shared import localtime

# A meeting at 09:00 UTC: 10.00 in Oslo in winter (CET), 11.00 in summer (CEST). The link expiry and the
# time before a change are at 09:00 UTC as well.
SEASONS = {
    "winter": (datetime(2027, 3, 2, 9, 0, tzinfo=UTC), "10", "11.45"),
    "summer": (datetime(2027, 6, 15, 9, 0, tzinfo=UTC), "11", "12.45"),
}
UTC_TIMES = ("09.00", "09:00", "10.45", "10:45")  # the meeting's start and end in UTC, either way written
ALL = [
    (language, kind, channel)
    for language in templates.LANGUAGES
    for kind in domain.KINDS
    for channel in preview.channels(kind)
]


def at(facts: messages.Facts, starts_at: datetime) -> messages.Facts:
    """``facts`` with the meeting, the time before a change and the link expiry moved to ``starts_at``."""
    details = dict(facts.details)
    if "was" in details:
        details["was"] = {**details["was"], "starts_at": (starts_at - timedelta(days=1)).isoformat()}
    return dataclasses.replace(
        facts,
        meeting=dataclasses.replace(facts.meeting, starts_at=starts_at) if facts.meeting else None,
        link_expires_at=starts_at - timedelta(days=6) if facts.link_expires_at else None,
        details=details,
    )


@pytest.mark.parametrize("season", SEASONS)
@pytest.mark.parametrize(("language", "kind", "channel"), ALL)
def test_no_message_shows_a_utc_time(season: str, language: str, kind: str, channel: templates.Channel) -> None:
    starts_at, local_hour, local_end = SEASONS[season]
    facts = at(preview.sample(kind, language), starts_at)
    rendered = messages.render(facts, channel, preview.SAMPLE_BASE_URL)
    text = f"{rendered.subject}\n{rendered.body}"
    for utc in UTC_TIMES:
        assert utc not in text, (season, language, kind, channel, utc)
    separator = ":" if language == "en" else "."
    if facts.meeting is not None and f"{int(local_hour) - 1}{separator}00" in text:
        pytest.fail(f"an hour early: {text}")
    if channel == "email" and facts.meeting is not None and kind not in (domain.PAIRS_PUBLISHED, domain.SEAT_CHANGED):
        assert f"{local_hour}{separator}00" in text, (season, language, kind)
        assert local_end.replace(".", separator) in text, (season, language, kind)
    calendar = messages.calendar(facts)
    if calendar is not None:
        assert f"DTSTART;TZID=Europe/Oslo:{starts_at:%Y%m%d}T{local_hour}0000".encode() in calendar
        event = calendar[calendar.index(b"BEGIN:VEVENT") : calendar.index(b"END:VEVENT")]
        assert b"DTSTART:" not in event and b"DTEND:" not in event  # never a floating or UTC time
        assert f"DTEND;TZID=Europe/Oslo:{starts_at:%Y%m%d}T{local_end.replace('.', '')}00".encode() in event


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_messages_word_the_meeting_time_as_the_pages_do(language: str) -> None:
    facts = preview.sample(domain.REGISTRATION_CONFIRMED, language)
    assert facts.meeting is not None
    m = facts.meeting
    pages = localtime.meeting_when(m.starts_at, m.duration_minutes, m.timezone, language, year=True)
    assert pages in messages.render(facts, "email", preview.SAMPLE_BASE_URL).body
    expected = {
        "nb": "tirsdag 2. mars 2027 kl. 10.00–11.45",
        "nn": "tysdag 2. mars 2027 kl. 10.00–11.45",
        "en": "Tuesday 2 March 2027, 10:00–11:45",
    }
    assert pages == expected[language]


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_the_confirmation_of_a_place_and_the_reminder_attach_the_meeting_and_their_sms_link_it(language: str) -> None:
    for kind in sorted(domain.WITH_CALENDAR):
        facts = preview.sample(kind, language)
        ics = messages.calendar(facts)
        assert ics is not None and b"BEGIN:VEVENT" in ics, kind
        # One UID per registration, whichever message carries it: a later file updates the calendar entry.
        assert f"UID:{preview.SAMPLE_REGISTRATION}@folkmoterfolk".encode() in ics
        assert b"LOCATION:Arendal bibliotek\\, Torvet 6\\, 4836 Arendal" in ics
        msg = Mailer(NotificationSettings()).message("kari@example.no", "x", "Hei!\n", "n-1", language, calendar=ics)
        [attachment] = list(msg.iter_attachments())
        assert attachment.get_content_type() == "text/calendar" and attachment.get_filename() == "folk-moter-folk.ics"
        assert attachment.get_param("method") == "PUBLISH" and attachment.get_param("charset") == "utf-8"
        assert attachment.get_content().encode() == ics.decode().encode()
        assert msg["Content-Language"] == language
        email_text = messages.render(facts, "email", preview.SAMPLE_BASE_URL).body
        assert "folk-moter-folk.ics" in email_text, kind
    calendar_link = messages.calendar_url(preview.SAMPLE_BASE_URL, preview.SAMPLE_REGISTRATION, preview.SAMPLE_TOKEN)
    assert calendar_link.endswith(f"/manage/{preview.SAMPLE_REGISTRATION}/calendar.ics?token={preview.SAMPLE_TOKEN}")
    for kind in domain.KINDS:
        sms = messages.render(preview.sample(kind, language), "sms", preview.SAMPLE_BASE_URL).body
        assert (calendar_link in sms) == (kind in domain.WITH_CALENDAR_LINK), kind
        if kind not in domain.WITH_CALENDAR:
            assert messages.calendar(preview.sample(kind, language)) is None, kind
    without_token = preview.sample(domain.REGISTRATION_CONFIRMED, language, with_link=False)
    assert "calendar.ics" not in messages.render(without_token, "sms", preview.SAMPLE_BASE_URL).body


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_the_end_of_the_waiting_list_says_whether_registration_closed_or_the_meeting_is_over(
    channel: templates.Channel,
) -> None:
    closed = preview.sample(domain.WAITLIST_ENDED, "en")
    over = dataclasses.replace(closed, details={"when": "over"})
    closed_text = messages.render(closed, channel, preview.SAMPLE_BASE_URL)
    over_text = messages.render(over, channel, preview.SAMPLE_BASE_URL)
    assert "registration has closed" in f"{closed_text.subject} {closed_text.body}".lower()
    assert "registration has closed" not in f"{over_text.subject} {over_text.body}".lower()


def test_each_registration_gets_its_own_uid_in_a_valid_file_and_a_changed_meeting_a_new_file() -> None:
    facts = preview.sample(domain.REGISTRATION_CONFIRMED, "nb")
    other = dataclasses.replace(facts, registration_id=uuid.uuid4())
    first, second = messages.calendar(facts), messages.calendar(other)
    assert first is not None and second is not None
    events = [Calendar.from_ical(ics).walk("VEVENT")[0] for ics in (first, second)]
    assert [str(e["UID"]) for e in events] == [
        f"{facts.registration_id}@folkmoterfolk",
        f"{other.registration_id}@folkmoterfolk",
    ]
    assert (
        events[0]["DTSTART"].dt
        == events[1]["DTSTART"].dt
        == datetime(2027, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Oslo"))
    )
    assert facts.meeting is not None
    moved = dataclasses.replace(
        facts, meeting=dataclasses.replace(facts.meeting, starts_at=datetime(2027, 3, 3, 12, tzinfo=UTC))
    )
    moved_ics = messages.calendar(moved)
    assert moved_ics is not None
    event = Calendar.from_ical(moved_ics).walk("VEVENT")[0]
    assert str(event["UID"]) == f"{facts.registration_id}@folkmoterfolk"  # the same entry, updated
    assert event["DTSTART"].dt == datetime(2027, 3, 3, 13, 0, tzinfo=ZoneInfo("Europe/Oslo"))
