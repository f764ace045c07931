from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registration import domain
from services.registration.views import MeetingView
from shared.events import MeetingStatus, RegistrationStatus

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


# --- who may sign up, places, the waiting list and the windows: each rule alone ---------------------------

ENDS = START + timedelta(minutes=105)
minutes_around_the_meeting = st.integers(min_value=-60 * 24 * 10, max_value=60 * 24 * 10)
registration_statuses = st.sampled_from(list(RegistrationStatus))
meeting_statuses = st.sampled_from(list(MeetingStatus))


def test_statuses_are_the_strings_on_the_wire() -> None:
    assert [s.value for s in MeetingStatus] == ["draft", "published", "registration_closed", "completed", "cancelled"]
    assert [s.value for s in RegistrationStatus] == ["confirmed", "waitlisted", "cancelled", "attended", "no_show"]
    assert MeetingStatus.PUBLISHED == "published" and f"{RegistrationStatus.NO_SHOW}" == "no_show"


@given(st.sampled_from(["active", "suspended"]), meeting_statuses, minutes_around_the_meeting)
def test_sign_up_is_open_exactly_for_an_active_tenants_published_meeting_before_closing(
    tenant: str, status: MeetingStatus, minutes: int
) -> None:
    at = START + timedelta(minutes=minutes)
    problem = domain.sign_up_problem(tenant, status, CLOCK, at)
    assert (problem is None) == (tenant == "active" and status == "published" and at < START)
    if tenant != "active":
        assert problem == "sign-up is closed: the municipality's account is suspended"
    elif status != "published":
        assert problem == f"the meeting is {status}; sign-up is open only while it is published"


@given(meeting_statuses, minutes_around_the_meeting)
def test_a_meeting_is_edited_and_gets_a_new_code_only_while_draft_or_published_and_open(
    status: MeetingStatus, minutes: int
) -> None:
    at = START + timedelta(minutes=minutes)
    allowed = status in ("draft", "published") and at < START
    assert (domain.edit_problem(status, CLOCK, at) is None) == allowed
    assert (domain.invitation_code_problem(status, CLOCK, at) is None) == allowed
    if status not in ("draft", "published"):
        assert "it can be edited until registration closes" in str(domain.edit_problem(status, CLOCK, at))
        assert "so no new code" in str(domain.invitation_code_problem(status, CLOCK, at))


def test_only_a_published_meeting_and_later_is_public() -> None:
    assert [s for s in MeetingStatus if domain.publicly_visible(s)] == [
        "published",
        "registration_closed",
        "completed",
        "cancelled",
    ]


@given(st.integers(0, 100), st.integers(0, 100))
def test_capacity_never_goes_below_the_confirmed_places(capacity: int, confirmed: int) -> None:
    problem = domain.capacity_problem("newcomer", capacity, confirmed)
    assert (problem is None) == (capacity >= confirmed)
    if problem:
        assert problem.startswith(f"{confirmed} newcomers are confirmed already")


@given(st.integers(0, 60), st.integers(0, 60))
def test_a_new_place_waits_last_in_the_queue(confirmed: int, waiting: int) -> None:
    status = domain.place_for(confirmed, 10)
    position = domain.waitlist_position(status, waiting)
    assert position == (waiting + 1 if status == "waitlisted" else None)


@given(
    capacity=st.integers(0, 30),
    confirmed=st.integers(0, 40),
    waiting=st.lists(st.integers(), max_size=30),
    minutes=minutes_around_the_meeting,
)
def test_promotion_is_first_in_first_out_into_free_places_until_the_start(
    capacity: int, confirmed: int, waiting: list[int], minutes: int
) -> None:
    at = START + timedelta(minutes=minutes)
    promoted = domain.to_promote(capacity, confirmed, waiting, CLOCK, at)
    if at >= START:
        assert promoted == []
        assert not domain.waitlist_moves(CLOCK, at)
        return
    free = domain.free_places(capacity, confirmed)
    assert free == max(0, capacity - confirmed)
    assert promoted == waiting[: len(promoted)]  # from the front, in order
    assert len(promoted) == min(free, len(waiting))  # every free place taken while anyone waits
    assert confirmed + len(promoted) <= max(capacity, confirmed)  # never over capacity


def test_live_registrations_are_confirmed_and_waitlisted() -> None:
    assert {s for s in RegistrationStatus if domain.is_live(s)} == {"confirmed", "waitlisted"}


