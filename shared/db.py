"""Database pool and migrations.

Migrations are plain, numbered SQL files in each service's ``migrations/`` folder. The runner below
is deliberately tiny: it applies every file not yet recorded in ``schema_migrations``, each in its
own transaction, under an advisory lock so that replicas starting together do not race. Tools such
as Alembic or yoyo would add an ORM or a second config format for no gain with plain SQL files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared import locks
from shared.settings import Settings

log = logging.getLogger(__name__)

# A connection, whether opened directly or borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy

# What a database outage raises, wherever it surfaces (connecting, acquiring from the pool, running a
# statement, committing). ``is_connection_error`` narrows ``InterfaceError`` down to a closed connection or pool.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    # Refused, reset, unreachable, a missing socket file, and every timeout: TimeoutError (which
    # asyncio.TimeoutError is) is an OSError, whether from acquire, connect or the statement timeout.
    OSError,
    # SQLSTATE class 08 (connection exception): the connection does not exist, failed, was rejected.
    asyncpg.PostgresConnectionError,
    # Class 57 (operator intervention): 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect
    # now (starting or stopping), 57P04 database dropped, 57P05 idle session timeout, 57014 query canceled
    # (the statement timeout).
    asyncpg.exceptions.OperatorInterventionError,
    # Class 53 (insufficient resources): 53300 too many connections, out of memory, disk full.
    asyncpg.exceptions.InsufficientResourcesError,
    # 25P03: the server closed a session left idle in a transaction.
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
    # Only "connection is closed", "pool is closing/closed", "another operation is cancelling".
    asyncpg.InterfaceError,
    # A pooled connection whose server process went away while it sat idle (a restart, an admin shutdown)
    # fails its next statement with "cannot switch to state N; another operation (2) is in progress".
    asyncpg.InternalClientError,
)

_CLOSED_OR_CANCELLING = re.compile(r"connection is closed|pool is clos|operation is cancelling")


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is unavailable for now (stopped, restarting, frozen, out of
    connections, or a statement cut off by the statement timeout) rather than that the request or the
    code is wrong: trying again later may succeed, so an HTTP request is answered 503 with Retry-After
    and a background loop or a consumer tries again.

    True for every exception in ``CONNECTION_ERRORS``, except an ``asyncpg.InterfaceError`` that says
    anything but a closed connection, a closing or closed pool, or a cancellation in progress (misuse of
    the driver, a bug). asyncpg's ``InternalClientError`` counts whole: it means the client lost step with
    the server on that connection, and a new connection is the cure. Looks at ``exc`` itself only, not
    at its ``__cause__``. Never raises.
    """
    if not isinstance(exc, CONNECTION_ERRORS):
        return False
    if isinstance(exc, asyncpg.InterfaceError):
        return bool(_CLOSED_OR_CANCELLING.search(str(exc)))
    return True


@dataclass(frozen=True)
class Timeouts:
    """How long a service waits on its database, in seconds (settings ``FMF_DB_ACQUIRE_TIMEOUT_S``,
    ``FMF_DB_CONNECT_TIMEOUT_S``, ``FMF_DB_STATEMENT_TIMEOUT_S``).

    - ``acquire_s``: for a pooled connection (a free one, or a new one opened); then ``TimeoutError``.
    - ``connect_s``: for PostgreSQL to accept a new connection (TCP, TLS, start-up); then ``TimeoutError``.
    - ``statement_s``: for one statement. The server cancels it (``statement_timeout``:
      ``QueryCanceledError``); a server that does not answer at all (frozen, network gone) is given up
      on by the client half a second later (``TimeoutError``), and the connection is not reused.
    """

    acquire_s: float = 3.0
    connect_s: float = 2.0
    statement_s: float = 5.0

    @classmethod
    def of(cls, settings: Any) -> Timeouts:
        """The timeouts of a ``shared.settings.Settings`` (or any object with its ``db_*_timeout_s``)."""
        return cls(settings.db_acquire_timeout_s, settings.db_connect_timeout_s, settings.db_statement_timeout_s)

    @classmethod
    def from_environment(cls) -> Timeouts:
        """The timeouts the ``FMF_DB_*_TIMEOUT_S`` variables set, the defaults for those not set (read
        through ``Settings``, as a service reads them)."""
        return cls.of(Settings())

    @property
    def client_statement_s(self) -> float:
        """How long the client waits for a statement's answer: a little longer than the server's own
        ``statement_timeout``, so that a slow statement is cancelled by the server (the connection stays
        usable) and only a server that does not answer is given up on here."""
        return self.statement_s + 0.5


