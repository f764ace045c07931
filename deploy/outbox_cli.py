"""``fmf outbox``: the operator's outbox commands, on a service's own database.

``fmf outbox republish <service> [--since <ISO time>]`` puts the service's kept outbox rows (all, or those
created since the time) back to be published: the service's relay publishes them again in order, and the
consumers' inboxes skip what they applied already. Use it when the broker lost history the relay could not
notice by itself (a topic emptied by hand, a broker restored from an old copy), and before rebuilding
reporting's read model from the topics. The database is ``FMF_<SERVICE>_DATABASE_URL``, else
``FMF_DATABASE_URL`` (as ``python -m deploy.migrate`` finds it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import asyncpg
import typer

from deploy.migrate import database_url_variable
from shared import outbox
from shared.db import with_database
from shared.registry import SERVICES

outbox_app = typer.Typer(no_args_is_help=True, help="Outboxes: publish kept events again.")


MAKE_UP_SERVER = "server-dsn"
"""The file in ``make up``'s var directory that says where its PostgreSQL server is."""


def database_url(service: str, environ: Mapping[str, str] | None = None) -> str:
    """The service's database: ``FMF_<SERVICE>_DATABASE_URL``, else ``FMF_DATABASE_URL``, else the database
    ``make up`` gave the service (its server is kept in ``<FMF_VAR_DIR or var>/server-dsn``). Never a
    default server: a command run with nothing set must not touch a database that is not the platform's.
    Raises ``typer.BadParameter`` for a name that is not a service, and when none of the three says where."""
    if service not in SERVICES:
        raise typer.BadParameter(f"one of: {', '.join(SERVICES)}", param_hint="SERVICE")
    env = os.environ if environ is None else environ
    if found := env.get(database_url_variable(service)) or env.get("FMF_DATABASE_URL"):
        return found
    kept = Path(env.get("FMF_VAR_DIR") or "var") / MAKE_UP_SERVER
    if kept.is_file():
        return with_database(kept.read_text().strip(), f"fmf_{service}")
    raise typer.BadParameter(
        f"set {database_url_variable(service)} (or FMF_DATABASE_URL) to the {service} database; under make up,"
        " run the command from the project folder",
        param_hint="SERVICE",
    )


def parse_since(text: str | None) -> datetime | None:
    """An ISO 8601 time (``2026-11-30T18:00:00+01:00``; without an offset: UTC), or None for all rows.
    Raises ``typer.BadParameter`` when it is not one."""
    if text is None:
        return None
    try:
        since = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO time such as 2026-11-30T18:00:00Z", param_hint="--since"
        ) from None
    return since if since.tzinfo is not None else since.replace(tzinfo=UTC)


async def republish(dsn: str, since: datetime | None) -> int:
    """Mark the kept outbox rows of the database at ``dsn`` (created since ``since``, or all) unpublished;
    returns how many. Raises ``OSError`` or ``asyncpg.PostgresError`` when the database cannot be used."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        async with conn.transaction():
            return await outbox.republish(conn, since)
    finally:
        await conn.close()


@outbox_app.command("republish")
def republish_command(
    service: str,
    since: Annotated[
        str | None, typer.Option(help="Only rows created at or after this ISO time (default: every kept row).")
    ] = None,
) -> None:
    """Publish the service's kept outbox rows again (all, or created since --since), in order; the running
    service's relay sends them, and every consumer's inbox skips what it applied already."""
    dsn = database_url(service)
    start = parse_since(since)
    try:
        count = asyncio.run(republish(dsn, start))
    except (OSError, asyncpg.PostgresError) as exc:
        typer.echo(
            f"error: cannot use the {service} database ({exc}); {database_url_variable(service)} or"
            " FMF_DATABASE_URL says where it is",
            err=True,
        )
        raise typer.Exit(1) from None
    scope = f"created since {start.isoformat()}" if start else "kept"
    typer.echo(f"{service}: {count} outbox rows {scope} will be published again by its relay")
