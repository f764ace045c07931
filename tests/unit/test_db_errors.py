"""Which errors mean "the database is unavailable" (shared/db.py), and how the HTTP edge answers them: 503
problem+json with Retry-After, for routes, dependencies and middlewares alike. Nothing runs."""

from __future__ import annotations

import asyncio
import errno

import asyncpg
import httpx
import pytest
from fastapi import Depends, FastAPI
from limits.errors import StorageError

from shared.db import CONNECTION_ERRORS, Timeouts, is_connection_error
from shared.http import PROBLEM, install_problem_handlers
from shared.ratelimit import AbuseLimits, PostgresStorage, Rule
from shared.settings import Settings


def pg_error(cls: type[asyncpg.PostgresError]) -> asyncpg.PostgresError:
    return cls.new({"C": cls.sqlstate, "M": "from the server", "S": "FATAL"})


OUTAGES = [
    ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 5432)"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed, [Errno 99] Cannot assign requested address"),
    ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    FileNotFoundError(errno.ENOENT, "No such file or directory: '/tmp/.s.PGSQL.5432'"),
    TimeoutError(),  # asyncio.TimeoutError is the same class since Python 3.11
    pg_error(asyncpg.CannotConnectNowError),
    pg_error(asyncpg.exceptions.AdminShutdownError),
    pg_error(asyncpg.exceptions.CrashShutdownError),
    pg_error(asyncpg.exceptions.OperatorInterventionError),
    pg_error(asyncpg.QueryCanceledError),
    pg_error(asyncpg.PostgresConnectionError),
    pg_error(asyncpg.ConnectionDoesNotExistError),
    pg_error(asyncpg.exceptions.ConnectionFailureError),
    pg_error(asyncpg.TooManyConnectionsError),
    pg_error(asyncpg.exceptions.IdleInTransactionSessionTimeoutError),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.InterfaceError("pool is closed"),
    asyncpg.InterfaceError("cannot perform operation: another operation is cancelling"),
    # A pooled connection whose server process was terminated while it sat idle (seen with pg_ctl stop).
    asyncpg.InternalClientError("cannot switch to state 11; another operation (2) is in progress"),
]

NOT_OUTAGES = [
    ValueError("bad input"),
    RuntimeError("a bug"),
    KeyError("x"),
    pg_error(asyncpg.UniqueViolationError),
    pg_error(asyncpg.ForeignKeyViolationError),
    pg_error(asyncpg.SerializationError),
    pg_error(asyncpg.UndefinedTableError),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
    asyncpg.DataError("invalid input for query argument $1"),
    asyncio.CancelledError(),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_outages_are_connection_errors(exc: BaseException) -> None:
    assert is_connection_error(exc)
    assert isinstance(exc, CONNECTION_ERRORS)


@pytest.mark.parametrize("exc", NOT_OUTAGES, ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_other_errors_are_not(exc: BaseException) -> None:
    assert not is_connection_error(exc)


def test_only_the_error_itself_counts_not_its_cause() -> None:
    wrapped = RuntimeError("while signing up")
    wrapped.__cause__ = ConnectionRefusedError()
    assert not is_connection_error(wrapped)


def test_timeouts_come_from_the_settings_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert Timeouts.of(defaults) == Timeouts() == Timeouts(acquire_s=3.0, connect_s=2.0, statement_s=5.0)
    assert defaults.db_retry_after_s == 5
    monkeypatch.setenv("FMF_DB_ACQUIRE_TIMEOUT_S", "1.5")
    monkeypatch.setenv("FMF_DB_STATEMENT_TIMEOUT_S", "3")
    assert Timeouts.from_environment() == Timeouts(acquire_s=1.5, connect_s=2.0, statement_s=3.0)
    assert Timeouts.of(Settings()) == Timeouts.from_environment()
    # The client waits a little longer than the server, so that the server's cancel normally comes first.
    assert Timeouts(statement_s=3.0).client_statement_s > 3.0


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    async def failing_dependency() -> None:
        raise exc

    @app.get("/route")
    async def route() -> None:
        raise exc

    @app.get("/dependency", dependencies=[Depends(failing_dependency)])
    async def with_dependency() -> None:
        return None

    @app.middleware("http")
    async def failing_middleware(request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path == "/middleware":
            raise exc
        return await call_next(request)

    return app


@pytest.mark.parametrize("where", ["route", "dependency", "middleware"])
@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        TimeoutError(),
        pg_error(asyncpg.exceptions.AdminShutdownError),
        pg_error(asyncpg.QueryCanceledError),
        asyncpg.InterfaceError("pool is closing"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_an_outage_is_answered_503_with_retry_after(where: str, exc: Exception) -> None:
    transport = httpx.ASGITransport(app=app_raising(exc), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get(f"/{where}")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == PROBLEM
    assert int(r.headers["retry-after"]) >= 1
    body = r.json()
    assert body["status"] == 503 and body["title"] == "Service unavailable" and body["type"]
    assert "temporarily unavailable" in body["detail"] and "retry" in body["detail"]


async def test_other_errors_stay_500() -> None:
    transport = httpx.ASGITransport(
        app=app_raising(asyncpg.InterfaceError("another operation is in progress")), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/route")).status_code == 500


class _DownStorage(PostgresStorage):
    """A PostgreSQL abuse-limit storage whose database is down."""

    def __init__(self, error: Exception) -> None:
        super().__init__("async+postgresql://nowhere/db", wrap_exceptions=True)
        self.error = error

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise StorageError(self.error)

    async def get(self, key: str) -> int:
        raise StorageError(self.error)


def limits_on(storage: PostgresStorage) -> AbuseLimits:
    return AbuseLimits(storage, {rule: "5/minute" for rule in Rule}, b"secret")


async def test_abuse_limits_raise_a_database_outage_at_once() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    limits = limits_on(_DownStorage(refused))
    for attempt in (limits.hit, limits.check, limits.fail):
        with pytest.raises(ConnectionRefusedError):
            await attempt(Rule.SIGNUP_PER_CLIENT, "192.0.2.1")


async def test_abuse_limits_let_other_storage_failures_through() -> None:
    limits = limits_on(_DownStorage(pg_error(asyncpg.UndefinedTableError)))
    await limits.hit(Rule.SIGNUP_PER_CLIENT, "192.0.2.1")
    await limits.check(Rule.SIGNUP_PER_CLIENT, "192.0.2.1")
    await limits.fail(Rule.SIGNUP_PER_CLIENT, "192.0.2.1")


async def test_a_job_waits_out_a_database_outage_and_carries_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.registration import jobs

    monkeypatch.setattr(jobs, "OUTAGE_RETRY_S", 0.01)
    rounds: list[str] = []
    outcomes: list[BaseException | None] = [ConnectionRefusedError(), pg_error(asyncpg.CannotConnectNowError), None]

    async def round_() -> None:
        outcome = outcomes.pop(0) if outcomes else None
        rounds.append(type(outcome).__name__ if outcome else "done")
        if outcome is not None:
            raise outcome
        if len(rounds) >= 4:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await jobs._every("test", 0.01, round_)
    assert rounds == ["ConnectionRefusedError", "CannotConnectNowError", "done", "done"]


async def test_a_job_leaves_other_errors_to_its_supervisor() -> None:
    from services.registration import jobs

    async def round_() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        await jobs._every("test", 0.01, round_)
