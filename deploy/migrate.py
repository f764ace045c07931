"""The one-shot migration job: ``python -m deploy.migrate [--topics] [service ...]``.

For each service named (default: all four) it creates the service's database if it is missing and
applies the shared and the service's migrations to it. Each service has its own database: the URL is
``FMF_<SERVICE>_DATABASE_URL`` (``FMF_REGISTRATION_DATABASE_URL``, ...), else ``FMF_DATABASE_URL``.
With ``--topics`` it also creates the Kafka topics and their dead-letter topics (``FMF_KAFKA_BOOTSTRAP``,
``FMF_TOPIC_PARTITIONS``, ``FMF_TOPIC_REPLICATION``).

Compose and Kubernetes run it before the services; the services apply pending migrations themselves
too (under the same advisory lock), so running it again, or a service starting first, is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from shared import db, logs, topics
from shared.registry import SERVICES
from shared.settings import Settings

log = logging.getLogger("deploy.migrate")


class ConfigurationError(Exception):
    """The environment does not say unambiguously where each service's database is."""


def database_url_variable(service: str) -> str:
    return f"FMF_{service.upper()}_DATABASE_URL"


def database_urls(services: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Each service's DSN: its own variable, else ``FMF_DATABASE_URL`` (else the settings' default).

    Two services must never share a database: their migrations are numbered independently and are
    recorded by file name, so one service's ``001_read_model.sql`` would hide the other's.
    """
    fallback = environ.get("FMF_DATABASE_URL") or Settings.model_fields["database_url"].default
    urls = {service: environ.get(database_url_variable(service)) or fallback for service in services}
    by_database: dict[tuple[str, str], list[str]] = {}
    for service, url in urls.items():
        parts = urlsplit(url)
        by_database.setdefault((parts.netloc.rpartition("@")[2], parts.path), []).append(service)
    shared = [names for names in by_database.values() if len(names) > 1]
    if shared:
        names = shared[0]
        variables = ", ".join(database_url_variable(name) for name in names)
        raise ConfigurationError(
            f"{', '.join(names)} would share one database; each service needs its own: set {variables}"
        )
    return urls


def migrations_folder(service: str) -> Path:
    """The service's ``migrations/`` folder, wherever the package is (source tree or installed)."""
    spec = importlib.util.find_spec(f"services.{service}")
    if spec is None or spec.origin is None:
        raise ConfigurationError(f"no service named {service!r}")
    return Path(spec.origin).parent / "migrations"


async def _ensure_database(dsn: str, wait_s: float) -> None:
    """Create the database, waiting up to ``wait_s`` for the server to accept connections."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await db.ensure_database(dsn)
            return
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            if time.monotonic() >= deadline:
                raise
            log.info("database server not reachable yet; retrying", extra={"error": str(exc)})
            await asyncio.sleep(1.0)


async def run(
    services: Sequence[str],
    environ: Mapping[str, str],
    *,
    kafka: Settings | None = None,
    wait_s: float = 60.0,
) -> dict[str, list[str]]:
    """Migrate each service's database, then, given ``kafka`` settings, create the topics.

    Returns the migrations applied per service (empty when a database was up to date).
    """
    urls = database_urls(services, environ)
    applied: dict[str, list[str]] = {}
    for service in services:
        folder = migrations_folder(service)
        await _ensure_database(urls[service], wait_s)
        applied[service] = await db.migrate(urls[service], folder)
        database = urlsplit(urls[service]).path.lstrip("/")
        details = {"database": database, "of_service": service, "applied": applied[service]}
        log.info("service database migrated", extra=details)
    if kafka is not None:
        created = await topics.ensure_topics(kafka.kafka_bootstrap, kafka.topic_partitions, kafka.topic_replication)
        log.info("topics ensured", extra={"bootstrap": kafka.kafka_bootstrap, "topics_created": created})
    return applied


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.migrate",
        description=(
            "Create each service's database if missing and apply its migrations. The database URL of a "
            "service is FMF_<SERVICE>_DATABASE_URL (e.g. FMF_REGISTRATION_DATABASE_URL), else FMF_DATABASE_URL."
        ),
    )
    parser.add_argument("services", nargs="*", metavar="service", help=f"any of {', '.join(SERVICES)} (default: all)")
    parser.add_argument(
        "--topics",
        action="store_true",
        help="also create the Kafka topics (FMF_KAFKA_BOOTSTRAP, FMF_TOPIC_PARTITIONS, FMF_TOPIC_REPLICATION)",
    )
    parser.add_argument(
        "--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait for PostgreSQL (default 60)"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.services if name not in SERVICES]
    if unknown:
        parser.error(f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = Settings()
    logs.configure("migrate", settings.log_level, settings.log_json)
    services = tuple(dict.fromkeys(args.services)) or SERVICES
    try:
        asyncio.run(run(services, os.environ, kafka=settings if args.topics else None, wait_s=args.wait))
    except ConfigurationError as exc:
        print(f"deploy.migrate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
