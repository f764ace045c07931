from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registration import domain

OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
WINDOW = domain.DayWindow()


def problems(start: datetime, minutes: int = 105, closes: datetime | None = None) -> list[str]:
    return domain.meeting_problems(
        starts_at=start, duration_minutes=minutes, registration_closes_at=closes, now=NOW, window=WINDOW
    )


def test_a_morning_meeting_in_oslo_is_fine() -> None:
    assert problems(datetime(2027, 2, 1, 10, 0, tzinfo=OSLO)) == []


def test_an_evening_meeting_is_refused_with_a_fix() -> None:
    [problem] = problems(datetime(2027, 2, 1, 16, 0, tzinfo=OSLO))
    assert "daytime" in problem and "08:00" in problem and "17:00" in problem and "16:00-17:45" in problem


def test_daytime_is_judged_in_the_tenants_zone_not_utc() -> None:
    # 07:30 UTC is 08:30 in Oslo in winter: allowed.
    assert problems(datetime(2027, 2, 1, 7, 30, tzinfo=UTC)) == []


def test_past_meeting_and_late_closing_are_refused() -> None:
    start = datetime(2027, 1, 5, 10, 0, tzinfo=OSLO)
    assert any("future" in p for p in problems(start))
    future = datetime(2027, 2, 1, 10, 0, tzinfo=OSLO)
    assert any("registration_closes_at" in p for p in problems(future, closes=future + timedelta(hours=1)))


def test_naive_time_is_refused() -> None:
    assert "time zone" in problems(datetime(2027, 2, 1, 10, 0))[0]


@given(st.integers(0, 23), st.sampled_from([0, 15, 30, 45]), st.integers(15, 240))
def test_allowed_exactly_when_inside_the_window(hour: int, minute: int, minutes: int) -> None:
    start = datetime(2027, 3, 2, hour, minute, tzinfo=OSLO)
    end = start + timedelta(minutes=minutes)
    inside = start.time() >= time(8) and end.date() == start.date() and end.time() <= time(17)
    assert (problems(start, minutes) == []) == inside


def test_lifecycle_allows_only_the_documented_transitions() -> None:
    assert domain.next_state("publish", "draft") == "published"
    assert domain.next_state("close", "published") == "registration_closed"
    assert domain.next_state("complete", "registration_closed") == "completed"
    for state in ("draft", "published", "registration_closed"):
        assert domain.next_state("cancel", state) == "cancelled"
    with pytest.raises(domain.RuleViolation, match="cannot cancel a meeting that is completed"):
        domain.next_state("cancel", "completed")
    with pytest.raises(domain.RuleViolation):
        domain.next_state("close", "draft")


@given(st.integers(0, 60), st.integers(1, 50))
def test_a_place_is_confirmed_only_while_the_group_has_room(confirmed: int, capacity: int) -> None:
    assert domain.place_for(confirmed, capacity) == ("confirmed" if confirmed < capacity else "waitlisted")
