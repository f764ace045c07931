"""The HTTP edge of the running services: problem+json for every error, bodies over the limit refused
unread, the protective headers on every page, the API docs from the service itself, and no token or
query string in any log line."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from deploy.local.platform import SERVICES, PlatformConfig
from tests.factories import meeting_body, person_body
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = 65_536  # FMF_MAX_BODY_BYTES's default


class _Assets(HTMLParser):
    """The scripts and stylesheets a page loads, and whether it has inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes or any(name.startswith("on") for name in attributes):
            self.inline.append(f"<{tag} {attrs}>")
        if tag == "script":
            if attributes.get("src"):
                self.urls.append(str(attributes["src"]))
            else:
                self._in = "script"
        elif tag == "style":
            self._in = "style"
        elif tag == "link" and attributes.get("href"):
            self.urls.append(str(attributes["href"]))

    def handle_data(self, data: str) -> None:
        if self._in and data.strip():
            self.inline.append(f"<{self._in}>{data[:60]}")

    def handle_endtag(self, tag: str) -> None:
        self._in = None


async def assert_page(http: httpx.AsyncClient, base: str, response: httpx.Response) -> None:
    """An HTML page under the strict policy: its headers, no inline script or style, and every file it
    loads comes from the service itself and is served."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assets = _Assets()
    assets.feed(response.text)
    assert assets.inline == []
    assert assets.urls, "the page loads its stylesheet"
    for url in assets.urls:
        assert not urlsplit(url).netloc and url.startswith("/"), f"{url} is not from the service itself"
        asset = await http.get(base + url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"


async def test_errors_are_problem_json(platform: PlatformConfig) -> None:
    base = platform.url("registration")
    async with httpx.AsyncClient(timeout=10) as http:
        missing = await http.get(base + "/v1/no-such-thing")
        wrong_method = await http.put(base + "/v1/tenants")
        broken = await http.post(
            base + "/v1/tenants",
            headers={"Authorization": f"Bearer {platform.operator_token}", "content-type": "application/json"},
            content=b'{"slug": "x",\n  "name": }',
        )
        too_large = await http.post(base + "/v1/tenants", content=b"x" * (LIMIT + 1))
    for response, status in ((missing, 404), (wrong_method, 405), (broken, 400), (too_large, 413)):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status and response.json()["detail"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "/v1/no-such-thing" in missing.json()["detail"]
    assert wrong_method.headers["allow"] and "PUT" in wrong_method.json()["detail"]
    assert "not valid JSON" in broken.json()["detail"] and "line 2, column 11" in broken.json()["detail"]
    assert str(LIMIT) in too_large.json()["detail"]


def _post_raw(port: int, head: bytes, body: Iterator[bytes]) -> tuple[bytes, int]:
    """Send a request over a plain socket, body chunk by chunk until the server answers or hangs up;
    return the answer and how many body bytes went out."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    answer = bytearray()
    answered = threading.Event()

    def read() -> None:
        try:
            while data := sock.recv(65_536):
                answer.extend(data)
                answered.set()
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        sock.sendall(head)
        for chunk in body:
            if answered.is_set():
                break
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:  # the server closed the connection: it will not read the rest
        pass
    reader.join(15)
    sock.close()
    return bytes(answer), sent


