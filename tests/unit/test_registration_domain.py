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


# --- the meeting's clock (issue 17, kind 1) -----------------------------------------------------------

START = datetime(2027, 2, 1, 10, 0, tzinfo=OSLO)
CLOCK = domain.MeetingClock(starts_at=START, ends_at=START + timedelta(minutes=105), registration_closes_at=None)


def test_a_closing_time_in_the_past_is_refused_when_a_meeting_is_created_or_edited() -> None:
    [problem] = problems(datetime(2027, 2, 1, 10, 0, tzinfo=OSLO), closes=NOW - timedelta(hours=1))
    assert "registration_closes_at must be in the future" in problem


def test_registration_closes_at_its_time_and_at_the_latest_at_the_start() -> None:
    assert domain.registration_closes(START, None) == START
    assert domain.registration_closes(START, START - timedelta(days=2)) == START - timedelta(days=2)
    assert domain.registration_closes(START, START + timedelta(days=2)) == START


@given(
    closes_before=st.one_of(st.none(), st.integers(min_value=1, max_value=60 * 24 * 30)),
    minutes=st.integers(min_value=-60 * 24 * 60, max_value=60 * 24 * 60),
)
def test_every_change_is_held_to_the_meetings_clock(closes_before: int | None, minutes: int) -> None:
    closes = None if closes_before is None else START - timedelta(minutes=closes_before)
    clock = domain.MeetingClock(START, START + timedelta(minutes=105), closes)
    at = START + timedelta(minutes=minutes)
    allowed = {action: domain.time_problem(action, clock, at) is None for action in domain.TIMED_ACTIONS}
    open_ = at < clock.closes_at
    assert allowed["sign_up"] == allowed["edit"] == allowed["publish"] == allowed["new_invitation_code"] == open_
    assert allowed["promote"] == allowed["cancel_registration"] == (at < START)
    assert allowed["attendance"] == (at >= START)
    assert allowed["cancel"] == allowed["change_pairs"] == (at < clock.ends_at)
    assert allowed["complete"] == allowed["feedback"] == (at >= clock.ends_at)
    assert clock.closes_at <= START  # never a sign-up after the start


@pytest.mark.parametrize(
    ("action", "at", "says"),
    [
        ("sign_up", START - timedelta(minutes=1), "sign-up is over"),
        ("complete", START - timedelta(days=15), "once it has ended"),
        ("feedback", START, "feedback opens when the meeting has ended"),
        ("cancel", START + timedelta(hours=3), "complete it instead"),
        ("change_pairs", START + timedelta(hours=3), "no longer change"),
        ("cancel_registration", START + timedelta(minutes=5), "the meeting started"),
    ],
)
def test_a_refusal_says_why_and_when(action: str, at: datetime, says: str) -> None:
    clock = domain.MeetingClock(START, START + timedelta(minutes=105), START - timedelta(hours=2))
    problem = domain.time_problem(action, clock, at)
    assert problem is not None and says in problem


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        domain.time_problem("dance", CLOCK, NOW)


def test_no_invitation_code_and_a_wrong_one_are_told_apart() -> None:
    code = "K7QX-M2PD-4HTW"
    missing, wrong = domain.invitation_problem(None, code), domain.invitation_problem("2345-6789-ABCD", code)
    assert missing and "invitation code" in missing and "not right" not in missing
    assert wrong and "not right" in wrong and "new link" in wrong
    assert domain.invitation_problem("", code) == missing
    assert domain.invitation_problem(code, code) is None
    assert code not in missing + wrong  # nothing of the right code is revealed
