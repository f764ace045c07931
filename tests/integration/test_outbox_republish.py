"""Publishing a service's kept outbox again (``fmf outbox republish``), and reporting's rebuild refusing to
lose history, against real PostgreSQL and the real broker.

The story: reporting's read model was built from events the broker no longer holds (its log was lost).
A rebuild refuses and changes nothing; ``fmf outbox republish registration`` puts the events back through
registration's relay; then the rebuild succeeds and the read model keeps every registration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.reporting import rebuild as reporting_rebuild
from services.reporting import store as reporting_store
from services.reporting.settings import ReportingSettings
from shared import db, outbox, topics
from shared.events import Envelope, RegistrationChanged, make_event
from shared.outbox import OutboxRelay
from tests.conftest import TEST_PARTITIONS

pytestmark = pytest.mark.asyncio(loop_scope="session")

REGISTRATIONS = 12


@pytest.fixture
async def registration_db(postgres_dsn: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with the shared migrations only (outbox, inbox): registration's outbox, as far as the
    relay and the command are concerned."""
    dsn = db.with_database(postgres_dsn, f"fmf_test_outbox_{uuid.uuid4().hex[:10]}")
    await db.ensure_database(dsn)
    await db.migrate(dsn, tmp_path)
    try:
        yield dsn
    finally:
        await db.drop_database(dsn)


