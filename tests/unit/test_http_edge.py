"""The HTTP edge in process: the client address behind trusted proxies, how uvicorn is started, and the
redaction of secrets from log lines. (The running services are tested in tests/e2e/test_http_edge.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request

from shared import logs, service
from shared.http import client_address
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

router = APIRouter()


@router.get("/v1/whoami")
async def whoami(request: Request) -> dict[str, str]:
    return {"client": client_address(request)}


SPEC = ServiceSpec(name="registration", migrations=Path("services/registration/migrations"), router=router)


async def seen_client(trusted_proxies: str, peer: str, forwarded_for: str | None) -> str:
    app = create_app(SPEC, Settings(trusted_proxies=trusted_proxies))
    transport = httpx.ASGITransport(app=app, client=(peer, 40_000))
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return str((await http.get("/v1/whoami", headers=headers)).json()["client"])


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "expected"),
    [
        ("", "127.0.0.1", "203.0.113.7", "127.0.0.1"),  # default: nobody is trusted, not even localhost
        ("", "10.1.2.3", None, "10.1.2.3"),
        ("10.0.0.0/8", "10.1.2.3", "203.0.113.7", "203.0.113.7"),  # a trusted proxy names the client
        ("10.0.0.0/8, 192.0.2.1", "192.0.2.1", "198.51.100.4, 10.9.9.9", "198.51.100.4"),
        ("10.0.0.0/8", "198.51.100.9", "203.0.113.7", "198.51.100.9"),  # an untrusted peer cannot pretend
    ],
)
async def test_client_address_believes_x_forwarded_for_from_trusted_proxies_only(
    trusted: str, peer: str, forwarded_for: str | None, expected: str
) -> None:
    assert await seen_client(trusted, peer, forwarded_for) == expected


def test_uvicorn_runs_without_its_access_log_and_its_own_proxy_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    service.serve(SPEC)
    assert seen["access_log"] is False  # it writes the query string, where a manage link has its token
    assert seen["proxy_headers"] is False  # it would trust X-Forwarded-For from 127.0.0.1


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('127.0.0.1:5000 - "GET /manage/4f2a?token=s3cr3t-T0ken HTTP/1.1" 200', "s3cr3t-T0ken"),
        ("HTTP Request: GET http://x/v1/report?from=2026-01-01&token=abc123 200", "abc123"),
        ("headers: {'authorization': 'Bearer eyJhbGciOi.J9.x-y_z'}", "eyJhbGciOi.J9.x-y_z"),
        ("X-Manage-Token: Zm9vYmFy", "Zm9vYmFy"),
    ],
)
def test_secrets_are_redacted_from_log_lines(line: str, secret: str) -> None:
    assert secret not in logs.redact(line)
    assert "[redacted]" in logs.redact(line)


def test_plain_log_lines_are_left_alone() -> None:
    assert logs.redact("created topics for tenant 42") == "created topics for tenant 42"


def test_faststream_logs_json_lines_through_ours_without_colours(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 17, kind 8: FastStream's coloured plain-text lines sat between the JSON lines."""
    import json
    import logging

    from faststream._internal.context import ContextRepo

    logs.configure("test", "INFO", json_logs=True)
    broker = service.make_broker(Settings(), "test")
    broker.config.logger._setup(ContextRepo())
    broker.config.logger.log("broker line", logging.WARNING)
    logging.getLogger("faststream").warning("faststream line")
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    assert len(lines) == 2, lines
    for line in lines:
        assert "\x1b[" not in line
        assert json.loads(line)["service"] == "test"


def test_a_refused_link_says_which_refusal_in_norwegian_too() -> None:
    """Issue 17, kind 7: every 409 link read "Lenken er brukt eller utløpt", even when sign-up had closed."""
    from services.registration.pages.participant import link_problem

    closed = link_problem(409, "registration closed at 2027-03-01T09:00:00+00:00: sign-up is over")
    used = link_problem(409, "this sign-up is confirmed already; the link to your place is in the message")
    expired = link_problem(409, "this confirmation link has expired; please sign up again")
    assert (closed, used, expired) == ("closed", "confirmed_already", "signup_expired")
    assert link_problem(404, "no such link") == "not_found" and link_problem(429, "slow down") == "too_many"
