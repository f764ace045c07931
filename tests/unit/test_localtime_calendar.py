from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from shared.calendar import meeting_ics
from shared.localtime import meeting_when

WINTER = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)  # 10.00 in Oslo (CET)
SUMMER = datetime(2027, 6, 1, 8, 0, tzinfo=UTC)  # 10.00 in Oslo (CEST)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nb", "tirsdag 2. mars kl. 10.00–11.45"),
        ("nn", "tysdag 2. mars kl. 10.00–11.45"),
        ("en", "Tuesday 2 March, 10:00–11:45"),
        ("xx-unknown", "tirsdag 2. mars kl. 10.00–11.45"),
    ],
)
def test_meeting_when_is_on_the_tenants_clock_in_the_readers_words(language: str, expected: str) -> None:
    assert meeting_when(WINTER, 105, "Europe/Oslo", language) == expected


def test_summer_time_moves_the_utc_hour_not_the_local_one() -> None:
    assert meeting_when(SUMMER, 105, "Europe/Oslo", "nb", year=True) == "tirsdag 1. juni 2027 kl. 10.00–11.45"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        meeting_when(datetime(2027, 3, 2, 10), 105, "Europe/Oslo", "nb")


def test_ics_carries_local_time_with_its_zone() -> None:
    data = meeting_ics(
        uid="r1@fmf",
        title="Folk møter folk",
        starts_at=SUMMER,
        duration_minutes=105,
        timezone="Europe/Oslo",
        location="Biblioteket, Storgata 1",
        url="https://x/manage/1",
    )
    event = next(c for c in Calendar.from_ical(data).walk("VEVENT"))
    assert "DTSTART;TZID=Europe/Oslo:20270601T100000" in data.decode()
    assert event.decoded("dtend").isoformat() == "2027-06-01T11:45:00+02:00"
    assert str(event["location"]) == "Biblioteket, Storgata 1"
    assert any(c.name == "VTIMEZONE" for c in Calendar.from_ical(data).walk())
