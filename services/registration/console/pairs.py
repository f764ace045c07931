"""The pairs after sign-up closes: the proposal with its reasons, swap, lock, publish; the long table drawn for
print, name cards and the host's script."""

from __future__ import annotations

from fastapi import APIRouter

from services.registration.console.web import ConsoleRoute

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
