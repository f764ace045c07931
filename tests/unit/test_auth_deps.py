"""The shared auth dependencies alone (no database: a stand-in pool answers the token look-up)."""

# No ``from __future__ import annotations``: the routes below are local, and FastAPI reads their
# ``Annotated`` parameters at run time.
import contextlib
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from pydantic import SecretStr

from shared.auth import Principal, hash_token
from shared.auth_deps import bearer_auth
from shared.errors import NotFound

TENANT = uuid.uuid4()
COORDINATOR = "coordinator-token-0123456789"


class _Conn:
    async def fetchval(self, sql: str, token_hash: str) -> uuid.UUID | None:
        return TENANT if token_hash == hash_token(COORDINATOR) else None


class _Pool:
    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Conn]:
        yield _Conn()


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _app(**hooks: Any) -> tuple[FastAPI, list[str]]:
    calls: list[str] = []

    async def before(request: Request) -> None:
        calls.append("check")

    async def failed(request: Request) -> None:
        calls.append("failed")

    auth = bearer_auth(before_lookup=before, on_unknown=failed, **hooks)
    app = FastAPI()
    app.state.runtime = SimpleNamespace(db=_Pool(), settings=SimpleNamespace(operator_token=SecretStr("op-secret")))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get("/optional")
    async def optional(who: Annotated[Principal | None, Depends(auth.optional)]) -> dict[str, Any]:
        return {"who": who and who.role}

    @app.get("/required")
    async def required(who: Annotated[Principal, Depends(auth.required)]) -> dict[str, Any]:
        return {"who": who.role, "tenant": str(who.tenant_id)}

    @app.get("/operator")
    async def operator(who: Annotated[Principal, Depends(auth.operator)]) -> dict[str, Any]:
        return {"who": who.role}

    return app, calls


async def test_no_token_is_nobody_and_a_401_where_someone_is_required() -> None:
    app, calls = _app()
    async with _client(app) as http:
        assert (await http.get("/optional")).json() == {"who": None}
        answer = await http.get("/required")
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert (await http.get("/operator")).status_code == 401
    assert calls == []  # nothing to look up, nothing counted


async def test_tokens_resolve_to_the_operator_and_a_coordinator() -> None:
    app, calls = _app()
    async with _client(app) as http:
        operator = await http.get("/operator", headers={"Authorization": "Bearer op-secret"})
        assert operator.json() == {"who": "operator"}
        coordinator = (await http.get("/required", headers={"Authorization": f"Bearer {COORDINATOR}"})).json()
        assert coordinator == {"who": "coordinator", "tenant": str(TENANT)}
        # A coordinator is not told that an operator route exists.
        assert (await http.get("/operator", headers={"Authorization": f"Bearer {COORDINATOR}"})).status_code == 404
    assert calls == ["check", "check", "check"]


async def test_an_unknown_token_is_a_401_and_counted_unless_the_tolerated_header_comes_with_it() -> None:
    app, calls = _app(unknown_detail="unknown token", tolerated_header="x-manage-token")
    async with _client(app) as http:
        wrong = {"Authorization": "Bearer not-a-token-at-all"}
        answer = await http.get("/optional", headers=wrong)
        assert answer.status_code == 401 and answer.json()["detail"] == "unknown token"
        assert answer.headers["www-authenticate"] == "Bearer"
        assert (await http.get("/optional", headers={**wrong, "X-Manage-Token": "x"})).json() == {"who": None}
    assert calls == ["check", "failed", "check", "failed"]


async def test_without_a_detail_of_its_own_an_unknown_token_gets_the_general_401() -> None:
    app, _ = _app()
    async with _client(app) as http:
        answer = await http.get("/required", headers={"Authorization": "Bearer not-a-token-at-all"})
        assert answer.status_code == 401
        assert answer.json()["detail"] == "Send 'Authorization: Bearer <token>' with a valid token."
