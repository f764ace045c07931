"""The console as the tests drive it without a browser: a client signed in with a token (the sign-in form
posted as a browser posts it), and a console form posted with its page's CSRF token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.pages_support import submit


@contextlib.asynccontextmanager
async def console_client(root: str, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on ``root`` (the registration service's base URL) signed in to the console with
    ``token`` (a coordinator's or the operator's); it fails the test when the sign-in does not work."""
    async with httpx.AsyncClient(base_url=root, timeout=30) as http:
        signed = await submit(http, "/console/sign-in", "/console/sign-in", {"token": token, "next": "/console"})
        assert signed.status_code == 303, signed.text
        assert "fmf_session" in http.cookies
        yield http


async def post_form(http: httpx.AsyncClient, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    """Open the console page ``page``, then post ``data`` with its CSRF token to ``action``."""
    return await submit(http, page, action, data)
