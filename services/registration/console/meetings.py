"""The coordinator's meetings: the list (upcoming and past, with counts and the actions each state allows),
the form to create and edit one (date and time on the tenant's clock, each error beside its field), the
meeting's own page with its lifecycle buttons and links to every part of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.registration import domain
from services.registration.console.web import ConsoleRoute, Coordinator, Signed, render
from services.registration.domain import DayWindow
from services.registration.pages.signup_form import N_
from services.registration.pages.web import form_of, language_of
from services.registration.schemas import MeetingIn, MeetingUpdate
from services.registration.usecases import meetings
from services.registration.usecases.common import now
from services.registration.usecases.sessions import ConsoleSession
from services.registration.views import MeetingView, TenantView
from shared import localtime, vocabulary
from shared.errors import Conflict, NotFound
from shared.formats import FORMATS
from shared.service import runtime_of

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)


@router.get("/console")
async def home(session: Signed) -> Response:
    """The console's front door: the operator's municipalities, or the coordinator's meetings."""
    return RedirectResponse("/console/tenants" if session.is_operator else "/console/meetings", status_code=303)


@router.get("/console/meetings")
async def meeting_list(request: Request, session: Coordinator) -> Response:
    assert session.tenant is not None
    found = await meetings.list_meetings(runtime_of(request).db, session.principal, session.tenant.slug)
    at = now()
    upcoming = [m for m in found if not domain.is_past(m.status, m.ends_at, at)]
    past = [m for m in reversed(found) if domain.is_past(m.status, m.ends_at, at)]
    return render(
        request,
        "meetings.html",
        upcoming=upcoming,
        past=past,
        actions={m.id: domain.lifecycle_actions(m.status) for m in found},
    )


# --- creating and editing a meeting ------------------------------------------------------------------------

# The form's fields, in the order of the page (the error summary lists them in it).
FIELDS = (
    "format",
    "title",
    "date",
    "time",
    "venue_name",
    "venue_address",
    "venue_kind",
    "capacity_newcomer",
    "capacity_resident",
    "closes_date",
    "closes_time",
)
# Where a refusal of ``MeetingIn``/``MeetingUpdate`` belongs on the form, by its location in the body.
_LOCATIONS = {
    ("format",): "format",
    ("title",): "title",
    ("venue", "name"): "venue_name",
    ("venue", "address"): "venue_address",
    ("venue", "kind"): "venue_kind",
    ("capacity", "newcomer"): "capacity_newcomer",
    ("capacity", "resident"): "capacity_resident",
}
MESSAGES = {
    "format": N_("Choose a format."),
    "title": N_("Write a title on one line, at most 200 characters."),
    "date": N_("Write the date, for example 2027-03-04."),
    "time": N_("Write the time in hours and minutes, for example 10:00."),
    "venue_name": N_("Write the name of the place on one line."),
    "venue_address": N_("Write the address on one line."),
    "venue_kind": N_("Choose what kind of place it is."),
    "capacity_newcomer": N_("Write a whole number from 1 to 500."),
    "capacity_resident": N_("Write a whole number from 1 to 500."),
    "closes_date": N_("Write the date, for example 2027-03-01."),
    "closes_time": N_("Write the time in hours and minutes, for example 12:00."),
    "closes_both": N_("Give both a date and a time for the closing, or leave both empty."),
    # domain.meeting_timing_problems, by code
    "no_offset": N_("Write the date and the time again."),
    "past": N_("The meeting must be in the future."),
    "too_far_ahead": N_("The meeting must be at most two years ahead. Check the year."),
    "not_daytime": N_(
        "The meeting must start and end in the daytime, between %(starts)s and %(ends)s. This one would run"
        " %(runs_from)s–%(runs_to)s."
    ),
    "closes_after_start": N_("Sign-up must close before the meeting starts."),
    "closes_in_past": N_(
        "The closing time must be in the future. Leave it empty to close sign-up when the meeting starts."
    ),
    "capacity_below_confirmed": N_(
        "%(num)s people in this group have a place already. The number cannot be lower. Cancel places first."
    ),
}
# Which field of the form a timing problem of the use case belongs beside, by (the body's field, code).
_TIMING_FIELDS = {
    ("starts_at", "past"): "date",
    ("starts_at", "too_far_ahead"): "date",
    ("starts_at", "not_daytime"): "time",
    ("starts_at", "no_offset"): "time",
    ("registration_closes_at", "closes_after_start"): "closes_time",
    ("registration_closes_at", "closes_in_past"): "closes_date",
}
# Error: a msgid and its named values (the template translates the msgid and fills them in).
Error = tuple[str, dict[str, str]]


