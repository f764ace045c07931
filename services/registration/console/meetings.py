"""The coordinator's meetings: the list (upcoming and past, with counts and the actions each state allows)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.registration import domain
from services.registration.console.web import ConsoleRoute, Coordinator, Signed, render
from services.registration.usecases import meetings
from services.registration.usecases.common import now
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
