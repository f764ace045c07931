"""HTTP plumbing shared by every service: RFC 9457 problem responses, health, readiness, metrics, and the
edge every request passes: body size limit, protective headers, access log, the client address and the API
docs."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logs, metrics
from shared.db import CONNECTION_ERRORS, close_now, is_connection_error
from shared.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unprocessable

log = logging.getLogger(__name__)
access_log = logging.getLogger("fmf.access")

PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Unprocessable content",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM, headers=headers)


DEFAULT_RETRY_AFTER_S = 5  # when the app has no settings to say otherwise (FMF_DB_RETRY_AFTER_S)


def retry_after_s(request: Request) -> int:
    """Seconds a client should wait before trying again while the database is unavailable: the service's
    ``db_retry_after_s`` setting (``FMF_DB_RETRY_AFTER_S``), else ``DEFAULT_RETRY_AFTER_S``."""
    settings = getattr(getattr(request.app.state, "runtime", None), "settings", None)
    return int(getattr(settings, "db_retry_after_s", DEFAULT_RETRY_AFTER_S))


def database_unavailable(retry_after: int) -> JSONResponse:
    """The answer while the database cannot be reached: 503 problem+json with ``Retry-After`` (seconds)."""
    return problem(
        503,
        "The service is temporarily unavailable because it cannot reach its database; "
        f"please retry in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )


def log_database_unavailable(request: Request, exc: BaseException) -> None:
    """One warning line per request answered 503 for a database outage (the error's type, never its text)."""
    log.warning(
        "database unavailable; answered 503",
        extra={"path": request.url.path, "error_type": type(exc).__name__},
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


_MEETING_IN_PATH = re.compile(r"/meetings/([0-9a-fA-F-]{36})")


_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: no access log line


class RequestContext:
    """ASGI middleware: every log line of a request carries its correlation id (taken from the
    X-Correlation-Id header or made up, and sent back), and the meeting id when the path has one.

    It also writes the access log line (uvicorn's own is off): method, path, status and duration. Never
    the query string (a manage link carries its token there) and never a header."""

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

        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-correlation-id", correlation.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope.get("path") not in _QUIET_PATHS:
                access_log.info(
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )


class BodySizeLimit:
    """ASGI middleware: a request body larger than ``max_bytes`` is answered 413 and never read.

    A Content-Length over the limit is refused before a byte of the body is received; a body without one
    (chunked) is counted as it streams in, and reading stops at the first chunk past the limit. The answer
    closes the connection, so that the client stops sending."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers") or []:
            if name == b"content-length" and value.strip().isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        received = 0
        too_large = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if too_large:  # whatever the app makes of the broken-off body, the answer is 413
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not response_started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            f"The request body is larger than {self.max_bytes} bytes; send at most {self.max_bytes} bytes.",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RefuseControlCharacters:
    """ASGI middleware: a path or query string holding a control character (``%00``, ``%0d`` ...) is answered
    400 before any route sees it. No slug, id or parameter of ours contains one, and PostgreSQL refuses NUL
    in text, which would otherwise surface as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = unquote(scope.get("query_string", b"").decode("latin-1"))
            if _CONTROL.search(scope.get("path", "")) or _CONTROL.search(query):
                response = problem(400, "The address holds a control character (such as %00); remove it.")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",  # the API docs fetch /openapi.json and try requests out
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)


class SecurityHeaders:
    """ASGI middleware: the protective headers of every response. A strict Content-Security-Policy (no
    inline script or style: pages take theirs from /static), no referrer (a manage link carries its token
    in the query), no MIME sniffing, and no caching of HTML pages, which show personal data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                # HTML pages and calendar files show personal data (and links that carry tokens).
                if headers.get("content-type", "").startswith(("text/html", "text/calendar")):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def client_address(request: Request) -> str:
    """The address of the client that sent the request: the direct peer, or, when that peer is one of
    the trusted proxies (``FMF_TRUSTED_PROXIES``), the client the proxy names in X-Forwarded-For (the
    service's ProxyHeadersMiddleware has put it into the request's scope already)."""
    return request.client.host if request.client else "unknown"


def install_problem_handlers(app: FastAPI) -> None:
    # Starlette's own HTTPException (its 404 for an unknown path, 405 for a wrong method) is the base of
    # FastAPI's, so this one handler answers both as problem+json.
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, _http_detail(request, exc), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        if invalid_json := [e for e in exc.errors() if e.get("type") == "json_invalid"]:
            return problem(400, _json_detail(invalid_json[0], exc.body))
        errors = [
            {"field": _field(tuple(e["loc"])), "message": e["msg"].removeprefix("Value error, ")} for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid request."
        return problem(422, detail, errors=errors)

    for error_type in (NotFound, Conflict, Unprocessable, Forbidden):

        @app.exception_handler(error_type)
        async def app_error(_: Request, exc: Exception) -> JSONResponse:
            return problem(getattr(exc, "status", 400), str(exc))

    @app.exception_handler(TooManyRequests)
    async def too_many_requests(_: Request, exc: TooManyRequests) -> JSONResponse:
        return problem(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)})

    # A database outage is a 503 with Retry-After wherever it surfaces: in a route, a dependency (auth), the
    # abuse limits. These handlers run inside the middlewares (the access log and the protective headers see
    # the 503); the catch-all below also answers 503 for one raised in a middleware.
    for connection_error_type in CONNECTION_ERRORS:

        @app.exception_handler(connection_error_type)
        async def connection_error(request: Request, exc: Exception) -> JSONResponse:
            if is_connection_error(exc):
                log_database_unavailable(request, exc)
                return database_unavailable(retry_after_s(request))
            log.exception("unhandled error")
            return problem(500, "An internal error occurred; it has been logged.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_connection_error(exc):
            log_database_unavailable(request, exc)
            return database_unavailable(retry_after_s(request))
        log.exception("unhandled error")
        return problem(500, "An internal error occurred; it has been logged.")


def _http_detail(request: Request, exc: HTTPException) -> str:
    """Starlette's own errors carry only the status phrase; say what was wrong instead."""
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"There is nothing at {request.url.path}; the API's routes are listed at /docs."
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{request.method} is not allowed on {request.url.path}; use {allowed or 'another method'}."
    return str(exc.detail)


def _json_detail(error: dict[str, Any], body: Any) -> str:
    """Where the body stops being JSON, as line and column (FastAPI reports the character offset)."""
    reason = (error.get("ctx") or {}).get("error", "JSON decode error")
    loc = error.get("loc") or ()
    offset = loc[-1] if loc and isinstance(loc[-1], int) else None
    if offset is None:
        return f"The request body is not valid JSON: {reason}."
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"The request body is not valid JSON: {reason} at line {line}, column {column} (character {offset})."


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
                for code in ("401", "404", "409", "422", "429"):
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
        database, broker = await asyncio.gather(_check_database(runtime), _check_broker(runtime))
        checks = {"database": database, "broker": broker}
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


READY_CHECK_S = 2.0  # longest a readiness check waits for the database, seconds (probes time out soon)


async def _check_database(runtime: Any) -> str:
    """Whether the database answers: "ok", or why not. Within ``READY_CHECK_S`` seconds (or the acquire
    timeout, if shorter) however the database fails: a connection that does not answer is closed rather
    than waited for."""
    if runtime.pool is None:
        return "starting"
    budget = min(READY_CHECK_S, float(getattr(runtime.settings, "db_acquire_timeout_s", READY_CHECK_S)))
    try:
        async with asyncio.timeout(budget):
            conn = await runtime.pool.acquire(timeout=budget)
            try:
                await conn.fetchval("SELECT 1")
            except BaseException:
                close_now(conn)  # released at once, without waiting for the server to acknowledge a cancel
                raise
            finally:
                await runtime.pool.release(conn)
        return "ok"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


async def _check_broker(runtime: Any) -> str:
    try:
        return "ok" if await runtime.broker.ping(timeout=2.0) else "unreachable"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


SHARED_STATIC = Path(__file__).with_name("static")


def mount_static(app: FastAPI, service_static: Path | None = None) -> None:
    """``/static/...``: the service's own stylesheets (``services/<name>/static``) and the shared files
    (``shared/static``); ``/static/swagger-ui/...``: Swagger UI, shipped by the fastapi-offline package,
    so that the API docs need no CDN."""
    swagger_ui = Path(str(resources.files("fastapi_offline") / "static"))
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui), name="swagger-ui")
    directory = service_static if service_static is not None and service_static.is_dir() else None
    app.mount("/static", StaticFiles(directory=directory, packages=[("shared", "static")]), name="static")


def docs_router(title: str, openapi_url: str = "/openapi.json") -> APIRouter:
    """``/docs``: Swagger UI from this service's own /static, started by a script file rather than an inline
    one, so that it works offline and under the Content-Security-Policy."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs", response_class=HTMLResponse)
    async def docs(request: Request) -> HTMLResponse:
        root = html.escape(request.scope.get("root_path", ""), quote=True)
        page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — API</title>
<link rel="icon" href="{root}/static/swagger-ui/favicon.png">
<link rel="stylesheet" href="{root}/static/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{root}{html.escape(openapi_url, quote=True)}"></div>
<script src="{root}/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{root}/static/swagger-init.js"></script>
</body>
</html>
"""
        return HTMLResponse(page)

    return router
