"""Check-in on the day: everyone in the meeting with one large tap target each for here and not here, then the
meeting completed."""

from __future__ import annotations

from fastapi import APIRouter

from services.registration.console.web import ConsoleRoute

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
