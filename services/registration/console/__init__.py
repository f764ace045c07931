"""The console: server-rendered pages for the municipalities' coordinators (run a meeting from creation to
the report) and for the national operator (the municipalities and their access keys). The same use cases as
the JSON API, the participant pages' languages and CSRF protection, and a session cookie
(``usecases/sessions.py``) in place of a bearer header."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.registration.console import checkin, meetings, operator, pairs, registrations, report, signin
from services.registration.console.web import ConsoleRoute, current_session, not_found

router = APIRouter()
for module in (signin, meetings, registrations, pairs, checkin, report, operator):
    router.include_router(module.router)

# Last: any other address under /console, and a GET of an address that only takes a form (an action's address
# left in the address bar after a refusal), is the console's "not found" page rather than JSON.
fallback = APIRouter(include_in_schema=False, route_class=ConsoleRoute)


@fallback.get("/console/{rest:path}")
async def no_such_page(rest: str, request: Request) -> Response:
    await current_session(request)  # the header shows who is signed in, if anyone
    return not_found(request)


router.include_router(fallback)
