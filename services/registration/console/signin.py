"""Signing in to the console and out of it: the sign-in form (a bearer token, typed once), a one-time
sign-in link, and sign-out. Failed sign-ins count against the client like wrong bearer tokens on the API
(``guard.check_bearer``), so the form is no way round that limit."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.registration import guard
from services.registration.console.web import (
    COOKIE,
    ConsoleRoute,
    clear_session_cookie,
    current_session,
    providers,
    render,
    set_session_cookie,
)
from services.registration.pages.web import form_of
from services.registration.usecases import sessions
from services.registration.usecases.sessions import TokenSignIn
from shared import handoff
from shared.errors import TooManyRequests
from shared.service import runtime_of

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Next = Annotated[str, Query(max_length=512)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path of this site, never another site (``//evil``, a scheme)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


@router.get("/console/sign-in")
async def sign_in_page(request: Request, next: Next = "/console") -> Response:
    if await current_session(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    signed_out = request.query_params.get("signed_out") == "1"
    return render(request, "sign_in.html", next=safe_next(next), request_signed_out=signed_out)


@router.post("/console/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the token under the limit on wrong tokens; a right one starts a session and goes on to ``next``."""
    form = await form_of(request)
    target = safe_next(form.get("next"))
    try:
        await guard.check_bearer(request)
    except TooManyRequests as exc:
        return render(request, "sign_in.html", 429, next=target, error="too_many", retry_after=exc.retry_after_s)
    token_sign_in = providers(request)["token"]
    assert isinstance(token_sign_in, TokenSignIn)
    db = runtime_of(request).db
    async with db.acquire() as conn:
        credential = await token_sign_in.sign_in(conn, form.get("token", ""))
    if credential is None:
        await guard.bearer_failed(request)
        error = "empty" if not form.get("token", "").strip() else "unknown"
        return render(request, "sign_in.html", 401 if error == "unknown" else 400, next=target, error=error)
    cookie = await sessions.start(db, credential)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, cookie)
    return response


@router.get("/console/sign-in/link/{link_id}")
async def sign_in_link(
    link_id: uuid.UUID, request: Request, code: Annotated[str, Query(max_length=128)] = ""
) -> Response:
    """A one-time sign-in link: used now, it starts a session and goes to the console (its code leaves the
    address bar). A wrong, used or expired link shows the sign-in form, saying so; wrong links count like
    wrong tokens."""
    await guard.check_bearer(request)
    db = runtime_of(request).db
    credential = await sessions.use_sign_in_link(db, providers(request), link_id, code)
    if credential is None:
        await guard.bearer_failed(request)
        return render(request, "sign_in.html", 401, next="/console", error="link")
    cookie = await sessions.start(db, credential)
    response = RedirectResponse("/console", status_code=303)
    set_session_cookie(request, response, cookie)
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session at once; the browser goes to the sign-in page, saying it is signed out."""
    await sessions.end(runtime_of(request).db, request.cookies.get(COOKIE))
    response = RedirectResponse("/console/sign-in?signed_out=1", status_code=303)
    clear_session_cookie(request, response)
    # Reporting's dashboards cookie, where reporting shares this host name (elsewhere it lasts out its hour,
    # and only while the access key still works).
    response.delete_cookie(handoff.COOKIE, path=handoff.COOKIE_PATH, httponly=True, samesite="lax")
    return response
