"""The seating plan with names as a printable HTML page: the console's long table (``console/table.html``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from services.registration.console.pairs import table_page
from services.registration.views import SeatingView


def render(request: Request, seating: SeatingView) -> HTMLResponse:
    """The long table of ``seating`` in the request's language: times in the tenant's clock, not UTC."""
    return table_page(request, "table.html", seating.meeting, seating.plan)
