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
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared import locks

log = logging.getLogger(__name__)

# A connection, whether opened directly or borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy


async def init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 10, role: str | None = None) -> asyncpg.Pool:
    """A pool; with ``role``, every connection works as that role (one that owns no tables, so that
    row-level security applies to it)."""

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

    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init, reset=keep_session)
    assert pool is not None
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
        await conn.execute(f"BEGIN; {setup}" if setup else "BEGIN")
        try:
            yield conn
        except BaseException:
            await _roll_back(conn)
            raise
        await conn.execute("COMMIT")


async def _roll_back(conn: Conn) -> None:
    """Roll back; where even that fails, close the connection: the pool replaces it, and no one ever
    borrows a connection in the middle of a transaction. The caller raises what went wrong first."""
    if conn.is_closed():
        return
    try:
        await conn.execute("ROLLBACK")
    except BaseException:
        conn.terminate()


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
