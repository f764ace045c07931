"""The participant pages as the tests drive them without a browser: the CSRF token of a page's forms, and a
form posted the way a browser posts it (the page fetched first, so the cookie and token match)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = _TOKEN.search(html)
    assert found, "the page has no form with a csrf_token"
    return found.group(1)


async def submit(
    http: httpx.AsyncClient, page_url: str, action_url: str, data: dict[str, Any] | list[tuple[str, str]]
) -> httpx.Response:
    """Open ``page_url`` (for the cookie and token), then post ``data`` with its token to ``action_url``."""
    page = await http.get(page_url)
    assert page.status_code == 200, page.text
    fields = list(data.items()) if isinstance(data, dict) else list(data)
    body = urlencode([*fields, ("csrf_token", csrf_of(page.text))])
    return await http.post(action_url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