@given(registration_statuses, meeting_statuses, minutes_around_the_meeting)
def test_a_place_is_cancelled_while_live_in_a_running_meeting_before_the_start(
    reg: RegistrationStatus, meeting: MeetingStatus, minutes: int
) -> None:
    at = START + timedelta(minutes=minutes)
    problem = domain.cancellation_problem(reg, meeting, CLOCK, at)
    allowed = reg in ("confirmed", "waitlisted") and meeting not in ("completed", "cancelled") and at < START
    assert (problem is None) == allowed
    assert domain.already_cancelled(reg) == (reg == "cancelled")


@given(registration_statuses, meeting_statuses)
def test_a_cancelled_confirmed_place_goes_to_the_next_waiting_while_places_move(
    reg: RegistrationStatus, meeting: MeetingStatus
) -> None:
    moving = meeting in ("published", "registration_closed")
    assert domain.frees_a_place(reg, meeting) == (reg == "confirmed" and moving)
    assert domain.cancelled_by_erasure(reg, meeting) == (reg in ("confirmed", "waitlisted") and moving)


@given(registration_statuses, meeting_statuses, minutes_around_the_meeting)
def test_attendance_is_recorded_from_the_start_for_confirmed_places(
    reg: RegistrationStatus, meeting: MeetingStatus, minutes: int
) -> None:
    at = START + timedelta(minutes=minutes)
    problem = domain.attendance_problem(reg, meeting, CLOCK, at)
    allowed = at >= START and meeting != "cancelled" and reg in ("confirmed", "attended", "no_show")
    assert (problem is None) == allowed
    if at < START:
        assert problem is not None and "once the meeting has started" in problem


@given(registration_statuses, meeting_statuses, minutes_around_the_meeting)
def test_feedback_opens_at_the_end_for_those_who_took_part(
    reg: RegistrationStatus, meeting: MeetingStatus, minutes: int
) -> None:
    at = START + timedelta(minutes=minutes)
    problem = domain.feedback_problem(reg, meeting, CLOCK, at)
    allowed = meeting != "cancelled" and at >= ENDS and reg in ("confirmed", "attended")
    assert (problem is None) == allowed
    if meeting == "cancelled":
        assert problem == "the meeting was cancelled; there is nothing to give feedback on"
    elif at >= ENDS and reg == "no_show":
        assert problem is not None and "no-show" in problem and "ask the coordinator" in problem


@given(registration_statuses, meeting_statuses, st.booleans(), minutes_around_the_meeting)
def test_the_participants_page_offers_exactly_what_the_rules_accept(
    reg: RegistrationStatus, meeting: MeetingStatus, given_already: bool, minutes: int
) -> None:
    at = START + timedelta(minutes=minutes)
    offers = domain.participant_offers(reg, meeting, given_already, CLOCK, at)
    assert "erase" in offers
    cancel_ok = domain.cancellation_problem(reg, meeting, CLOCK, at) is None and meeting != "draft"
    assert ("cancel" in offers) == cancel_ok
    assert ("feedback" in offers) == (not given_already and domain.feedback_problem(reg, meeting, CLOCK, at) is None)
    assert ("contact" in offers) == (domain.contact_change_problem(reg, meeting) is None)


@given(registration_statuses, meeting_statuses)
def test_contact_details_change_only_with_a_live_place_before_the_meeting(
    reg: RegistrationStatus, meeting: MeetingStatus
) -> None:
    problem = domain.contact_change_problem(reg, meeting)
    allowed = reg in ("confirmed", "waitlisted") and meeting in ("published", "registration_closed")
    assert (problem is None) == allowed
    if reg == "cancelled":
        assert problem is not None and "live place" in problem


@given(meeting_statuses, minutes_around_the_meeting)
def test_pairs_change_after_registration_closes_until_the_meeting_ends(status: MeetingStatus, minutes: int) -> None:
    at = START + timedelta(minutes=minutes)
    problem = domain.pairs_change_problem(status, CLOCK, at)
    assert (problem is None) == (status == "registration_closed" and at < ENDS)


def test_the_proven_contact_is_the_email_else_the_phone() -> None:
    assert domain.proven_contact("a@example.org", "+4791234567") == ("a@example.org", None)
    assert domain.proven_contact(None, "+4791234567") == (None, "+4791234567")
    assert domain.proven_contact(None, None) == (None, None)


@given(st.sampled_from(["pending", "confirmed", "repeated", "expired"]), st.integers(-3600, 3600))
def test_a_confirmation_link_works_once_and_until_it_expires(status: str, seconds_left: int) -> None:
    problem = domain.confirmation_link_problem(status, NOW + timedelta(seconds=seconds_left), NOW)
    assert (problem is None) == (status == "pending" and seconds_left > 0)
    if status in ("confirmed", "repeated"):
        assert problem is not None and problem.startswith("this sign-up is confirmed already")