class BoundedPool(asyncpg.Pool):
    """An ``asyncpg.Pool`` whose ``acquire()`` waits at most ``acquire_timeout_s`` seconds by default
    (``TimeoutError`` after that); so do ``fetch``, ``execute`` and the other shortcuts, which acquire
    through it. A connection given back after a connection error (``is_connection_error``) is closed at
    once rather than waited on (asyncpg would wait for the server to acknowledge the cancelled statement,
    which a frozen server never does); the pool opens a new one when it is next needed."""

    def __init__(self, *args: Any, acquire_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout_s = acquire_timeout_s

    def acquire(self, *, timeout: float | None = None) -> Any:
        return _Borrowed(super().acquire(timeout=self.acquire_timeout_s if timeout is None else timeout))


class _Borrowed:
    """``async with pool.acquire() as conn`` (or ``await pool.acquire()``), closing ``conn`` on the way
    back to the pool after a connection error."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._conn: Any = None

    async def __aenter__(self) -> Any:
        self._conn = await self._inner.__aenter__()
        return self._conn

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and self._conn is not None and is_connection_error(exc):
            close_now(self._conn)
        await self._inner.__aexit__(exc_type, exc, tb)

    def __await__(self) -> Any:
        return self._inner.__await__()


async def init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    dsn: str, min_size: int = 2, max_size: int = 10, role: str | None = None, *, timeouts: Timeouts | None = None
) -> asyncpg.Pool:
    """A pool (a ``BoundedPool``); with ``role``, every connection works as that role (one that owns no
    tables, so that row-level security applies to it).

    Every wait on the database is bounded by ``timeouts`` (default: ``Timeouts.from_environment()``, the
    ``FMF_DB_*_TIMEOUT_S`` variables): acquiring a connection, opening one, and each statement. So a
    database that is stopped or frozen makes callers fail within seconds with an error for which
    ``is_connection_error`` is true, instead of waiting for it. The pool opens connections again by
    itself once the database is back. Raises what ``asyncpg.connect`` raises when the first
    ``min_size`` connections cannot be opened.
    """
    timeouts = timeouts or Timeouts.from_environment()

    async def init(conn: asyncpg.Connection) -> None:
        await init_connection(conn)
        if role:
            await conn.execute(f'SET ROLE "{role}"')

    async def keep_session(conn: asyncpg.Connection) -> None:
        # The default reset on release (RESET ALL, UNLISTEN, ...) costs a round trip per request. The
        # services keep no session state on pooled connections: tenant scope is SET LOCAL, advisory
        # locks are transaction-level and LISTEN runs on connections of its own. Only a transaction
        # left open (a cancelled COMMIT, say) must never reach the next borrower.
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")

    pool = BoundedPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connect=None,
        setup=None,
        init=init,
        reset=keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        acquire_timeout_s=timeouts.acquire_s,
        timeout=timeouts.connect_s,
        command_timeout=timeouts.client_statement_s,
        server_settings={"statement_timeout": str(round(timeouts.statement_s * 1000))},
    )
    await pool
    return pool


ALL_TENANTS = "*"


async def set_tenant(conn: Conn, tenant: object) -> None:
    """Scope the current transaction to one tenant's rows (``ALL_TENANTS`` for operator work)."""
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))


def literal(value: str) -> str:
    """``value`` as an SQL string literal (standard_conforming_strings is on since PostgreSQL 9.1)."""
    return "'" + value.replace("'", "''") + "'"


def tenant_scope(tenant: object) -> str:
    """The statement that scopes a transaction to ``tenant``, for ``transaction(pool, setup=...)``."""
    return f"SELECT set_config('app.tenant_id', {literal(str(tenant))}, true)"


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool, setup: str = "") -> AsyncIterator[Conn]:
    """A transaction whose BEGIN travels together with ``setup`` (parameterless SQL, such as
    ``tenant_scope``) in one round trip: on the hot paths that round trip is a tenth of a request.

    asyncpg refuses ``conn.transaction()`` (a savepoint) inside a transaction it did not start, so
    code inside avoids savepoints: ``INSERT ... ON CONFLICT DO NOTHING`` says "it exists" just as well.
    """
    async with pool.acquire() as conn:
        try:
            await conn.execute(f"BEGIN; {setup}" if setup else "BEGIN")
        except BaseException as exc:
            _drop_if_lost(conn, exc)
            raise
        try:
            yield conn
        except BaseException as exc:
            await _roll_back(conn, exc)
            raise
        try:
            await conn.execute("COMMIT")
        except BaseException as exc:
            _drop_if_lost(conn, exc)
            raise


def _drop_if_lost(conn: Conn, exc: BaseException) -> None:
    """After a connection error, close the connection at once: the pool opens a new one when the database
    is back, and nobody waits for an answer from a server that does not give one (a ROLLBACK, or the
    acknowledgement of a cancelled statement, would wait on a frozen server)."""
    if is_connection_error(exc):
        close_now(conn)


def close_now(conn: Conn) -> None:
    """Close ``conn`` without a word to the server (a pooled one is then replaced by the pool), for a
    connection that must not be waited on. A pooled connection that was lost has been taken back by the
    pool already (its proxy then refuses every call): nothing to do. Never raises."""
    with contextlib.suppress(asyncpg.InterfaceError):
        if not conn.is_closed():
            conn.terminate()


async def _roll_back(conn: Conn, cause: BaseException | None = None) -> None:
    """Roll back; where even that fails, close the connection: the pool replaces it, and no one ever
    borrows a connection in the middle of a transaction. After a connection error (``cause``), close it
    without trying. The caller raises what went wrong first."""
    if cause is None or not is_connection_error(cause):
        try:
            await conn.execute("ROLLBACK")
            return
        except BaseException:
            pass  # a closed or released connection included: closing it below is then a no-op
    close_now(conn)


def with_database(dsn: str, database: str) -> str:
    """The same server DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def ensure_database(dsn: str) -> None:
    """Create the database named in ``dsn`` if it does not exist (connecting to ``postgres``)."""
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Replicas starting together race to create it; losing the race is fine.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def migration_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.sql") if p.name[:3].isdigit())


SHARED_MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate(dsn: str, service_folder: Path) -> list[str]:
    """Apply the shared migrations, then the service's; return the names applied."""
    applied: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", locks.MIGRATION)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for scope, folder in (("shared", SHARED_MIGRATIONS), ("service", service_folder)):
            for path in migration_files(folder):
                name = f"{scope}/{path.name}"
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                applied.append(name)
                log.info("migration applied", extra={"migration": name})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", locks.MIGRATION)
        await conn.close()
    return applied
