"""What a benchmark runs against: the PostgreSQL server and Kafka broker the environment names
(``FMF_DATABASE_URL``, ``FMF_KAFKA_BOOTSTRAP``), else embedded ones started for the run and stopped after."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from deploy.local.embedded import EmbeddedPostgres, TansuBroker


@contextlib.contextmanager
def _cleaned_up_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM (``kill <pid>``) ends the run as Ctrl-C would: by an exception, so the servers'
    ``finally`` blocks stop them instead of leaving them running without their benchmark."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The server DSN of ``FMF_DATABASE_URL``, else of an embedded PostgreSQL, destroyed (its folder removed)
    on exit. Raises what ``EmbeddedPostgres.start`` raises when it cannot start."""
    dsn = os.environ.get("FMF_DATABASE_URL")
    if dsn:
        yield dsn
        return
    with _cleaned_up_on_sigterm(), tempfile.TemporaryDirectory() as folder:
        server = EmbeddedPostgres(Path(folder) / "pg")
        server.start()
        try:
            yield server.dsn
        finally:
            server.destroy()


@contextlib.contextmanager
def embedded_broker() -> Iterator[str]:
    """The bootstrap servers of a new, empty embedded broker (its log in memory), stopped on exit."""
    with _cleaned_up_on_sigterm():
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
