"""The meeting's and the tenant's figures, and reporting's dashboards opened with the console's sign-in."""

from __future__ import annotations

from fastapi import APIRouter

from services.registration.console.web import ConsoleRoute

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
