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
def infrastructure() -> Iterator[tuple[str, str]]:
    """``(server DSN, bootstrap servers)``; embedded ones are stopped (and the database folder removed) on exit.
    Raises what ``EmbeddedPostgres.start`` or ``TansuBroker.start`` raise when they cannot start."""
    with contextlib.ExitStack() as stack:
        dsn = os.environ.get("FMF_DATABASE_URL")
        if not dsn:
            server = EmbeddedPostgres(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "pg")
            server.start()
            stack.callback(server.destroy)
            dsn = server.dsn
        bootstrap = os.environ.get("FMF_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = TansuBroker()
            broker.start()
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap
        yield dsn, bootstrap
