"""The meeting's and the tenant's figures, and reporting's dashboards opened with the console's sign-in.

The figures here are registration's own counts (who has a place, who came, feedback); reporting's dashboards
keep the tenant's and the nation's figures over time. To open them without a second sign-in the console
gives the browser a one-time grant, signed and valid for a minute (``shared/handoff.py``), in the address of
the dashboard; reporting checks it, gives the browser its own cookie and takes the grant out of the address.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from urllib.parse import quote, urlencode

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.registration.console.checkin import moment_words
from services.registration.console.web import ConsoleRoute, Coordinator, OperatorSession, render, settings_of
from services.registration.pages import web
from services.registration.usecases import meeting_day
from services.registration.usecases.sessions import ConsoleSession, TokenSignIn
from shared import handoff
from shared.service import runtime_of

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)


def rating_words(request: Request) -> Callable[[float | None], str]:
    """A function that writes a mean rating with one decimal in the page's language ("4,3" in Norwegian,
    "4.3" in English); "–" for none."""
    language = web.language_of(request)

    def rating(value: float | None) -> str:
        return "–" if value is None else format_decimal(value, "0.0", locale=language)

    return rating


@router.get("/console/meetings/{meeting_id}/report")
async def meeting_report(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """The meeting's figures (``meeting_day.meeting_figures``): per group who had a place, came, did not come,
    and the feedback answers with their mean rating."""
    figures = await meeting_day.meeting_figures(runtime_of(request).db, session.principal, meeting_id)
    moment = moment_words(request, figures.meeting.timezone)
    return render(
        request,
        "report_meeting.html",
        figures=figures,
        meeting=figures.meeting,
        moment=moment,
        format_rating=rating_words(request),
    )


@router.get("/console/report")
async def tenant_report(request: Request, session: Coordinator) -> Response:
    """The tenant's meetings, one row each (named by title and date), with registration's counts, and the link
    to reporting's dashboard."""
    assert session.tenant is not None
    rows = await meeting_day.tenant_figures(runtime_of(request).db, session.principal, session.tenant.slug)
    return render(request, "report.html", rows=rows, format_rating=rating_words(request))


def dashboard_address(request: Request, session: ConsoleSession, now: float) -> str:
    """Reporting's dashboard for the session (the tenant's for a coordinator, the nation's for the operator)
    with a fresh one-time grant in ``access`` (role, tenant, the page's language, the session's access key's
    hash; valid ``handoff.ACCESS_TTL_S`` seconds)."""
    settings = settings_of(request)
    key = handoff.key_of(settings.operator_token.get_secret_value())
    language = web.language_of(request)
    # Reporting checks the access key behind the session on every use (a key's hash; other providers none).
    credential = session.credential if session.provider == TokenSignIn.name else ""
    if session.is_operator:
        value = handoff.grant("operator", None, None, language, "access", now, credential=credential)
        path = "/v1/national/dashboard"
    else:
        assert session.tenant is not None
        value = handoff.grant(
            "coordinator", session.tenant.id, session.tenant.slug, language, "access", now, credential=credential
        )
        path = f"/v1/tenants/{quote(session.tenant.slug, safe='')}/dashboard"
    query = urlencode({"access": handoff.sign(key, value)})
    return f"{settings.reporting_url.rstrip('/')}{path}?{query}"


@router.get("/console/report/dashboard")
async def tenant_dashboard(request: Request, session: Coordinator) -> Response:
    """303 to the tenant's dashboard in reporting, signed in there by a one-time grant."""
    return RedirectResponse(
        dashboard_address(request, session, time.time()), status_code=303, headers={"Cache-Control": "no-store"}
    )


@router.get("/console/national/dashboard")
async def national_dashboard(request: Request, session: OperatorSession) -> Response:
    """303 to the national dashboard in reporting (the operator only; a coordinator gets the console's 404)."""
    return RedirectResponse(
        dashboard_address(request, session, time.time()), status_code=303, headers={"Cache-Control": "no-store"}
    )
