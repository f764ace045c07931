"""Check-in on the day: everyone in the meeting with one large tap target each for here and not here, then the
meeting completed.

Each tap is a plain form post (no script needed) that records attendance through
``registrations.record_attendance`` and goes back to the page at that person (303 to ``#p-<id>``); «the
meeting is over» completes the meeting through the lifecycle use case and opens its report. Before the start
the page says when check-in opens; a completion refused for the time says from when it can be done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.registration.console.web import ConsoleRoute, Coordinator, render
from services.registration.pages import web
from services.registration.pages.web import form_of
from services.registration.schemas import AttendanceIn
from services.registration.usecases import meeting_day, meetings, registrations
from shared import i18n, localtime
from shared.errors import Conflict
from shared.service import runtime_of

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
ATTENDANCE = ("attended", "no_show")


def moment_words(request: Request, timezone: str) -> Callable[[datetime], str]:
    """A function that words an aware moment on the tenant's clock in the page's language: «tirsdag 2. mars
    kl. 10.00», "Tuesday 2 March at 10:00"."""
    language = web.language_of(request)
    translations = i18n.translations(language)

    def moment(at: datetime) -> str:
        local = localtime.local(at, timezone)
        return translations.gettext("%(day)s at %(time)s") % {
            "day": localtime.day(local, language),
            "time": localtime.clock(local, language),
        }

    return moment


async def _page(
    request: Request, session: Coordinator, meeting_id: uuid.UUID, status_code: int = 200, problem: str | None = None
) -> Response:
    view = await meeting_day.check_in(runtime_of(request).db, session.principal, meeting_id)
    moment = moment_words(request, view.meeting.timezone)
    return render(request, "checkin.html", status_code, view=view, meeting=view.meeting, problem=problem, moment=moment)


@router.get("/console/meetings/{meeting_id}/check-in")
async def check_in_page(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """The check-in list (``meeting_day.check_in``): counts, then one row per person with «here» and «not
    here», then «the meeting is over»."""
    return await _page(request, session, meeting_id)


@router.post("/console/meetings/{meeting_id}/check-in/complete")
async def complete(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Complete the meeting (``meetings.transition(..., "complete")``), then 303 to its report; refused (too
    early, or not from its status), the check-in page again (409) saying why."""
    try:
        await meetings.transition(runtime_of(request).db, session.principal, meeting_id, "complete")
    except Conflict:
        return await _page(request, session, meeting_id, 409, problem="complete")
    return RedirectResponse(f"/console/meetings/{meeting_id}/report", status_code=303)


@router.post("/console/meetings/{meeting_id}/check-in/{registration_id}")
async def record(meeting_id: uuid.UUID, registration_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Record ``status`` (attended | no_show) for a person of this meeting, then 303 back to the page at that
    person. Another meeting's or tenant's registration is the console's 404; another status a 400 page; a
    refusal (before the start, a place that is not expected) the page again (409) saying why."""
    db = runtime_of(request).db
    await meeting_day.registration_of_meeting(db, session.principal, meeting_id, registration_id)
    status = (await form_of(request)).get("status", "")
    if status not in ATTENDANCE:
        return await _page(request, session, meeting_id, 400, problem="status")
    try:
        await registrations.record_attendance(
            db, session.principal, registration_id, AttendanceIn.model_validate({"status": status})
        )
    except Conflict:
        return await _page(request, session, meeting_id, 409, problem="attendance")
    return RedirectResponse(f"/console/meetings/{meeting_id}/check-in#p-{registration_id}", status_code=303)