@given(st.booleans(), st.booleans(), st.integers(-3600, 3600))
def test_an_erasure_link_works_until_it_is_used_or_expires(erased: bool, closed: bool, seconds_left: int) -> None:
    problem = domain.erasure_link_problem(erased, NOW if closed else None, NOW + timedelta(seconds=seconds_left), NOW)
    assert (problem is None) == (not erased and not closed and seconds_left > 0)
    if erased:
        assert problem == "your data has been erased already"


def test_a_daytime_window_starts_before_it_ends_and_a_suspended_tenant_makes_no_meetings() -> None:
    assert domain.day_window_problem(time(8), time(17)) is None
    assert domain.day_window_problem(time(17), time(8)) == "day_starts (17:00) must be before day_ends (08:00)"
    assert domain.new_meeting_problem("active", "arendal") is None
    assert domain.new_meeting_problem("suspended", "arendal") == (
        "tenant 'arendal' is suspended; the operator can reactivate it"
    )


def test_a_swap_keeps_one_of_each_group_in_every_pair() -> None:
    n1, n2, r1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    seats = {n1: (1, "newcomer"), r1: (1, "resident"), n2: (2, "newcomer")}
    assert domain.swap_problem(seats, n1, n2, 3) is None
    assert (
        domain.swap_problem(seats, n1, r1, 3) == "swap two newcomers or two residents, so every pair keeps one of each"
    )
    assert (
        domain.swap_problem({**seats, n2: (1, "newcomer")}, n1, n2, 3) == "the two people sit in the same pair already"
    )
    stranger = uuid.uuid4()
    assert (
        domain.swap_problem(seats, n1, stranger, 3) == f"registration {stranger} is not seated in version 3 of the plan"
    )
    assert domain.lock_problem(seats, n1, 3) is None
    assert domain.lock_problem(seats, stranger, 3) == f"registration {stranger} is not seated in version 3"


@given(st.integers(1, 9), st.integers(1, 9), st.sampled_from(["proposed", "published"]))
def test_only_the_reviewed_current_version_is_announced_once(requested: int, current: int, status: str) -> None:
    problem = domain.publish_pairs_problem(requested, current, status)
    assert (problem is None) == (requested == current and status == "proposed")


# --- the view the API and the pages render, built from a row without a database ---------------------------


def _meeting_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "title": "Dialogmøte på biblioteket",
        "format": "standard",
        "status": "published",
        "starts_at": START,
        "ends_at": ENDS,
        "duration_minutes": 105,
        "timezone": "Europe/Oslo",
        "registration_closes_at": None,
        "venue": '{"name": "Biblioteket", "address": "Torvet 1", "kind": "library"}',
        "capacity_newcomer": 10,
        "capacity_resident": 8,
        "invitation_code": "K7QX-M2PD-4HTW",
    }
    return {**row, **overrides}


def test_a_meeting_view_counts_per_group_and_shows_the_code_to_its_coordinator_only() -> None:
    counts = {"confirmed:newcomer": 3, "waitlisted:resident": 2}
    view = MeetingView.of(_meeting_row(), counts)
    assert view.status is MeetingStatus.PUBLISHED
    assert (view.confirmed.newcomer, view.confirmed.resident) == (3, 0)
    assert (view.waitlisted.newcomer, view.waitlisted.resident) == (0, 2)
    assert view.venue.name == "Biblioteket" and view.capacity.resident == 8
    assert view.invitation_code == "K7QX-M2PD-4HTW"
    assert MeetingView.of(_meeting_row(), counts, coordinator=False).invitation_code is None
    assert view.local_starts.utcoffset() == timedelta(hours=1)  # Oslo in February
    assert view.agenda[0].starts == view.local_starts and view.agenda[-1].ends == view.local_ends


def test_a_meeting_more_than_two_years_ahead_is_refused() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    window = domain.DayWindow()
    soon = datetime(2028, 11, 30, 10, tzinfo=UTC)
    mistyped = datetime(9999, 12, 31, 11, tzinfo=UTC)
    assert (
        domain.meeting_problems(
            starts_at=soon, duration_minutes=105, registration_closes_at=None, now=now, window=window
        )
        == []
    )
    found = domain.meeting_timing_problems(
        starts_at=mistyped, duration_minutes=105, registration_closes_at=None, now=now, window=window
    )
    assert [(p.field, p.code) for p in found] == [("starts_at", "too_far_ahead")]
