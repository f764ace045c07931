"""HTTP routes of the reporting service: decode, authorise, delegate to the store and the reports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.reporting import csv_export, dashboards, labels, pages, reports, store
from shared import tenancy
from shared.auth import Principal
from shared.auth_deps import bearer_auth
from shared.errors import NotFound, Unprocessable
from shared.service import Runtime, current_runtime

router = APIRouter(prefix="/v1")
RuntimeDep = Annotated[Runtime, Depends(current_runtime)]
# The platform's reports cover meetings from 2020 to 2099: a wider range is a mistake, and an open one would
# make the dashboards draw an axis of every month in it.
EARLIEST, LATEST = date(2020, 1, 1), date(2099, 12, 31)
First = Annotated[
    date | None,
    Query(alias="from", ge=EARLIEST, le=LATEST, description="First local date of a meeting, e.g. 2027-01-01."),
]
Last = Annotated[
    date | None, Query(alias="to", ge=EARLIEST, le=LATEST, description="Last local date of a meeting (inclusive).")
]
Sep = Annotated[
    csv_export.Separator, Query(description="semicolon (Norwegian Excel, decimal comma) or comma (decimal point).")
]
Lang = Annotated[
    labels.HeaderLanguage,
    Query(description="Language of the CSV headers: nb (default), nn, en, or id (fixed column ids, for machines)."),
]
Access = Annotated[
    str | None,
    Query(
        max_length=1024,
        description="A one-time grant from the console (signed, valid a minute).",
        include_in_schema=False,
    ),
]
PageLang = Annotated[
    str | None, Query(max_length=8, description="The dashboard's language: nb, nn or en (else Accept-Language).")
]
CSV = "text/csv; charset=utf-8"


# Who is calling (shared/auth_deps.py): no or an unknown token is a 401, a coordinator on an operator route a 404.
_auth = bearer_auth()
principal = _auth.required
operator = _auth.operator
Who = Annotated[Principal, Depends(principal)]
Operator = Annotated[Principal, Depends(operator)]


def _period(first: date | None, last: date | None) -> None:
    if first and last and first > last:
        raise Unprocessable(f"from ({first}) must not be after to ({last})")


async def _visible_tenant(conn: Any, who: Principal, slug: str) -> asyncpg.Record:
    tenant = await tenancy.tenant_by_slug(conn, slug)
    if tenant is None or not who.can_see(tenant["tenant_id"]):
        raise NotFound(f"no tenant '{slug}'")
    return tenant


@router.get("/tenants/{slug}/summary", tags=["coordinator"])
async def tenant_summary(slug: str, runtime: RuntimeDep, who: Who) -> dict[str, Any]:
    """Counts per meeting: confirmed and waitlisted by group, cancellations, promotions, pairs."""
    async with runtime.db.acquire() as conn:
        tenant = await _visible_tenant(conn, who, slug)
        rows = await store.tenant_summary(conn, tenant["tenant_id"])
    meetings = [
        {
            "meeting_id": str(r["meeting_id"]),
            "title": r["title"],
            "format": r["format"],
            "status": r["status"],
            "starts_at": r["starts_at"].isoformat(),
            "confirmed": {"newcomer": r["confirmed_newcomer"], "resident": r["confirmed_resident"]},
            "waitlisted": {"newcomer": r["waitlisted_newcomer"], "resident": r["waitlisted_resident"]},
            "cancelled": r["cancelled"],
            "promoted": r["promoted"],
            "pairs": r["pairs"],
            "trios": r["trios"],
        }
        for r in rows
    ]
    return {"tenant": slug, "meetings": meetings}


async def _tenant_report(
    runtime: Runtime, who: Principal, slug: str, first: date | None, last: date | None
) -> tuple[reports.TenantReport, str]:
    _period(first, last)
    async with runtime.db.acquire() as conn:
        tenant = await _visible_tenant(conn, who, slug)
        meetings = await store.meeting_figures(conn, tenant["tenant_id"], first, last)
        loose = await store.loose_notifications(conn, tenant["tenant_id"], first, last)
    return reports.tenant_report(slug, first, last, meetings, loose), tenant["name"]


async def _national_report(runtime: Runtime, first: date | None, last: date | None) -> reports.NationalReport:
    _period(first, last)
    async with runtime.db.acquire() as conn:
        grouped = await store.grouped_figures(conn, first, last)
        known = await store.tenants(conn)
    return reports.national_report(first, last, grouped, known)


@router.get("/tenants/{slug}/report", tags=["coordinator"])
async def tenant_report(slug: str, runtime: RuntimeDep, who: Who, first: First = None, last: Last = None) -> Any:
    """A row per meeting (by its local start date) and the totals, without personal data."""
    report, _ = await _tenant_report(runtime, who, slug, first, last)
    return report.as_json()


@router.get("/tenants/{slug}/report.csv", tags=["coordinator"], response_class=Response)
async def tenant_report_csv(
    slug: str,
    runtime: RuntimeDep,
    who: Who,
    first: First = None,
    last: Last = None,
    sep: Sep = "semicolon",
    lang: Lang = "nb",
) -> Response:
    """The report as CSV: UTF-8 with a byte-order mark, a row per meeting, then the totals."""
    report, _ = await _tenant_report(runtime, who, slug, first, last)
    return Response(
        csv_export.tenant_csv(report, sep, lang),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="report-{slug}.csv"'},
    )


@router.get("/tenants/{slug}/dashboard", tags=["coordinator"], response_class=HTMLResponse)
async def tenant_dashboard(
    slug: str,
    request: Request,
    runtime: RuntimeDep,
    first: First = None,
    last: Last = None,
    access: Access = None,
    lang: PageLang = None,
) -> Response:
    """The tenant's dashboard (HTML) in the page's language, for a bearer header, the console's one-time grant
    (``access``: exchanged for the dashboards' cookie, then 303 to the same address without it) or that
    cookie. A coordinator sees only their own tenant's (another: 404)."""
    seen = await dashboards.viewer(request, runtime, access, lang)
    if isinstance(seen, Response):
        return seen
    try:
        report, name = await _tenant_report(runtime, seen.principal, slug, first, last)
    except NotFound:
        if seen.by_cookie:
            return dashboards.problem(404, seen.language)
        raise
    return HTMLResponse(pages.tenant_page(report, name, seen.language, dashboards.switch(request)))


@router.get("/national/report", tags=["operator"])
async def national_report(runtime: RuntimeDep, _: Operator, first: First = None, last: Last = None) -> Any:
    """Totals per tenant, per month and for the nation; counts of 1-4 people read "<5" (see the legend)."""
    return (await _national_report(runtime, first, last)).as_json()


@router.get("/national/report.csv", tags=["operator"], response_class=Response)
async def national_report_csv(
    runtime: RuntimeDep,
    _: Operator,
    first: First = None,
    last: Last = None,
    sep: Sep = "semicolon",
    lang: Lang = "nb",
) -> Response:
    report = await _national_report(runtime, first, last)
    return Response(
        csv_export.national_csv(report, sep, lang),
        media_type=CSV,
        headers={"Content-Disposition": 'attachment; filename="report-national.csv"'},
    )


@router.get("/national/dashboard", tags=["operator"], response_class=HTMLResponse)
async def national_dashboard(
    request: Request,
    runtime: RuntimeDep,
    first: First = None,
    last: Last = None,
    access: Access = None,
    lang: PageLang = None,
) -> Response:
    """The national dashboard (HTML) in the page's language, for the operator: a bearer header, the
    console's one-time grant or the dashboards' cookie (as the tenant's dashboard); anyone else 404."""
    seen = await dashboards.viewer(request, runtime, access, lang)
    if isinstance(seen, Response):
        return seen
    if seen.principal.role != "operator":
        if seen.by_cookie:
            return dashboards.problem(404, seen.language)
        raise NotFound("no such page")
    report = await _national_report(runtime, first, last)
    return HTMLResponse(pages.national_page(report, seen.language, dashboards.switch(request)))
