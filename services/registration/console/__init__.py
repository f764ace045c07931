"""The console: server-rendered pages for the municipalities' coordinators (run a meeting from creation to
the report) and for the national operator (the municipalities and their access keys). The same use cases as
the JSON API, the participant pages' languages and CSRF protection, and a session cookie
(``usecases/sessions.py``) in place of a bearer header."""

from __future__ import annotations

from fastapi import APIRouter

from services.registration.console import checkin, meetings, operator, pairs, registrations, report, signin

router = APIRouter()
for module in (signin, meetings, registrations, pairs, checkin, report, operator):
    router.include_router(module.router)
