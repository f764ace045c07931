"""CSRF protection of the participant pages' forms: a signed double-submit token.

The browser holds a random nonce in the ``fmf_csrf`` cookie (HttpOnly, SameSite=Lax); every form carries
``csrf_token`` = HMAC-SHA256(key, nonce). A post is accepted only when the form's token is the HMAC of the
cookie's nonce: another site can make a browser post, but can neither read the cookie nor forge the token.
The key is ``FMF_CSRF_SECRET``, or, unset (``make up``, tests), a random one per process.

No library fitted: starlette-csrf and fastapi-csrf-protect expect the token in a header (JavaScript), and
asgi-csrf reads every request body before the route, the JSON API's included.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from fastapi import Request, Response

from services.registration.settings import get_settings

COOKIE = "fmf_csrf"
FIELD = "csrf_token"


class CsrfRefused(Exception):
    """A form post without a valid token: nothing is done, the page says to reload."""


@lru_cache
def _key() -> bytes:
    secret = get_settings().csrf_secret
    return secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)


def token_for(nonce: str) -> str:
    """The form token of a cookie nonce (URL-safe base64 of the HMAC)."""
    digest = hmac.new(_key(), f"fmf-csrf:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def form_token(request: Request) -> str:
    """The token for the forms of the page being made; a new nonce (set on the response by
    ``set_cookie``) when the browser has none yet."""
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
        request.state.csrf_new_nonce = nonce
    request.state.csrf_nonce = nonce
    return token_for(nonce)


def set_cookie(request: Request, response: Response) -> None:
    """Send the nonce cookie when ``form_token`` made a new one for this page."""
    nonce = getattr(request.state, "csrf_new_nonce", None)
    if nonce:
        response.set_cookie(
            COOKIE, nonce, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
        )


def check(request: Request, form: dict[str, str]) -> None:
    """Raise ``CsrfRefused`` unless the form's ``csrf_token`` signs the cookie's nonce."""
    nonce = request.cookies.get(COOKIE)
    given = form.get(FIELD, "")
    if not nonce or not given or not hmac.compare_digest(given.encode(), token_for(nonce).encode()):
        raise CsrfRefused
