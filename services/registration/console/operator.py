"""The operator's console: the municipalities with their status and last activity, access keys, suspension."""

from __future__ import annotations

from fastapi import APIRouter

from services.registration.console.web import ConsoleRoute

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
