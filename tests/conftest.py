"""Real infrastructure for the suite: PostgreSQL (the machine's when FMF_DATABASE_URL is set, else an
embedded one), a Tansu broker on a free port, and a recording SMTP server. Each is started once per
session and stopped at the end, by the pid this session started."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from deploy.local.embedded import EmbeddedPostgres, TansuBroker, free_port, free_ports
from deploy.local.platform import SERVICES, PlatformConfig, ServiceProcesses
from shared import db
from shared.topics import ensure_topics
from tests.support import RecordingSmtpHandler, start_smtp

TEST_PARTITIONS = 3


def private_dir(name: str) -> Path:
    """A directory of this test session's own (pytest prunes its numbered temp dirs of older sessions,
    which must not pull the data directory from under a server another session is still using)."""
    return Path(tempfile.mkdtemp(prefix=f"fmf-test-{name}-"))


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    if os.environ.get("FMF_DATABASE_URL"):
        yield os.environ["FMF_DATABASE_URL"]
        return
    folder = private_dir("postgres")
    server = EmbeddedPostgres(folder / "data")
    server.start()
    try:
        yield server.dsn
    finally:
        server.destroy()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def kafka_bootstrap() -> Iterator[str]:
    """A broker per test module: a fresh platform's consumer groups read from the beginning, and must not
    wade through every event the modules before produced."""
    if os.environ.get("FMF_KAFKA_BOOTSTRAP"):
        bootstrap = os.environ["FMF_KAFKA_BOOTSTRAP"]
        asyncio.run(ensure_topics(bootstrap, TEST_PARTITIONS))
        yield bootstrap
        return
    folder = private_dir("tansu")
    broker = TansuBroker(log_path=folder / "tansu.log")
    broker.start()
    try:
        asyncio.run(ensure_topics(broker.bootstrap, TEST_PARTITIONS))
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[int, RecordingSmtpHandler]]:
    port = free_port()
    controller, handler = start_smtp(port)
    try:
        yield port, handler
    finally:
        controller.stop()


@pytest.fixture
async def database(postgres_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    dsn = db.with_database(postgres_dsn, f"fmf_test_{uuid.uuid4().hex[:12]}")
    await db.ensure_database(dsn)
    try:
        yield dsn
    finally:
        await db.drop_database(dsn)


def platform_config(
    postgres_dsn: str, kafka_bootstrap: str, smtp_port: int, log_dir: Path, **env: str
) -> PlatformConfig:
    """Settings for a platform of the test's own. Abuse limits are off unless ``env`` turns them on
    (FMF_RATE_LIMITS_ENABLED="true"): most tests sign up hundreds of people from one address."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return PlatformConfig(
        server_dsn=postgres_dsn,
        kafka_bootstrap=kafka_bootstrap,
        operator_token=secrets.token_urlsafe(24),
        smtp_port=smtp_port,
        ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
        database_prefix=prefix,
        consumer_group_prefix=prefix,
        log_dir=log_dir,
        extra_env={
            "FMF_TOPIC_PARTITIONS": str(TEST_PARTITIONS),
            "FMF_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "FMF_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "FMF_OUTBOX_POLL_INTERVAL_S": "0.5",
            "FMF_SENDER_POLL_INTERVAL_S": "0.5",
            "FMF_RATE_LIMITS_ENABLED": "false",
            **env,
        },
    )


@pytest.fixture(scope="module")
def platform(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PlatformConfig]:
    """All four services as separate processes, each with its own fresh database."""
    log_dir = tmp_path_factory.mktemp("service-logs")
    config = platform_config(postgres_dsn, kafka_bootstrap, smtp[0], log_dir)
    processes = ServiceProcesses(config)
    processes.start()
    try:
        processes.wait_ready()
        yield config
    finally:
        processes.stop()
        for name in SERVICES:
            log = log_dir / f"{name}.log"
            errors = [line for line in log.read_text(errors="replace").splitlines() if '"level": "error"' in line]
            if errors:
                print(f"\n{name} logged errors:\n" + "\n".join(errors[-10:]))
        for name in SERVICES:
            asyncio.run(db.drop_database(config.database_url(name)))
