"""HTTP plumbing shared by every service: RFC 9457 problem responses, health, readiness, metrics."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logs, metrics
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    422: "Unprocessable content",
    503: "Service unavailable",
}


def problem(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


_MEETING_IN_PATH = re.compile(r"/meetings/([0-9a-fA-F-]{36})")


class RequestContext:
    """ASGI middleware: every log line of a request carries its correlation id (taken from the
    X-Correlation-Id header or made up, and sent back), and the meeting id when the path has one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        logs.clear()
        headers = dict(scope.get("headers") or [])
        correlation = headers.get(b"x-correlation-id", b"").decode(errors="replace")[:64] or str(uuid.uuid4())
        logs.bind(correlation_id=correlation)
        if match := _MEETING_IN_PATH.search(scope.get("path", "")):
            logs.bind(meeting_id=match.group(1))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-correlation-id", correlation.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(tuple(e["loc"])), "message": e["msg"].removeprefix("Value error, ")} for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid request."
        return problem(422, detail, errors=errors)

    for error_type in (NotFound, Conflict, Unprocessable, Forbidden):

        @app.exception_handler(error_type)
        async def app_error(_: Request, exc: Exception) -> JSONResponse:
            return problem(getattr(exc, "status", 400), str(exc))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "An internal error occurred; it has been logged.")


class Problem(BaseModel):
    """RFC 9457 problem details; ``detail`` says what to fix."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document tell the truth: every 4xx/5xx answer is application/problem+json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema()
        problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for code in ("401", "404", "409", "422"):
                    responses.setdefault(code, {"description": _TITLES[int(code)]})
                for code, response in responses.items():
                    if code[0] in "45":
                        response["content"] = problem_content
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        runtime = request.app.state.runtime
        checks = {"database": await _check_database(runtime), "broker": await _check_broker(runtime)}
        ok = all(v == "ok" for v in checks.values())
        if ok:
            return JSONResponse({"status": "ready", "checks": checks})
        return problem(
            503, "Not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok"), checks=checks
        )

    @router.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _check_database(runtime: Any) -> str:
    if runtime.pool is None:
        return "starting"
    try:
        async with asyncio.timeout(2):
            async with runtime.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


async def _check_broker(runtime: Any) -> str:
    try:
        return "ok" if await runtime.broker.ping(timeout=2.0) else "unreachable"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