@dataclass
class MeetingForm:
    """The posted meeting form: the ``values`` as typed (kept for the page shown again), the body when the
    form could be read, and the errors, ``{field: (msgid, values)}``."""

    values: dict[str, str]
    body: MeetingIn | MeetingUpdate | None = None
    errors: dict[str, Error] = field(default_factory=dict)
    starts_local: datetime | None = None


def parse_date(value: str) -> date | None:
    """A date as a browser's date field sends it (2027-03-04), or as typed without one (4.3.2027); None
    when it is neither."""
    value = value.strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return datetime.strptime(value, "%d.%m.%Y").date()
    except ValueError:
        return None


def parse_time(value: str) -> time | None:
    """A time as a browser's time field sends it (10:00, or 10:00:00), or typed as 10.00; None otherwise."""
    value = value.strip().replace(".", ":")
    for pattern in ("%H:%M", "%H:%M:%S"):
        try:
            return datetime.strptime(value, pattern).time()
        except ValueError:
            continue
    return None


def aware(day: date, at: time, timezone: str) -> datetime:
    """The moment ``day`` at ``at`` on the tenant's clock (an IANA zone name), timezone-aware."""
    return datetime.combine(day, at).replace(tzinfo=ZoneInfo(timezone))


def read_meeting_form(form: dict[str, str], timezone: str, *, creating: bool) -> MeetingForm:
    """The posted form as ``MeetingIn`` (``creating``) or ``MeetingUpdate``, the date and times read on the
    tenant's clock (``timezone``); every problem the form itself shows is in ``errors`` (the timing rules
    are the use case's: ``TimingRefused``)."""
    values = {name: form.get(name, "").strip() for name in FIELDS}
    result = MeetingForm(values=values)
    errors: dict[str, Error] = {}
    day, at = parse_date(values["date"]), parse_time(values["time"])
    if day is None:
        errors["date"] = (MESSAGES["date"], {})
    if at is None:
        errors["time"] = (MESSAGES["time"], {})
    closes_at = None
    if values["closes_date"] or values["closes_time"]:
        closes_day, closes_time = parse_date(values["closes_date"]), parse_time(values["closes_time"])
        if not values["closes_date"] or not values["closes_time"]:
            missing = "closes_date" if not values["closes_date"] else "closes_time"
            errors[missing] = (MESSAGES["closes_both"], {})
        elif closes_day is None:
            errors["closes_date"] = (MESSAGES["closes_date"], {})
        elif closes_time is None:
            errors["closes_time"] = (MESSAGES["closes_time"], {})
        else:
            closes_at = aware(closes_day, closes_time, timezone)
    data: dict[str, Any] = {
        "title": values["title"],
        "venue": {"name": values["venue_name"], "address": values["venue_address"], "kind": values["venue_kind"]},
        "capacity": {"newcomer": values["capacity_newcomer"], "resident": values["capacity_resident"]},
        "registration_closes_at": closes_at,
    }
    if day is not None and at is not None:
        result.starts_local = aware(day, at, timezone)
        data["starts_at"] = result.starts_local
    elif creating:
        data["starts_at"] = None
    if creating:
        data["format"] = values["format"]
    try:
        model = MeetingIn if creating else MeetingUpdate
        body = model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            name = _LOCATIONS.get(tuple(str(part) for part in error.get("loc", ())[:2]))
            if name is not None:
                errors.setdefault(name, (MESSAGES[name], {}))
        body = None
    result.errors = ordered(errors)
    result.body = body if not result.errors else None
    return result


