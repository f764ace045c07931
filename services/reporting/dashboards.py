"""Who is looking at a dashboard, and in which language: a bearer header (as every route of this service), the
console's one-time grant, or the dashboards' own cookie that grant is exchanged for.

The console (registration) sends a signed-in coordinator or the operator here with ``?access=<grant>``
(``shared/handoff.py``: signed with a key both services derive from the operator token, valid a minute). The
grant is checked, noted as used (a second use is refused), and exchanged for a cookie (HttpOnly,
SameSite=Lax, Secure unless ``FMF_CONSOLE_COOKIE_SECURE`` is off, valid ``handoff.COOKIE_TTL_S``) holding a
grant of its own; the answer is a 303 to the same address without ``access``, so the grant leaves the address
bar and the browser's history. A grant or cookie that does not hold is a 401 page, not JSON.

The page's language: ``?lang=`` (nb, nn, en), else the grant's (the console page's language), else
Accept-Language, else nb.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.reporting import pages, store
from services.reporting.settings import ReportingSettings
from shared import handoff, i18n, tenancy_store
from shared.auth import Principal, hash_token
from shared.auth_deps import bearer_auth
from shared.service import Runtime

COOKIE = handoff.COOKIE
COOKIE_PATH = handoff.COOKIE_PATH
_bearer = bearer_auth()


@dataclass(frozen=True)
class Viewer:
    """Who looks (``principal``), in which ``language``, and whether through the cookie (a browser: refusals
    are pages) or a bearer header (a program: refusals stay problem+json)."""

    principal: Principal
    language: str
    by_cookie: bool


def _settings(runtime: Runtime) -> ReportingSettings:
    settings = runtime.settings
    assert isinstance(settings, ReportingSettings)
    return settings


def _key(runtime: Runtime) -> bytes | None:
    token = _settings(runtime).operator_token.get_secret_value()
    return handoff.key_of(token) if token else None


def page_language(request: Request, asked: str | None, granted: str | None = None) -> str:
    """``asked`` (``?lang=``) when it is one of the catalogues, else ``granted`` (the grant's), else the
    browser's Accept-Language, else nb."""
    available = i18n.catalogues().languages
    return i18n.choose(asked, granted, request.headers.get("accept-language"), available)


def problem(status: int, language: str) -> HTMLResponse:
    """The dashboards' 401 page (sign in again from the console) or 404 page, in ``language``."""
    headers = {"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"} if status == 401 else None
    return HTMLResponse(pages.problem_page(status, language), status_code=status, headers=headers)


async def _key_holds(runtime: Runtime, value: handoff.Grant) -> bool:
    """Whether the access key the grant was made for still works: the operator token's hash for the
    operator; for a coordinator, an unrevoked token of their tenant, which is active (reporting's copy of
    the tokens and tenants, ``shared.tenancy_store``). A grant without a key's hash does not hold."""
    if not value.credential:
        return False
    if value.is_operator:
        token = _settings(runtime).operator_token.get_secret_value()
        return bool(token) and hmac.compare_digest(value.credential.encode(), hash_token(token).encode())
    async with runtime.db.acquire() as conn:
        tenant_id = await tenancy_store.tenant_of_active_token(conn, value.credential)
    return tenant_id is not None and str(tenant_id) == value.tenant_id


def _principal(value: handoff.Grant) -> Principal:
    tenant = uuid.UUID(value.tenant_id) if value.tenant_id else None
    return Principal(value.role, tenant)


def _without(request: Request, names: tuple[str, ...]) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in names]
    return request.url.path + (f"?{urlencode(query)}" if query else "")


def switch(request: Request) -> dict[str, str]:
    """{language: this page's address in it} for the language switch (its other parameters kept)."""
    base = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "access")]
    order = sorted(i18n.catalogues().languages, key=lambda code: ({"nb": 0, "nn": 1}.get(code, 2), code))
    return {code: f"{request.url.path}?{urlencode([*base, ('lang', code)])}" for code in order}


async def viewer(request: Request, runtime: Runtime, access: str | None, lang: str | None) -> Viewer | Response:
    """Who looks at a dashboard, or the answer to give instead: the 303 that exchanges a valid grant for the
    cookie, or the 401 page (a grant used, expired or tampered with; an expired or forged cookie; nothing at
    all). A bearer header is checked as on every route (an unknown token: 401 problem+json)."""
    now = time.time()
    key = _key(runtime)
    if access is not None:
        try:
            if key is None:
                raise handoff.HandoffRefused("no key")
            value = handoff.verify(key, access, "access", now)
        except handoff.HandoffRefused:
            return problem(401, page_language(request, lang))
        async with runtime.db.acquire() as conn:
            first_use = await store.use_handoff(conn, value.nonce, datetime.fromtimestamp(value.expires, UTC))
        if not first_use or not await _key_holds(runtime, value):
            return problem(401, page_language(request, lang, value.language))
        session = handoff.grant(
            value.role,
            value.tenant_id,
            value.tenant_slug,
            value.language,
            "cookie",
            now,
            handoff.COOKIE_TTL_S,
            credential=value.credential,
        )
        response = RedirectResponse(
            _without(request, ("access",)), status_code=303, headers={"Cache-Control": "no-store"}
        )
        response.set_cookie(
            COOKIE,
            handoff.sign(key, session),
            max_age=handoff.COOKIE_TTL_S,
            httponly=True,
            samesite="lax",
            secure=_settings(runtime).console_cookie_secure,
            path=COOKIE_PATH,
        )
        return response
    principal = await _bearer.optional(request)
    if principal is not None:
        return Viewer(principal, page_language(request, lang), by_cookie=False)
    cookie = request.cookies.get(COOKIE)
    if cookie and key is not None:
        try:
            value = handoff.verify(key, cookie, "cookie", now)
        except handoff.HandoffRefused:
            return problem(401, page_language(request, lang))
        if not await _key_holds(runtime, value):
            return problem(401, page_language(request, lang, value.language))
        return Viewer(_principal(value), page_language(request, lang, value.language), by_cookie=True)
    return problem(401, page_language(request, lang))
