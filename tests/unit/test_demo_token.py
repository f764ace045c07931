"""Issue 17, kind 4: ``make up`` keeps one demo coordinator token across restarts instead of issuing
another each time while the old ones stay valid."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from deploy.local.runner import demo_coordinator_token

OPERATOR = "Bearer operator"


class FakeRegistration:
    """The operator routes of registration that the runner uses, with a token table."""

    def __init__(self) -> None:
        self.valid: dict[str, str] = {}  # token_id -> token
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        auth, path = request.headers.get("authorization"), request.url.path
        if request.method == "POST" and path == "/v1/tenants":
            return httpx.Response(409 if self.issued else 201, json={})
        if request.method == "POST" and path == "/v1/tenants/demo/tokens" and auth == OPERATOR:
            self.issued += 1
            token_id, token = str(uuid.uuid4()), f"token-{self.issued}"
            self.valid[token_id] = token
            return httpx.Response(201, json={"token_id": token_id, "token": token})
        if request.method == "GET" and path == "/v1/tenants/demo/meetings":
            return httpx.Response(200 if auth and auth.removeprefix("Bearer ") in self.valid.values() else 401)
        if request.method == "DELETE" and path.startswith("/v1/tenants/demo/tokens/") and auth == OPERATOR:
            return httpx.Response(204 if self.valid.pop(path.rsplit("/", 1)[1], None) else 404)
        return httpx.Response(404)


def restart(service: FakeRegistration, kept: Path) -> str:
    with httpx.Client(
        transport=httpx.MockTransport(service), base_url="http://registration", headers={"Authorization": OPERATOR}
    ) as client:
        return demo_coordinator_token(client, "http://registration/v1", kept)


def test_restarts_reuse_the_one_demo_token(tmp_path: Path) -> None:
    service, kept = FakeRegistration(), tmp_path / "demo-coordinator-token"
    first = restart(service, kept)
    assert restart(service, kept) == first and restart(service, kept) == first
    assert service.issued == 1 and list(service.valid.values()) == [first]
    assert kept.stat().st_mode & 0o077 == 0  # only the owner reads it


def test_a_kept_token_that_stopped_working_is_revoked_and_replaced(tmp_path: Path) -> None:
    service, kept = FakeRegistration(), tmp_path / "demo-coordinator-token"
    first = restart(service, kept)
    service.valid.clear()  # revoked by the operator, or a fresh database
    second = restart(service, kept)
    assert second != first and list(service.valid.values()) == [second]
    assert json.loads(kept.read_text())["token"] == second


class FakePlatform(FakeRegistration):
    """Enough of registration for ``fmf demo``; closing the meeting can fail, to show that the token goes
    anyway."""

    def __init__(self, close_status: int = 200) -> None:
        super().__init__()
        self.close_status = close_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, auth = request.url.path, request.headers.get("authorization", "")
        coordinator = auth.removeprefix("Bearer ") in self.valid.values()
        if path.startswith("/v1/meetings/") or (path == "/v1/tenants/demo/meetings" and request.method == "POST"):
            if not coordinator:
                return httpx.Response(401)
            if path == "/v1/tenants/demo/meetings":
                return httpx.Response(201, json={"id": "m1"})
            if path.endswith("/registrations"):
                return httpx.Response(201, json={"status": "confirmed"})
            if path.endswith("/seating"):
                return httpx.Response(200, json={"version": 1, "pairs": []})
            if path.endswith("/close"):
                return httpx.Response(self.close_status, json={})
            return httpx.Response(200, json={})
        return super().__call__(request)


def test_a_demo_run_revokes_its_token_however_it_ends() -> None:
    from deploy.demo import run_demo

    for close_status, fails in ((200, False), (500, True)):
        service = FakePlatform(close_status)
        with httpx.Client(
            transport=httpx.MockTransport(service),
            base_url="http://registration/v1",
            headers={"Authorization": OPERATOR},
        ) as client:
            try:
                run_demo(client, "demo", 1, echo=lambda _: None)
            except (httpx.HTTPStatusError, RuntimeError):
                assert fails
            else:
                assert not fails
        assert service.issued == 1 and service.valid == {}, close_status