def ordered(errors: dict[str, Error]) -> dict[str, Error]:
    """``errors`` in the order of the form's fields."""
    rank = {name: i for i, name in enumerate(FIELDS)}
    return dict(sorted(errors.items(), key=lambda item: rank.get(item[0], len(FIELDS))))


def timing_errors(
    problems: list[domain.MeetingProblem], starts_local: datetime | None, duration: int, window: DayWindow, lang: str
) -> dict[str, Error]:
    """The use case's timing problems beside their fields, worded by code; the daytime one names the
    tenant's window and the times the meeting would run (``starts_local`` on the tenant's clock)."""
    errors: dict[str, Error] = {}
    for problem in problems:
        name = _TIMING_FIELDS.get((problem.field, problem.code), "time")
        values: dict[str, str] = {}
        if problem.code == "not_daytime" and starts_local is not None:
            values = {
                "starts": clock_of_day(window.starts, lang),
                "ends": clock_of_day(window.ends, lang),
                "runs_from": localtime.clock(starts_local, lang),
                "runs_to": localtime.clock(starts_local + timedelta(minutes=duration), lang),
            }
        elif problem.code == "not_daytime":
            values = {"starts": clock_of_day(window.starts, lang), "ends": clock_of_day(window.ends, lang)}
            values |= {"runs_from": "?", "runs_to": "?"}
        errors.setdefault(name, (MESSAGES[problem.code], values))
    return ordered(errors)


def clock_of_day(at: time, lang: str) -> str:
    """A wall-clock time of day as ``localtime.clock`` writes it ("08.00" in Norwegian, "08:00" in English)."""
    return localtime.clock(datetime.combine(date(2000, 1, 1), at), lang)


def window_of(tenant: TenantView) -> DayWindow:
    return DayWindow(tenant.timezone, tenant.day_starts, tenant.day_ends)


def formats_for_page() -> list[dict[str, Any]]:
    """The formats as the picker shows them: id, group sizes, length (hours and minutes), the minimum
    oral-Norwegian level, and what pairing weighs (each factor's weight)."""
    return [
        {
            "id": f.id,
            "newcomers": f.newcomers,
            "residents": f.residents,
            "hours": f.duration_minutes // 60,
            "minutes": f.duration_minutes % 60,
            "level": f.min_norwegian_level,
            "weights": [
                ("shared_interest", f.weights.shared_interest),
                ("same_occupation", f.weights.same_occupation),
                ("common_language", f.weights.common_language),
                ("age_closeness", f.weights.age_closeness),
            ],
        }
        for f in FORMATS.values()
    ]


def _form_page(
    request: Request,
    session: ConsoleSession,
    status: int,
    *,
    values: dict[str, str],
    errors: dict[str, Error],
    meeting: MeetingView | None = None,
    refusal: str | None = None,
) -> Response:
    assert session.tenant is not None
    window = window_of(session.tenant)
    lang = language_of(request)
    return render(
        request,
        "meeting_form.html",
        status,
        meeting=meeting,
        values=values,
        errors=errors,
        refusal=refusal,
        formats=formats_for_page(),
        window_starts=clock_of_day(window.starts, lang),
        window_ends=clock_of_day(window.ends, lang),
        venue_kinds=[k["id"] for k in vocabulary.vocabulary()["venue_kinds"]],
    )


