"""The pure rules of notification: schedules, channels, quiet hours, retries, what a change means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notification import domain
from services.notification.domain import Defer, Fail, Recipient, Send, Situation, Skip

OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2027, 3, 2, 10, 0, tzinfo=OSLO)
NOON = datetime(2027, 3, 1, 12, 0, tzinfo=OSLO)
BOTH = Recipient(email="kari@example.no", phone="+4791234567")


def situation(kind: str, recipient: Recipient = BOTH, **overrides: object) -> Situation:
    values: dict[str, object] = {
        "kind": kind,
        "recipient": recipient,
        "meeting_starts_at": START,
        "meeting_status": "published",
        "registration_status": "confirmed",
        "timezone": "Europe/Oslo",
        "sms_enabled": True,
    }
    values.update(overrides)
    return Situation(**values)  # type: ignore[arg-type]


def test_a_confirmed_place_gets_two_reminders_and_a_feedback_request() -> None:
    scheduled = domain.schedule(START, 105, since=START - timedelta(days=10))
    assert [(s.kind, s.due_at) for s in scheduled] == [
        ("reminder_24h", START - timedelta(hours=24)),
        ("reminder_2h", START - timedelta(hours=2)),
        ("feedback_request", START + timedelta(minutes=105)),
    ]


def test_reminders_already_past_at_sign_up_are_left_out() -> None:
    kinds = [s.kind for s in domain.schedule(START, 105, since=START - timedelta(hours=5))]
    assert kinds == ["reminder_2h", "feedback_request"]
    kinds = [s.kind for s in domain.schedule(START, 105, since=START - timedelta(minutes=30))]
    assert kinds == ["feedback_request"]


def test_meeting_changes_name_time_and_place() -> None:
    venue = {"name": "Biblioteket", "address": "Torvet 6"}
    before = domain.MeetingFacts(START, 105, venue)
    assert domain.meeting_changes(before, domain.MeetingFacts(START, 105, dict(venue))) == []
    assert domain.meeting_changes(before, domain.MeetingFacts(START + timedelta(hours=1), 105, venue)) == ["time"]
    assert domain.meeting_changes(before, domain.MeetingFacts(START, 120, venue)) == ["time"]  # a later end
    moved = {"name": "Frivilligsentralen", "address": "Torvet 6"}
    assert domain.meeting_changes(before, domain.MeetingFacts(START, 105, moved)) == ["place"]
    both = domain.meeting_changes(before, domain.MeetingFacts(START + timedelta(days=1), 105, moved))
    assert both == ["time", "place"]
    assert domain.meeting_changes(None, before) == ["time", "place"]


def test_e_mail_first_sms_for_those_with_only_a_phone() -> None:
    assert domain.decide(situation("registration_confirmed"), NOON) == Send("email", "kari@example.no")
    phone_only = Recipient(email=None, phone="+4791234567")
    assert domain.decide(situation("registration_confirmed", phone_only), NOON) == Send("sms", "+4791234567")
    nothing = Recipient(email=None, phone=None)
    assert isinstance(domain.decide(situation("registration_confirmed", nothing), NOON), Fail)
    no_gateway = situation("registration_confirmed", phone_only, sms_enabled=False)
    assert isinstance(domain.decide(no_gateway, NOON), Fail)


def test_a_phone_only_person_fails_by_sms_not_by_e_mail() -> None:
    phone_only = Recipient(email=None, phone="+4791234567")
    no_gateway = domain.decide(situation("registration_confirmed", phone_only, sms_enabled=False), NOON)
    assert isinstance(no_gateway, Fail) and no_gateway.channel == "sms"  # counted as "SMS failed"
    nothing = domain.decide(situation("registration_confirmed", Recipient(email=None, phone=None)), NOON)
    assert isinstance(nothing, Fail) and nothing.channel is None  # the message's own channel


def test_the_two_hour_reminder_is_an_sms_and_only_where_there_is_a_phone() -> None:
    due = START - timedelta(hours=2)
    assert domain.decide(situation("reminder_2h"), due) == Send("sms", "+4791234567")
    email_only = Recipient(email="kari@example.no", phone=None)
    assert domain.decide(situation("reminder_2h", email_only), due) == Skip("no phone number")
    assert domain.decide(situation("reminder_2h", sms_enabled=False), due) == Skip("SMS is not configured")


def test_stale_messages_are_skipped_not_sent() -> None:
    assert isinstance(domain.decide(situation("reminder_24h"), START + timedelta(minutes=1)), Skip)
    assert isinstance(domain.decide(situation("reminder_24h", registration_status="cancelled"), NOON), Skip)
    assert isinstance(domain.decide(situation("reminder_24h", meeting_status="cancelled"), NOON), Skip)
    after = START + timedelta(hours=2)
    assert domain.decide(situation("feedback_request"), after) == Send("email", "kari@example.no")
    assert domain.decide(situation("feedback_request", registration_status="attended"), after) == Send(
        "email", "kari@example.no"
    )
    assert isinstance(domain.decide(situation("feedback_request", registration_status="no_show"), after), Skip)


def test_nothing_but_the_cancellation_goes_to_a_cancelled_registration() -> None:
    for kind in ("meeting_changed", "pairs_published", "registration_confirmed", "reminder_24h"):
        assert domain.decide(situation(kind, registration_status="cancelled"), NOON) == Skip(
            "the registration is cancelled"
        )
    cancelled = situation("registration_cancelled", registration_status="cancelled")
    assert domain.decide(cancelled, NOON) == Send("email", "kari@example.no")
    erasure = situation("erasure_confirmed", registration_status=None, meeting_starts_at=None, meeting_status=None)
    assert domain.decide(erasure, NOON) == Send("email", "kari@example.no")


def test_an_sms_at_night_is_deferred_to_eight_in_the_morning_tenant_time() -> None:
    night = datetime(2027, 3, 1, 22, 30, tzinfo=OSLO)
    phone_only = Recipient(email=None, phone="+4791234567")
    decision = domain.decide(situation("registration_confirmed", phone_only), night)
    assert decision == Defer(datetime(2027, 3, 2, 8, 0, tzinfo=OSLO), "quiet hours: no SMS between 21:00 and 08:00")
    early = datetime(2027, 3, 2, 6, 15, tzinfo=OSLO)
    assert domain.end_of_quiet_hours(early, "Europe/Oslo") == datetime(2027, 3, 2, 8, 0, tzinfo=OSLO)
    # E-mail is not held back at night.
    assert domain.decide(situation("registration_confirmed"), night) == Send("email", "kari@example.no")


@pytest.mark.parametrize(
    ("local", "quiet"),
    [("07:59", True), ("08:00", False), ("12:00", False), ("20:59", False), ("21:00", True), ("23:59", True)],
)
def test_quiet_hours_edges(local: str, quiet: bool) -> None:
    hour, minute = map(int, local.split(":"))
    now = datetime(2027, 6, 1, hour, minute, tzinfo=OSLO)
    assert domain.in_quiet_hours(now, "Europe/Oslo") is quiet


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(["Europe/Oslo", "Europe/London", "America/New_York", "Asia/Tokyo"]),
)
def test_deferral_ends_quiet_hours_within_eleven_hours(now: datetime, timezone: str) -> None:
    until = domain.end_of_quiet_hours(now, timezone)
    if until is None:
        local = now.astimezone(ZoneInfo(timezone)).time()
        assert domain.QUIET_UNTIL <= local < domain.QUIET_FROM
        return
    assert now < until <= now + timedelta(hours=11, minutes=1)  # + a DST hour at most
    assert until.astimezone(ZoneInfo(timezone)).strftime("%H:%M") == "08:00"
    assert not domain.in_quiet_hours(until, timezone)


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0, max_value=0.999999))
def test_retry_delay_grows_exponentially_within_the_cap(attempt: int, r: float) -> None:
    delay = domain.retry_delay(attempt, base_s=5.0, cap_s=1800.0, rand=lambda: r).total_seconds()
    step = min(1800.0, 5.0 * 2 ** (attempt - 1))
    assert step / 2 <= delay <= step


def test_retry_delay_is_jittered() -> None:
    delays = {domain.retry_delay(3, 5.0, 1800.0).total_seconds() for _ in range(20)}
    assert len(delays) > 1 and all(10.0 <= d <= 20.0 for d in delays)


@pytest.mark.parametrize(("code", "temporary"), [(421, True), (450, True), (451, True), (550, False), (553, False)])
def test_smtp_codes(code: int, temporary: bool) -> None:
    assert domain.smtp_code_is_temporary(code) is temporary


@pytest.mark.parametrize(
    ("reused", "code", "disconnected", "again"),
    [
        (True, None, True, True),  # the server dropped an idle pooled connection
        (True, 421, False, True),  # "closing the connection": nothing was accepted
        (True, 451, False, False),  # the message's own trouble: retried later, not at once
        (True, 550, False, False),
        (False, None, True, False),  # a new connection that fails: the server's trouble, retried later
        (False, 421, False, False),
    ],
)
def test_only_a_reused_smtp_connection_that_was_dropped_or_closing_sends_again_at_once(
    reused: bool, code: int | None, disconnected: bool, again: bool
) -> None:
    assert domain.smtp_worth_a_new_connection(reused=reused, code=code, disconnected=disconnected) is again


@pytest.mark.parametrize(
    ("status", "temporary"), [(500, True), (502, True), (503, True), (429, True), (400, False), (422, False)]
)
def test_gateway_statuses(status: int, temporary: bool) -> None:
    assert domain.gateway_status_is_temporary(status) is temporary


def test_errors_are_redacted_before_they_are_kept() -> None:
    error = "SMTP 550 5.1.1 <kari@example.no>: Recipient address rejected"
    assert domain.redact(error, "kari@example.no", None) == "SMTP 550 5.1.1 <<recipient>>: Recipient address rejected"


def test_a_cancellation_caused_by_erasure_is_not_told() -> None:
    """Issue 17: an erasure sent a "cancelled" mail 16 ms before the erasure confirmation; one message."""
    assert domain.registration_message("registration.cancelled", "erasure") is None
    assert domain.registration_message("registration.cancelled", None) == domain.REGISTRATION_CANCELLED
    assert domain.registration_message("registration.promoted", None) == domain.REGISTRATION_PROMOTED
    assert domain.registration_message("registration.attended", None) is None


def test_the_end_of_the_waiting_list_is_told_to_those_still_waiting_only() -> None:
    waiting = situation(domain.WAITLIST_ENDED, registration_status="waitlisted", meeting_status="registration_closed")
    assert domain.decide(waiting, NOON) == Send("email", "kari@example.no")
    promoted = situation(domain.WAITLIST_ENDED, registration_status="confirmed")
    assert isinstance(domain.decide(promoted, NOON), Skip)
    cancelled = situation(domain.WAITLIST_ENDED, registration_status="waitlisted", meeting_status="cancelled")
    assert isinstance(domain.decide(cancelled, NOON), Skip)  # the cancellation message says it
    assert domain.WAITLIST_END_OF_EVENT == {"meeting.registration_closed": "closed", "meeting.completed": "over"}
