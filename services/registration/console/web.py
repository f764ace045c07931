"""What every console page shares: who is signed in (``Signed``, ``Coordinator``, ``OperatorSession``), the
session cookie, and the route class that sends a browser without a session to the sign-in page.

The console is built on the participant pages' machinery (``pages/web.py``): the same templates folder and
languages, the same CSRF token on every form, the same answer to a database outage. A page that is not the
signed-in person's to see (another tenant's meeting, the operator's pages to a coordinator) answers the
console's "not found" page (404), so that it does not tell whether the thing exists.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.registration.console.labels import TEMPLATE_GLOBALS
from services.registration.pages import web
from services.registration.pages.web import PageRoute
from services.registration.settings import RegistrationSettings
from services.registration.usecases import sessions
from services.registration.usecases.sessions import ConsoleSession, IdentityProvider, TokenSignIn
from shared.errors import NotFound, TooManyRequests
from shared.service import runtime_of

COOKIE = "fmf_session"
COOKIE_PATH = "/console"


class SignInNeeded(Exception):
    """The page needs a session and the browser has none (or it ended): go to the sign-in page."""


def settings_of(request: Request) -> RegistrationSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, RegistrationSettings)
    return settings


def providers(request: Request) -> dict[str, IdentityProvider]:
    """The identity providers the console accepts, by name (today only ``TokenSignIn``)."""
    token = TokenSignIn(settings_of(request).operator_token.get_secret_value())
    return {token.name: token}


async def current_session(request: Request) -> ConsoleSession | None:
    """The request's session (read once per request), or None."""
    if hasattr(request.state, "console_session"):
        found: ConsoleSession | None = request.state.console_session
        return found
    found = await sessions.resume(
        runtime_of(request).db,
        providers(request),
        request.cookies.get(COOKIE),
        settings_of(request).console_idle_timeout_s,
    )
    request.state.console_session = found
    return found


async def signed_in(request: Request) -> ConsoleSession:
    """The session; raises ``SignInNeeded`` without one."""
    found = await current_session(request)
    if found is None:
        raise SignInNeeded
    return found


async def coordinator(session: Annotated[ConsoleSession, Depends(signed_in)]) -> ConsoleSession:
    """A coordinator's session; the operator is told "not found" (raises NotFound)."""
    if session.is_operator or session.tenant is None:
        raise NotFound("a coordinator's page")
    return session


async def operator(session: Annotated[ConsoleSession, Depends(signed_in)]) -> ConsoleSession:
    """The operator's session; a coordinator is told "not found" (raises NotFound)."""
    if not session.is_operator:
        raise NotFound("the operator's page")
    return session


Signed = Annotated[ConsoleSession, Depends(signed_in)]
Coordinator = Annotated[ConsoleSession, Depends(coordinator)]
OperatorSession = Annotated[ConsoleSession, Depends(operator)]


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    """Give the browser its session: HttpOnly, SameSite=Lax, Secure unless ``FMF_CONSOLE_COOKIE_SECURE`` is
    off; a browser-session cookie (the server ends it after the idle timeout)."""
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=settings_of(request).console_cookie_secure,
        path=COOKIE_PATH,
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=settings_of(request).console_cookie_secure
    )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A console page (``templates/console/<template>``) with the session for the header and navigation."""
    return web.render(
        request,
        f"console/{template}",
        status_code,
        session=getattr(request.state, "console_session", None),
        path=request.url.path,
        **TEMPLATE_GLOBALS,
        **context,
    )


def not_found(request: Request) -> HTMLResponse:
    """The console's 404 page: nothing here for this person (absent, or another tenant's)."""
    return render(request, "not_found.html", 404)


def sign_in_redirect(request: Request) -> RedirectResponse:
    """303 to the sign-in page, which comes back here (a GET's path and query) afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/console"
    return RedirectResponse(f"/console/sign-in?{urlencode({'next': target}, quote_via=quote)}", status_code=303)


class ConsoleRoute(PageRoute):
    """A console page: as ``PageRoute`` (language switch, CSRF, outage page), and no session sends the browser
    to sign in; NotFound, wherever raised, is the console's 404 page."""

    def refused(self, request: Request, form: dict[str, str]) -> Response:
        """A console form refused for its CSRF token: nothing was done; 403 with a page that says so (never a
        redirect that would carry the form's fields, such as a typed access key, into an address)."""
        return render(request, "stale.html", 403)

    def malformed(self, request: Request) -> Response:
        """An address whose id cannot be read (``/console/meetings/abc``) names nothing: the console's "not
        found" page (404), as for an id of nothing or of another municipality's meeting."""
        return not_found(request)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                return sign_in_redirect(request)
            except NotFound:
                return not_found(request)
            except TooManyRequests as exc:
                headers = {"Retry-After": str(exc.retry_after_s)}
                response = render(request, "too_many.html", 429, retry_after=exc.retry_after_s)
                response.headers.update(headers)
                return response

        return page
