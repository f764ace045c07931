"""The migration job (``python -m deploy.migrate``), run as compose and Kubernetes run it (a process),
against real PostgreSQL and a real broker. What it decides without a server is in
``tests/unit/test_deploy_migrate.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from deploy import migrate
from deploy.local.embedded import TansuBroker
from shared import db, topics
from tests.conftest import private_dir

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registration", "matching", "notification", "reporting")


def expected_migrations(service: str) -> set[str]:
    shared = {f"shared/{p.name}" for p in db.migration_files(db.SHARED_MIGRATIONS)}
    own = {f"service/{p.name}" for p in db.migration_files(ROOT / "services" / service / "migrations")}
    return shared | own


def run_job(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The job exactly as compose and Kubernetes start it, with no FMF_ variable but the given ones."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FMF_")}
    return subprocess.run(
        [sys.executable, "-m", "deploy.migrate", *args],
        cwd=ROOT,
        env={**base, "FMF_LOG_JSON": "true", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def applied_migrations(dsn: str) -> dict[str, object]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["name"]: r["applied_at"] for r in await conn.fetch("SELECT name, applied_at FROM schema_migrations")}
    finally:
        await conn.close()


async def database_exists(server_dsn: str, dsn: str) -> bool:
    conn = await asyncpg.connect(server_dsn)
    try:
        name = dsn.rsplit("/", 1)[1]
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


@pytest.fixture
async def service_databases(postgres_dsn: str) -> AsyncIterator[dict[str, str]]:
    """A DSN per service, for databases that do not exist yet (the job must create them); dropped after."""
    prefix = f"fmf_migrate_{uuid.uuid4().hex[:8]}"
    urls = {service: db.with_database(postgres_dsn, f"{prefix}_{service}") for service in SERVICES}
    try:
        yield urls
    finally:
        for url in urls.values():
            await db.drop_database(url)


@pytest.fixture
def empty_broker() -> Iterator[str]:
    """A broker of its own, without the topics the session's broker already has."""
    folder = private_dir("migrate-tansu")
    broker = TansuBroker(log_path=folder / "tansu.log")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def topic_partitions(bootstrap: str) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        names = await consumer.topics()
        return {name: len(consumer.partitions_for_topic(name) or ()) for name in names}
    finally:
        await consumer.stop()


async def test_job_creates_each_services_database_migrates_it_and_creates_the_topics(
    postgres_dsn: str, service_databases: dict[str, str], empty_broker: str, kafka_bootstrap: str
) -> None:
    for url in service_databases.values():
        assert not await database_exists(postgres_dsn, url)
    env = {migrate.database_url_variable(s): url for s, url in service_databases.items()}

    first = run_job("--topics", env={**env, "FMF_KAFKA_BOOTSTRAP": empty_broker, "FMF_TOPIC_PARTITIONS": "2"})
    assert first.returncode == 0, first.stderr

    before = {}
    for service, url in service_databases.items():
        before[service] = await applied_migrations(url)
        assert set(before[service]) == expected_migrations(service), service
    partitions = await topic_partitions(empty_broker)
    for topic in topics.ALL:
        assert partitions.get(topic) == 2, topic
        assert partitions.get(topics.dlq(topic)) == 2, topics.dlq(topic)

    # Run again, as a redeployed job does, against a broker whose topics exist: nothing changes.
    again = run_job("--topics", env={**env, "FMF_KAFKA_BOOTSTRAP": kafka_bootstrap})
    assert again.returncode == 0, again.stderr
    for service, url in service_databases.items():
        assert await applied_migrations(url) == before[service]


async def test_a_service_without_its_own_variable_uses_fmf_database_url(service_databases: dict[str, str]) -> None:
    done = run_job("reporting", env={"FMF_DATABASE_URL": service_databases["reporting"]})
    assert done.returncode == 0, done.stderr
    assert set(await applied_migrations(service_databases["reporting"])) == expected_migrations("reporting")


async def test_the_per_service_variable_wins_over_fmf_database_url(service_databases: dict[str, str]) -> None:
    applied = await migrate.run(
        ["matching"],
        {
            "FMF_DATABASE_URL": service_databases["reporting"],
            "FMF_MATCHING_DATABASE_URL": service_databases["matching"],
        },
    )
    assert set(applied["matching"]) == expected_migrations("matching")
    assert set(await applied_migrations(service_databases["matching"])) == expected_migrations("matching")
    assert await migrate.run(["matching"], {"FMF_MATCHING_DATABASE_URL": service_databases["matching"]}) == {
        "matching": []
    }


def test_services_that_would_share_one_database_are_refused_before_anything_is_written() -> None:
    only_shared = {"FMF_DATABASE_URL": "postgresql://postgres@db.invalid:5432/fmf"}
    done = run_job(env=only_shared)
    assert done.returncode == 2
    assert "FMF_MATCHING_DATABASE_URL" in done.stderr


def test_an_unknown_service_is_a_usage_error() -> None:
    done = run_job("billing", env={})
    assert done.returncode == 2
    assert "unknown service billing" in done.stderr