def _megabytes(total: int, framing: bool) -> Iterator[bytes]:
    block = b"x" * 65_536
    for _ in range(total // len(block)):
        yield b"%x\r\n%s\r\n" % (len(block), block) if framing else block


async def test_a_200_mb_body_is_refused_without_being_read(platform: PlatformConfig) -> None:
    await asyncio.to_thread(_refuse_200_mb, platform)


def _refuse_200_mb(platform: PlatformConfig) -> None:
    port = platform.ports["registration"]
    size = 200 * 1024 * 1024
    announced = (
        b"POST /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % size
    )
    answer, sent = _post_raw(port, announced, _megabytes(size, framing=False))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
    print(f"Content-Length 200 MB: answered 413 after {sent} body bytes")
    assert sent < 32 * 1024 * 1024, f"the server took {sent} bytes of a body it had refused"

    chunked = (
        b"POST /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    answer, sent = _post_raw(port, chunked, _megabytes(size, framing=True))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    print(f"chunked 200 MB: answered 413 after {sent} body bytes")
    assert sent < 32 * 1024 * 1024, f"the server read {sent} bytes of a chunked body over the limit"

    assert httpx.get(platform.url("registration") + "/healthz").status_code == 200


async def test_every_page_carries_the_protective_headers_and_the_logs_no_token(platform: PlatformConfig) -> None:
    api = platform.url("registration") + "/v1"
    operator = {"Authorization": f"Bearer {platform.operator_token}"}
    slug = f"edge-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(
            f"{api}/tenants",
            headers=operator,
            json={"slug": slug, "name": "Kantkommune", "municipality_number": f"{uuid.uuid4().int % 10_000:04d}"},
        )
        assert created.status_code == 201, created.text
        coordinator_token = (await http.post(f"{api}/tenants/{slug}/tokens", headers=operator)).json()["token"]
        coordinator = {"Authorization": f"Bearer {coordinator_token}"}
        meeting_id = (
            await http.post(f"{api}/tenants/{slug}/meetings", headers=coordinator, json=meeting_body())
        ).json()["id"]
        assert (await http.post(f"{api}/meetings/{meeting_id}/publish", headers=coordinator)).status_code == 200
        signed_up = []
        for group in ("newcomer", "resident"):
            for i in range(2):
                r = await http.post(
                    f"{api}/meetings/{meeting_id}/registrations",
                    headers=coordinator,
                    json=person_body(group, i, f"{slug}.example.no"),
                )
                assert r.status_code == 201, r.text
                signed_up.append(r.json())
        registration_id, manage_token = signed_up[0]["registration_id"], signed_up[0]["manage_token"]

        # registration: the manage page (the token in the query, as the link in every message has it)
        base = platform.url("registration")
        manage = await http.get(f"{base}/manage/{registration_id}", params={"token": manage_token})
        await assert_page(http, base, manage)

        # registration: the printable seating plan, once matching has proposed the pairs
        assert (await http.post(f"{api}/meetings/{meeting_id}/close", headers=coordinator)).status_code == 200

        async def seating_page() -> httpx.Response | None:
            r = await http.get(f"{api}/meetings/{meeting_id}/seating", params={"format": "html"}, headers=coordinator)
            return r if r.status_code == 200 else None

        await assert_page(http, base, await eventually(seating_page))

        # reporting: the national dashboard and the tenant's, once reporting has heard of the tenant
        reporting = platform.url("reporting")
        await assert_page(http, reporting, await http.get(f"{reporting}/v1/national/dashboard", headers=operator))

        async def tenant_dashboard() -> httpx.Response | None:
            r = await http.get(f"{reporting}/v1/tenants/{slug}/dashboard", headers=coordinator)
            return r if r.status_code == 200 else None

        await assert_page(http, reporting, await eventually(tenant_dashboard))

        # every service: the API docs, from its own files
        for name in SERVICES:
            docs = await http.get(platform.url(name) + "/docs")
            await assert_page(http, platform.url(name), docs)
            assert "swagger-ui-bundle.js" in docs.text and "swagger-init.js" in docs.text
            assert "cdn" not in docs.text.lower()
            assert (await http.get(platform.url(name) + "/openapi.json")).status_code == 200

        # JSON answers are not HTML pages, but never sniffed either
        meeting = await http.get(f"{api}/meetings/{meeting_id}", headers=coordinator)
        assert meeting.headers["x-content-type-options"] == "nosniff"

    # No token, no query string in any log line; the access log line is there, without its query.
    assert platform.log_dir is not None
    logs = {name: (platform.log_dir / f"{name}.log").read_text(errors="replace") for name in SERVICES}
    for name, text in logs.items():
        for secret in (manage_token, coordinator_token, platform.operator_token):
            assert secret not in text, f"{name}'s log holds a token"
        assert "?token" not in text and "token=" not in text, name
        assert not re.search(r'"path": "[^"]*\?', text), f"{name} logged a query string"
    access = [line for line in logs["registration"].splitlines() if f'"path": "/manage/{registration_id}"' in line]
    assert access and '"method": "GET"' in access[0] and '"status": 200' in access[0] and "duration_ms" in access[0]
