"""A consumer killed with SIGKILL in the middle of a batch: the batch's transaction never commits, its
offsets are never committed, and after a restart every event is applied once and every effect happens
once.

Matching runs alone (its own process, batches on) over a backlog of meetings, their registrations and
their closing. The test holds a lock on matching's ``meetings`` table, so the next batch stops inside its transaction
after claiming its event ids, at its first use of that table: the kill lands there, with the backlog in
flight and none of its offsets committed. One run of the one-record-per-transaction path proves the same
of it. (Both runs share the module's broker: the second group also consumes the first run's events, so
counts are taken of this run's events.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from faststream.kafka import KafkaBroker

from deploy.local.platform import PlatformConfig, ServiceProcesses
from shared import db, topics
from shared.events import Capacity, Envelope, MeetingSnapshot, Profile, RegistrationChanged, Venue, make_event
from tests.conftest import platform_config
from tests.factories import daytime_start
from tests.reliability.support import group_of, subscribes_to
from tests.support import RecordingSmtpHandler, consumer_lag, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

MEETINGS = 40
PER_GROUP = 2  # registrations of each group per meeting


@pytest.fixture(params=["true", "false"], ids=["batched", "one-per-transaction"])
def matching_alone(
    request: pytest.FixtureRequest,
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path: Path,
) -> Iterator[tuple[PlatformConfig, ServiceProcesses]]:
    config = platform_config(
        postgres_dsn,
        kafka_bootstrap,
        smtp[0],
        tmp_path,
        FMF_CONSUMER_BATCH=request.param,
        # The held lock must stop the batch, not cancel its statement (which would make it a failed batch).
        FMF_DB_STATEMENT_TIMEOUT_S="300",
    )
    matching = ServiceProcesses(config, services=("matching",))
    matching.start()
    try:
        matching.wait_ready()
        yield config, matching
    finally:
        matching.stop_one("matching")
        asyncio.run(db.drop_database(config.database_url("matching")))


def backlog(tenant: uuid.UUID) -> list[tuple[str, bytes, Envelope]]:
    """Per meeting: created, its registrations, then closed with its roster; (topic, key, event) in order."""
    out: list[tuple[str, bytes, Envelope]] = []
    for _ in range(MEETINGS):
        meeting_id = uuid.uuid4()
        key = str(meeting_id).encode()
        registrations = [
            RegistrationChanged(
                registration_id=uuid.uuid4(),
                participant_id=uuid.uuid4(),
                meeting_id=meeting_id,
                tenant_id=tenant,
                group=group,
                status="confirmed",
                language="nb",
                profile=Profile(interests=["music"], languages=["nb"], norwegian_level="B1"),
            )
            for group in ("newcomer", "resident")
            for _ in range(PER_GROUP)
        ]

        def snapshot(status: str, roster: list[uuid.UUID] | None = None) -> MeetingSnapshot:
            return MeetingSnapshot(
                meeting_id=meeting_id,  # noqa: B023  # used at once
                tenant_id=tenant,
                title="Kaffe og prat",
                format="standard",
                status=status,
                starts_at=daytime_start(),
                duration_minutes=105,
                venue=Venue(name="Arendal bibliotek", address="Torvet 6", kind="library"),
                capacity=Capacity(newcomer=10, resident=10),
                confirmed_registration_ids=roster,
            )

        out.append((topics.MEETINGS, key, make_event("meeting.published", tenant, snapshot("published"))))
        out += [(topics.REGISTRATIONS, key, make_event("registration.confirmed", tenant, r)) for r in registrations]
        roster = [r.registration_id for r in registrations]
        closed = make_event("meeting.registration_closed", tenant, snapshot("registration_closed", roster))
        out.append((topics.MEETINGS, key, closed))
    return out


async def blocked_mid_batch(watcher: asyncpg.Connection) -> int | None:
    """The pid of a matching backend that has claimed event ids in the inbox (holds the inbox's row lock)
    and now waits for the held ``meetings`` table, inside its transaction; None while there is none."""
    value = await watcher.fetchval(
        "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid"
        " WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.xact_start IS NOT NULL"
        " AND l.relation = 'inbox'::regclass AND l.mode = 'RowExclusiveLock' AND l.granted LIMIT 1"
    )
    return None if value is None else int(value)


async def test_a_consumer_killed_in_the_middle_of_a_batch_applies_every_event_once_after_a_restart(
    matching_alone: tuple[PlatformConfig, ServiceProcesses], kafka_bootstrap: str
) -> None:
    config, matching = matching_alone
    dsn = config.database_url("matching")
    group, consumed = group_of(config, "matching"), list(subscribes_to("matching"))
    events = backlog(uuid.uuid4())
    ids = [event.id for _, _, event in events]
    meetings = list({event.data["meeting_id"] for _, _, event in events})
    watcher = await asyncpg.connect(dsn)
    holder = await asyncpg.connect(dsn)
    held = holder.transaction()
    await held.start()
    await holder.execute("LOCK TABLE meetings IN ACCESS EXCLUSIVE MODE")
    broker = KafkaBroker(kafka_bootstrap)
    try:
        await broker.start()
        for topic, key, event in events:
            await broker.publish(event.model_dump_json().encode(), topic, key=key)

        # Mid-batch: claims made and uncommitted, the transaction waiting, no offset moved past the backlog.
        pid = await eventually(lambda: blocked_mid_batch(watcher), timeout_s=60)
        committed = await watcher.fetchval("SELECT count(*) FROM inbox")
        assert await watcher.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])", ids) == 0
        assert await consumer_lag(kafka_bootstrap, group, consumed) >= len(events)

        proc = matching.procs["matching"]
        os.kill(proc.pid, signal.SIGKILL)
        assert await asyncio.to_thread(proc.wait, 30) == -signal.SIGKILL
        await held.rollback()

        async def backend_gone() -> bool:
            return not await watcher.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)

        await eventually(backend_gone, timeout_s=30)
        # The killed transaction never committed.
        assert await watcher.fetchval("SELECT count(*) FROM inbox") == committed
        mine = "SELECT count(*) FROM candidates WHERE meeting_id::text = ANY($1::text[])"
        assert await watcher.fetchval(mine, meetings) == 0

        matching.start_one("matching")
        await asyncio.to_thread(matching.wait_ready)

        async def caught_up() -> bool:
            proposed = await watcher.fetchval(
                "SELECT count(DISTINCT meeting_id) FROM proposals WHERE meeting_id::text = ANY($1::text[])", meetings
            )
            return proposed == MEETINGS and await consumer_lag(kafka_bootstrap, group, consumed) == 0

        await eventually(caught_up, timeout_s=90, every_s=0.2)

        applied = await watcher.fetch(
            "SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])", group, ids
        )
        assert sorted(r["event_id"] for r in applied) == sorted(ids)  # every event applied, each once
        assert await watcher.fetchval(mine, meetings) == MEETINGS * 2 * PER_GROUP
        # Each meeting proposed once: one version, one matching.pairs_proposed in the outbox.
        versions = await watcher.fetch(
            "SELECT max(version) AS v, count(*) AS n FROM proposals WHERE meeting_id::text = ANY($1::text[])"
            " GROUP BY meeting_id",
            meetings,
        )
        assert len(versions) == MEETINGS and all(r["v"] == 1 and r["n"] == 1 for r in versions)
        proposed = await watcher.fetch(
            "SELECT count(*) AS n FROM outbox WHERE event_type = 'matching.pairs_proposed' AND key = ANY($1::text[])"
            " GROUP BY key",
            meetings,
        )
        assert len(proposed) == MEETINGS and all(r["n"] == 1 for r in proposed)
    finally:
        await broker.stop()
        await holder.close()  # ends the held transaction, if the test did not get that far
        await watcher.close()
