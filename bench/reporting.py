"""National report and rebuild over a whole nation: ``python -m bench.reporting [--tenants 357] [--meetings 50]``.

Starts PostgreSQL and the broker (embedded, unless FMF_DATABASE_URL / FMF_KAFKA_BOOTSTRAP are set),
publishes the events of N tenants x M meetings to the real topics, exactly as the other services
would (envelopes as JSON, keyed by meeting), then times:

- the rebuild: ``services.reporting.rebuild`` -- reset the consumer group, empty the read model,
  replay every topic from the beginning through the service's handlers and inbox;
- the national report: the store's query, the small-cell suppression and the JSON, as the route
  ``GET /v1/national/report`` runs them, for all time and for one month; and the dashboard page.

Each meeting, spread over two years: created, published, closed, completed (or cancelled, 1 in 25);
10 newcomers and 12 residents sign up (2 residents wait), one resident cancels and the first waiting
one is promoted; attendance for every place (about 1 in 10 a no-show); feedback from about 70 % of
those who came; the proposed pairs; a confirmation message per sign-up (about 1 in 50 fails, 1 in 5
by SMS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.infra import infrastructure
from services.reporting import pages, reports, store
from services.reporting.rebuild import consumer_group, rebuild
from services.reporting.settings import ReportingSettings
from shared import db, topics

START = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


class Events:
    """Envelopes as the outbox relay publishes them: JSON body, keyed by meeting (or tenant)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    def add(
        self, topic: str, type_: str, tenant: uuid.UUID, key: uuid.UUID, at: datetime, data: dict[str, Any]
    ) -> None:
        body = {
            "id": str(uuid.uuid4()),
            "type": type_,
            "version": 1,
            "tenant_id": str(tenant),
            "occurred_at": at.isoformat(),
            "correlation_id": str(uuid.uuid4()),
            "causation_id": None,
            "data": data,
        }
        self.records.append((topic, str(key).encode(), json.dumps(body).encode()))


def nation(tenants: int, meetings: int, seed: int = 7) -> Events:
    rng = random.Random(seed)
    events = Events()
    for t in range(tenants):
        tenant = uuid.uuid4()
        slug = f"kommune-{t:03d}"
        events.add(
            topics.TENANTS,
            "tenant.created",
            tenant,
            tenant,
            START,
            {"tenant_id": str(tenant), "slug": slug, "name": f"Kommune {t}", "municipality_number": f"{1000 + t}"},
        )
        for _ in range(meetings):
            meeting_events(events, rng, tenant)
    return events


def meeting_events(events: Events, rng: random.Random, tenant: uuid.UUID) -> None:
    meeting = uuid.uuid4()
    starts = START + timedelta(days=rng.randrange(730), hours=rng.randrange(6))
    snapshot = {
        "meeting_id": str(meeting),
        "tenant_id": str(tenant),
        "title": "Kaffe og prat",
        "format": "standard",
        "status": "draft",
        "starts_at": starts.isoformat(),
        "duration_minutes": 105,
        "venue": {"name": "Biblioteket", "address": "Torvet 1", "kind": "library"},
        "capacity": {"newcomer": 10, "resident": 10},
    }
    cancelled = rng.random() < 0.04
    lifecycle = ["created", "published"] + (["cancelled"] if cancelled else ["registration_closed", "completed"])
    status = {"created": "draft", "published": "published", "registration_closed": "registration_closed"}
    at = starts - timedelta(days=20)

    def meeting_event(step: str) -> None:
        snapshot["status"] = status.get(step, step)
        events.add(topics.MEETINGS, f"meeting.{step}", tenant, meeting, at, snapshot)

    for step in lifecycle[:2]:
        meeting_event(step)
    people = [("newcomer", i) for i in range(10)] + [("resident", i) for i in range(12)]
    regs: list[dict[str, Any]] = []
    for group, i in people:
        reg = {
            "registration_id": str(uuid.uuid4()),
            "participant_id": str(uuid.uuid4()),
            "meeting_id": str(meeting),
            "tenant_id": str(tenant),
            "group": group,
            "status": "confirmed" if i < 10 else "waitlisted",
            "language": "nb",
            "profile": {"first_time": rng.random() < 0.4},
        }
        regs.append(reg)
        events.add(topics.REGISTRATIONS, f"registration.{reg['status']}", tenant, meeting, at, reg)
        channel = "sms" if rng.random() < 0.2 else "email"
        outcome = "failed" if rng.random() < 0.02 else "sent"
        notification = {
            "notification_id": str(uuid.uuid4()),
            "tenant_id": str(tenant),
            "meeting_id": str(meeting),
            "participant_id": reg["participant_id"],
            "kind": "registration_confirmed",
            "channel": channel,
        }
        events.add(topics.NOTIFICATIONS, f"notification.{outcome}", tenant, meeting, at, notification)
    leaving, waiting = regs[10 + rng.randrange(10)], regs[20]
    events.add(
        topics.REGISTRATIONS,
        "registration.cancelled",
        tenant,
        meeting,
        at,
        {**leaving, "status": "cancelled", "promoted_registration_id": waiting["registration_id"]},
    )
    events.add(topics.REGISTRATIONS, "registration.promoted", tenant, meeting, at, {**waiting, "status": "confirmed"})
    if cancelled:
        meeting_event("cancelled")
        return
    meeting_event("registration_closed")
    placed = [r for r in regs[:21] if r is not leaving]
    members = [
        {"participant_id": r["participant_id"], "registration_id": r["registration_id"], "group": r["group"],
         "seat": n, "side": "left" if n % 2 else "right"}
        for n, r in enumerate(placed)
    ]  # fmt: skip
    pairs = [{"number": n + 1, "members": [members[n], members[10 + n]]} for n in range(10)]
    events.add(
        topics.MATCHING,
        "matching.pairs_proposed",
        tenant,
        meeting,
        at,
        {"meeting_id": str(meeting), "tenant_id": str(tenant), "version": 1, "pairs": pairs},
    )
    after = starts + timedelta(hours=2)
    for reg in placed:
        came = rng.random() > 0.1
        status_ = "attended" if came else "no_show"
        events.add(topics.REGISTRATIONS, f"registration.{status_}", tenant, meeting, after, {**reg, "status": status_})
        if came and rng.random() < 0.7:
            answer = {
                "registration_id": reg["registration_id"],
                "participant_id": reg["participant_id"],
                "meeting_id": str(meeting),
                "tenant_id": str(tenant),
                "group": reg["group"],
                "rating": rng.choice([3, 4, 4, 5, 5]),
                "new_connection": rng.random() < 0.6,
                "would_recommend": rng.random() < 0.85,
            }
            events.add(topics.FEEDBACK, "feedback.given", tenant, meeting, after, answer)
    meeting_event("completed")