def _values_of(meeting: MeetingView) -> dict[str, str]:
    """The form's values for an existing meeting, on the tenant's clock."""
    closes = (
        meeting.registration_closes_at.astimezone(ZoneInfo(meeting.timezone))
        if meeting.registration_closes_at
        else None
    )
    return {
        "format": meeting.format,
        "title": meeting.title,
        "date": meeting.local_starts.date().isoformat(),
        "time": f"{meeting.local_starts:%H:%M}",
        "venue_name": meeting.venue.name,
        "venue_address": meeting.venue.address,
        "venue_kind": meeting.venue.kind,
        "capacity_newcomer": str(meeting.capacity.newcomer),
        "capacity_resident": str(meeting.capacity.resident),
        "closes_date": closes.date().isoformat() if closes else "",
        "closes_time": f"{closes:%H:%M}" if closes else "",
    }


def edit_refusal(meeting: MeetingView) -> str | None:
    """Why the meeting cannot be edited now (``domain.edit_problem``), as a code the page words: ``status``
    (completed, cancelled or sign-up closed) or ``clock`` (sign-up closed by its time); None when it can."""
    clock = domain.MeetingClock(meeting.starts_at, meeting.ends_at, meeting.registration_closes_at)
    if domain.edit_problem(meeting.status, clock, now()) is None:
        return None
    return "status" if meeting.status not in domain.EDITABLE_STATES else "clock"


@router.get("/console/meetings/new")
async def new_meeting_page(request: Request, session: Coordinator) -> Response:
    """The empty form: the standard format's sizes, the tenant's venue kinds."""
    standard = FORMATS["standard"]
    values = dict.fromkeys(FIELDS, "") | {
        "format": standard.id,
        "time": "",
        "venue_kind": "library",
        "capacity_newcomer": str(standard.newcomers),
        "capacity_resident": str(standard.residents),
    }
    return _form_page(request, session, 200, values=values, errors={})


@router.post("/console/meetings/new")
async def create_meeting(request: Request, session: Coordinator) -> Response:
    """Create the meeting (a draft) and go to its page (303); the form again with each error beside its
    field (400) when the form or the rules refuse it, nothing written."""
    assert session.tenant is not None
    form = read_meeting_form(await form_of(request), session.tenant.timezone, creating=True)
    if not isinstance(form.body, MeetingIn):
        return _form_page(request, session, 400, values=form.values, errors=form.errors)
    try:
        created = await meetings.create_meeting(
            runtime_of(request).db, session.principal, session.tenant.slug, form.body
        )
    except meetings.TimingRefused as exc:
        duration = FORMATS[form.body.format].duration_minutes
        errors = timing_errors(
            exc.problems, form.starts_local, duration, window_of(session.tenant), language_of(request)
        )
        return _form_page(request, session, 400, values=form.values, errors=errors)
    except Conflict:
        return _form_page(request, session, 409, values=form.values, errors={}, refusal="suspended")
    return RedirectResponse(f"/console/meetings/{created.id}?done=created", status_code=303)


