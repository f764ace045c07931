"""What a benchmark runs against: the PostgreSQL server and Kafka broker the environment names
(``FMF_DATABASE_URL``, ``FMF_KAFKA_BOOTSTRAP``), else embedded ones started for the run and stopped after."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from deploy.local.embedded import EmbeddedPostgres, TansuBroker


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The server DSN of ``FMF_DATABASE_URL``, else of an embedded PostgreSQL, destroyed (its folder removed)
    on exit. Raises what ``EmbeddedPostgres.start`` raises when it cannot start."""
    dsn = os.environ.get("FMF_DATABASE_URL")
    if dsn:
        yield dsn
        return
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedPostgres(Path(folder) / "pg")
        server.start()
        try:
            yield server.dsn
        finally:
            server.destroy()


@contextlib.contextmanager
def embedded_broker() -> Iterator[str]:
    """The bootstrap servers of a new, empty embedded broker (its log in memory), stopped on exit."""
    broker = TansuBroker()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@contextlib.contextmanager
def infrastructure() -> Iterator[tuple[str, str]]:
    """``(server DSN, bootstrap servers)``; embedded ones are stopped (and the database folder removed) on exit.
    Raises what ``EmbeddedPostgres.start`` or ``TansuBroker.start`` raise when they cannot start."""
    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(postgres_server())
        bootstrap = os.environ.get("FMF_KAFKA_BOOTSTRAP") or stack.enter_context(embedded_broker())
        yield dsn, bootstrap