def confirmed(tenant: uuid.UUID, meeting: uuid.UUID) -> Envelope:
    payload = RegistrationChanged(
        registration_id=uuid.uuid4(),
        participant_id=uuid.uuid4(),
        meeting_id=meeting,
        tenant_id=tenant,
        group="resident",
        status="confirmed",
        language="nb",
    )
    return make_event("registration.confirmed", tenant, payload)


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection that reads and writes JSON as the services do."""
    conn = await asyncpg.connect(dsn)
    await db.init_connection(conn)
    return conn


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def republish_command(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``fmf outbox republish registration ...`` as the operator runs it (its own process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMF_")}
    env["FMF_REGISTRATION_DATABASE_URL"] = dsn
    # Mounted as deploy/cli.py mounts it: ``app.add_typer(outbox_app, name="outbox")``.
    code = (
        "import typer; from deploy.outbox_cli import outbox_app; app = typer.Typer();"
        " app.add_typer(outbox_app, name='outbox'); app()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "outbox", "republish", "registration", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_rebuild_refuses_after_a_loss_and_succeeds_after_republish(
    postgres_dsn: str, registration_db: str, kafka_bootstrap: str
) -> None:
    tenant, meeting = uuid.uuid4(), uuid.uuid4()
    events = [confirmed(tenant, meeting) for _ in range(REGISTRATIONS)]
    # Registration wrote the events and its relay published them, into a log that is gone since.
    conn = await connect(registration_db)
    try:
        await outbox.enqueue(conn, "registration", [(event, meeting) for event in events])
        await conn.execute("UPDATE outbox SET published_at = now() - interval '1 hour'")
    finally:
        await conn.close()

    # Reporting's read model was built from them.
    reporting_db = db.with_database(postgres_dsn, f"fmf_test_reporting_{uuid.uuid4().hex[:10]}")
    settings = ReportingSettings(
        database_url=reporting_db,
        kafka_bootstrap=kafka_bootstrap,
        consumer_group_prefix=f"t{uuid.uuid4().hex[:10]}",
        topic_partitions=TEST_PARTITIONS,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
    )
    group = reporting_rebuild.consumer_group(settings)
    await db.ensure_database(reporting_db)
    try:
        await db.migrate(reporting_db, reporting_store.MIGRATIONS)
        conn = await connect(reporting_db)
        try:
            for event in events:
                assert await reporting_store.claim_events(conn, group, [(event.id, tenant, event.type)])
                registration = uuid.UUID(str(event.data["registration_id"]))
                written = reporting_store.upsert_registration(
                    registration, tenant, meeting, "resident", "confirmed", False, None
                )
                await reporting_store.apply(conn, [written])
        finally:
            await conn.close()
        count = "SELECT count(*) AS n FROM registrations WHERE meeting_id = $1"

        with pytest.raises(reporting_rebuild.HistoryLost) as refused:
            await reporting_rebuild.rebuild(settings)
        assert f"the topics no longer hold {REGISTRATIONS} of the {REGISTRATIONS} events" in str(refused.value)
        assert "fmf outbox republish registration" in str(refused.value)
        assert (await fetch(reporting_db, count, meeting))[0]["n"] == REGISTRATIONS  # nothing changed

        done = republish_command(registration_db)
        assert done.returncode == 0, done.stderr
        assert f"registration: {REGISTRATIONS} outbox rows kept will be published again" in done.stdout
        pool = await db.create_pool(registration_db)
        relay = OutboxRelay(pool, registration_db, kafka_bootstrap, topic_partitions=TEST_PARTITIONS)
        try:
            assert await relay.drain() == REGISTRATIONS
        finally:
            await relay.close()
            await pool.close()

        rebuilt = await reporting_rebuild.rebuild(settings)
        assert rebuilt.events == REGISTRATIONS
        assert (await fetch(reporting_db, count, meeting))[0]["n"] == REGISTRATIONS  # not shrunk
    finally:
        await db.drop_database(reporting_db)


async def test_republish_since_a_time_and_never_a_scrubbed_row(registration_db: str) -> None:
    tenant, person = uuid.uuid4(), uuid.uuid4()
    old_event, new_event = confirmed(tenant, uuid.uuid4()), confirmed(tenant, uuid.uuid4())
    conn = await connect(registration_db)
    try:
        await outbox.enqueue(conn, "registration", [(old_event, old_event.tenant_id)])
        await conn.execute("UPDATE outbox SET created_at = now() - interval '2 days'")
        await outbox.enqueue(conn, "registration", [(new_event, new_event.tenant_id)])
        # A contact row of a person since erased: the value went (scrubbed), the tombstone stays.
        await conn.execute(
            "INSERT INTO outbox (event_id, tenant_id, topic, key, event_type, body, headers)"
            " VALUES ($1, $2, $3, $4, 'participant.contact', '{\"email\": \"someone@example.no\"}', '{}')",
            uuid.uuid4(),
            tenant,
            topics.CONTACTS,
            str(person),
        )
        await outbox.enqueue_tombstones(conn, "registration", tenant, topics.CONTACTS, [str(person)])
        await conn.execute(
            "DELETE FROM outbox WHERE topic = $1 AND key = $2 AND body IS NOT NULL", topics.CONTACTS, str(person)
        )
        await conn.execute("UPDATE outbox SET published_at = now()")
    finally:
        await conn.close()

    since = republish_command(registration_db, "--since", "2000-01-01T00:00:00")
    assert since.returncode == 0, since.stderr
    assert "3 outbox rows created since 2000-01-01T00:00:00+00:00" in since.stdout

    await _publish_all(registration_db)
    recent = republish_command(registration_db, "--since", "yesterday")
    assert recent.returncode != 0 and "is not an ISO time" in recent.stderr

    rows = await fetch(
        registration_db,
        "SELECT event_id, topic, body IS NULL AS tombstone FROM outbox WHERE published_at IS NULL ORDER BY seq",
    )
    assert rows == []
    day_ago = republish_command(registration_db, "--since", _iso_hours_ago(24))
    assert day_ago.returncode == 0, day_ago.stderr
    rows = await fetch(
        registration_db,
        "SELECT event_id, topic, body IS NULL AS tombstone FROM outbox WHERE published_at IS NULL ORDER BY seq",
    )
    assert [r["event_id"] for r in rows if r["topic"] != topics.CONTACTS] == [new_event.id]
    contacts = [r for r in rows if r["topic"] == topics.CONTACTS]
    assert [r["tombstone"] for r in contacts] == [True]  # the scrubbed value is not published again


async def _publish_all(dsn: str) -> None:
    conn = await connect(dsn)
    try:
        await conn.execute("UPDATE outbox SET published_at = now()")
    finally:
        await conn.close()


def _iso_hours_ago(hours: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()