async def publish(bootstrap: str, events: Events) -> float:
    """Publish each key's records in order, one record per produce request."""
    started = time.perf_counter()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, max_batch_size=16)
    await producer.start()
    try:
        by_partition: dict[tuple[str, bytes], list[bytes]] = {}
        for topic, key, value in events.records:
            by_partition.setdefault((topic, key), []).append(value)

        async def send_in_order(topic: str, key: bytes, values: list[bytes]) -> None:
            for value in values:
                await producer.send_and_wait(topic, value, key=key)

        keys = list(by_partition)
        for i in range(0, len(keys), 64):  # 64 keys at a time, each key's records in order
            await asyncio.gather(*(send_in_order(t, k, by_partition[(t, k)]) for t, k in keys[i : i + 64]))
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def national(settings: ReportingSettings, first: Any = None, last: Any = None) -> tuple[float, float, int]:
    """Seconds for the report (query + suppression + JSON), seconds for the page, cells hidden."""
    pool = await db.create_pool(settings.database_url)
    try:
        started = time.perf_counter()
        async with pool.acquire() as conn:
            grouped = await store.grouped_figures(conn, first, last)
            known = await store.tenants(conn)
        report = reports.national_report(first, last, grouped, known)
        json.dumps(report.as_json())
        report_s = time.perf_counter() - started
        started = time.perf_counter()
        pages.national_page(report)
        page_s = time.perf_counter() - started
        hidden = sum(isinstance(v, str) for cells in report.tenants.values() for v in cells.values())
        return report_s, page_s, hidden
    finally:
        await pool.close()


async def run(tenants: int, meetings: int) -> None:
    with infrastructure() as (server_dsn, bootstrap):
        dsn = db.with_database(server_dsn, f"bench_reporting_{uuid.uuid4().hex[:8]}")
        settings = ReportingSettings(
            database_url=dsn,
            kafka_bootstrap=bootstrap,
            consumer_group_prefix=f"bench{uuid.uuid4().hex[:6]}",
            kafka_session_timeout_ms=3000,
            kafka_heartbeat_interval_ms=500,
        )
        await topics.ensure_topics(bootstrap, settings.topic_partitions)
        try:
            started = time.perf_counter()
            events = nation(tenants, meetings)
            print(f"generated {len(events.records):,} events in {time.perf_counter() - started:.1f} s")
            print(f"published in {await publish(bootstrap, events):.1f} s")
            done = await rebuild(settings)
            print(
                f"rebuild ({consumer_group(settings)}): {done.events:,} events applied in {done.seconds:.1f} s"
                f" ({done.events / done.seconds:,.0f} events/s), {done.skipped} skipped"
            )
            for label, first, last in (
                ("all time", None, None),
                ("one month", datetime(2026, 3, 1).date(), datetime(2026, 3, 31).date()),
            ):
                timings = [await national(settings, first, last) for _ in range(3)]
                best = min(timings)
                print(
                    f"national report, {label}: {best[0] * 1000:.0f} ms (best of 3; page {best[1] * 1000:.0f} ms;"
                    f" {best[2]} tenant cells hidden)"
                )
        finally:
            await db.drop_database(dsn)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reporting", description=__doc__)
    parser.add_argument("--tenants", type=int, default=357)
    parser.add_argument("--meetings", type=int, default=50, help="meetings per tenant")
    args = parser.parse_args()
    asyncio.run(run(args.tenants, args.meetings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
