"""The coordinator's registrations page: newcomers and residents side by side, sign-up on a newcomer's behalf,
cancellation, the invitation link and its QR code."""

from __future__ import annotations

from fastapi import APIRouter

from services.registration.console.web import ConsoleRoute

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
