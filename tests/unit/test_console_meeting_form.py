"""The console's meeting form read into the API's bodies: date and time on the tenant's clock, each refusal
beside its field; the timing rule's problems with their field and code (the API's sentences unchanged)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.registration import domain
from services.registration.console import meetings as page
from services.registration.console import registrations
from services.registration.schemas import MeetingIn, MeetingUpdate

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
WINDOW = domain.DayWindow("Europe/Oslo", time(8, 0), time(17, 0))
WINDOW_ZONE = ZoneInfo("Europe/Oslo")


def form(**changes: str) -> dict[str, str]:
    return {
        "format": "standard",
        "title": "Kaffe og prat",
        "date": "2027-03-04",
        "time": "10:00",
        "venue_name": "Arendal bibliotek",
        "venue_address": "Torvet 6",
        "venue_kind": "library",
        "capacity_newcomer": "10",
        "capacity_resident": "10",
    } | changes


def test_a_valid_form_is_the_apis_body_on_the_tenants_clock() -> None:
    read = page.read_meeting_form(form(), "Europe/Oslo", creating=True)
    assert read.errors == {} and isinstance(read.body, MeetingIn)
    assert read.body.starts_at == datetime(2027, 3, 4, 9, 0, tzinfo=UTC), "10:00 in Oslo in winter is 09:00 UTC"
    summer = page.read_meeting_form(form(date="2027-06-04"), "Europe/Oslo", creating=True)
    assert summer.body is not None and summer.body.starts_at == datetime(2027, 6, 4, 8, 0, tzinfo=UTC)
    edit = page.read_meeting_form(form(), "Europe/Oslo", creating=False)
    assert isinstance(edit.body, MeetingUpdate) and edit.body.registration_closes_at is None


def test_each_refusal_is_beside_its_field_in_the_forms_order() -> None:
    read = page.read_meeting_form(
        form(title="", date="4 March", time="25:00", venue_kind="castle", capacity_resident="0", format="x"),
        "Europe/Oslo",
        creating=True,
    )
    assert read.body is None
    assert list(read.errors) == ["format", "title", "date", "time", "venue_kind", "capacity_resident"]
    half = page.read_meeting_form(form(closes_date="2027-03-03"), "Europe/Oslo", creating=True)
    assert list(half.errors) == ["closes_time"]
    assert page.read_meeting_form(form(date="4.3.2027", time="10.00"), "Europe/Oslo", creating=True).errors == {}


def test_timing_problems_name_their_field_and_code_and_keep_the_apis_sentences() -> None:
    starts = datetime(2027, 3, 4, 21, 0, tzinfo=UTC)  # 22:00 in Oslo
    closes = starts + timedelta(hours=1)
    problems = domain.meeting_timing_problems(
        starts_at=starts, duration_minutes=105, registration_closes_at=closes, now=NOW, window=WINDOW
    )
    assert [(p.field, p.code) for p in problems] == [
        ("starts_at", "not_daytime"),
        ("registration_closes_at", "closes_after_start"),
    ]
    sentences = domain.meeting_problems(
        starts_at=starts, duration_minutes=105, registration_closes_at=closes, now=NOW, window=WINDOW
    )
    assert sentences == [p.message for p in problems] and "between 08:00 and 17:00" in sentences[0]
    local = starts.astimezone(WINDOW_ZONE)
    errors = page.timing_errors(problems, local, 105, WINDOW, "nb")
    assert list(errors) == ["time", "closes_time"]
    assert errors["time"][1] == {"starts": "08.00", "ends": "17.00", "runs_from": "22.00", "runs_to": "23.45"}


def test_the_coordinators_sign_up_joins_the_names_and_asks_for_consent() -> None:
    posted = {"first_name": "Amina", "last_name": "Hassan", "email": "a@example.no", "norwegian_level": "B1"}
    refused = registrations.read_sign_up(posted, "nb")
    assert refused.body is None and list(refused.errors) == ["consent"]
    signed = registrations.read_sign_up(posted | {"consent": "yes"}, "nn")
    assert signed.body is not None and signed.body.name == "Amina Hassan" and signed.body.group == "newcomer"
    assert signed.body.language == "nn" and signed.body.norwegian_level == "B1"
    odd = registrations.read_sign_up({"first_name": "www.evil.com", "last_name": "", "phone": "123"}, "nb")
    assert list(odd.errors) == ["first_name", "last_name", "phone", "norwegian_level", "consent"]