@router.get("/console/meetings/{meeting_id}/edit")
async def edit_meeting_page(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """The form with the meeting's details; while it cannot be edited, a page that says why (409)."""
    meeting = await meetings.coordinator_meeting(runtime_of(request).db, session.principal, meeting_id)
    refusal = edit_refusal(meeting)
    return _form_page(
        request,
        session,
        409 if refusal else 200,
        values=_values_of(meeting),
        errors={},
        meeting=meeting,
        refusal=refusal,
    )


@router.post("/console/meetings/{meeting_id}/edit")
async def edit_meeting(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Save the changes and go to the meeting's page (303); the form again with the errors (400), or the
    reason it can no longer be edited (409), nothing written."""
    assert session.tenant is not None
    db = runtime_of(request).db
    meeting = await meetings.coordinator_meeting(db, session.principal, meeting_id)
    form = read_meeting_form(await form_of(request), meeting.timezone, creating=False)
    form.values["format"] = meeting.format
    if not isinstance(form.body, MeetingUpdate):
        return _form_page(request, session, 400, errors=form.errors, meeting=meeting, values=form.values)
    try:
        await meetings.update_meeting(db, session.principal, meeting_id, form.body)
    except meetings.TimingRefused as exc:
        window = window_of(session.tenant)
        errors = timing_errors(exc.problems, form.starts_local, meeting.duration_minutes, window, language_of(request))
        return _form_page(request, session, 400, errors=errors, meeting=meeting, values=form.values)
    except meetings.CapacityRefused as exc:
        error = (MESSAGES["capacity_below_confirmed"], {"num": str(exc.confirmed)})
        return _form_page(
            request, session, 400, errors={f"capacity_{exc.group}": error}, meeting=meeting, values=form.values
        )
    except Conflict:
        current = await meetings.coordinator_meeting(db, session.principal, meeting_id)
        return _form_page(
            request,
            session,
            409,
            errors={},
            refusal=edit_refusal(current) or "clock",
            meeting=meeting,
            values=form.values,
        )
    return RedirectResponse(f"/console/meetings/{meeting_id}?done=saved", status_code=303)


# --- the meeting's page and its lifecycle ------------------------------------------------------------------

# Why a lifecycle action was refused (409), by the start of the use case's sentence: the key of its text on
# the meeting's page.
_LIFECYCLE_REFUSALS = (
    ("cannot ", "state"),
    ("registration closed at", "too_late_to_publish"),
    ("the meeting ended at", "ended"),
    ("the meeting can be completed once it has ended", "not_ended"),
)


def lifecycle_refusal(detail: str) -> str:
    """Which refusal of a lifecycle action the use case's ``detail`` is: ``state`` (not from this status),
    ``too_late_to_publish``, ``ended`` (cancel after the end), ``not_ended`` (complete before the end), or
    ``not_now``."""
    return next((key for start, key in _LIFECYCLE_REFUSALS if detail.startswith(start)), "not_now")


def _hub(request: Request, meeting: MeetingView, status: int = 200, refusal: str | None = None) -> Response:
    done = request.query_params.get("done")
    return render(
        request,
        "meeting.html",
        status,
        meeting=meeting,
        actions=domain.lifecycle_actions(meeting.status),
        editable=edit_refusal(meeting) is None,
        refusal=refusal,
        done=done if done in ("created", "saved", "publish", "close", "complete", "cancel") else None,
    )


@router.get("/console/meetings/{meeting_id}")
async def meeting_page(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """The meeting's page: when and where, its status in words, places per group, the lifecycle buttons its
    status allows, and links to every part of the meeting."""
    return _hub(request, await meetings.coordinator_meeting(runtime_of(request).db, session.principal, meeting_id))


@router.get("/console/meetings/{meeting_id}/lifecycle/cancel")
async def cancel_meeting_ask(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """ "Are you sure?" before cancelling the meeting (everyone signed up is told)."""
    meeting = await meetings.coordinator_meeting(runtime_of(request).db, session.principal, meeting_id)
    if "cancel" not in domain.lifecycle_actions(meeting.status):
        return _hub(request, meeting, 409, refusal="state")
    return render(request, "cancel_meeting.html", meeting=meeting)


@router.post("/console/meetings/{meeting_id}/lifecycle/{action}")
async def lifecycle(meeting_id: uuid.UUID, action: str, request: Request, session: Coordinator) -> Response:
    """Publish, close, complete or cancel, then back to the meeting's page (303); a refusal (its status or
    its clock) shows the page again with the reason (409), nothing changed."""
    db = runtime_of(request).db
    if action not in domain.TRANSITIONS:
        raise NotFound(f"no action {action}")
    try:
        await meetings.transition(db, session.principal, meeting_id, action)
    except Conflict as exc:
        meeting = await meetings.coordinator_meeting(db, session.principal, meeting_id)
        return _hub(request, meeting, 409, refusal=lifecycle_refusal(str(exc)))
    return RedirectResponse(f"/console/meetings/{meeting_id}?done={action}", status_code=303)
