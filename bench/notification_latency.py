"""Delivery latency of notification, from the event to the SMTP server's accept:
``python -m bench.notification_latency [--people 60] [--interval 0.05]``.

Starts PostgreSQL (embedded, unless FMF_DATABASE_URL is set), a Tansu broker (unless FMF_KAFKA_BOOTSTRAP is
set) and an SMTP server that records when it accepts each mail; runs the notification service in-process,
with its own database and consumer group, as the integration tests do (``tests/notification_support.py``).
A meeting and N contacts are published and consumed first; then N ``registration.confirmed`` events, one
every ``--interval`` seconds, as people sign up. Each mail's latency is the SMTP accept time minus the
time its event was published. The target is a p99 below 5 s.

The baseline, from the same run, on the same broker and the same SMTP server: the broker round trip alone
(the same events produced and read back by a plain consumer) and the SMTP session alone (a message of the
same size sent directly). What the service adds is the latency minus those two.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiosmtplib
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.infra import infrastructure
from shared import db
from shared.events import RegistrationChanged, make_event, topic_for
from shared.topics import ensure_topics
from tests.notification_support import (
    Events,
    Person,
    group_of,
    kafka_producer,
    local,
    notification_service,
    rows,
    service_settings,
    settled,
    sms_gateway,
    smtp_server,
    start_at_the_end,
)

TARGET_P99_S = 5.0


def percentiles(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    return f"p50 {p50 * 1000:6.0f} ms, p99 {p99 * 1000:6.0f} ms, max {ordered[-1] * 1000:6.0f} ms"


def p99_of(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]


async def service_latencies(
    dsn: str, bootstrap: str, people_n: int, interval_s: float
) -> tuple[list[float], float, float]:
    """(latency per mail, median event-to-recorded, median recorded-to-sent)."""
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    async with smtp_server() as mailserver, sms_gateway() as gateway, kafka_producer(bootstrap) as producer:
        settings = service_settings(dsn, bootstrap, mailserver, gateway)
        await start_at_the_end(bootstrap, group_of(settings))
        ev = Events(producer)
        people = [Person(f"l{i}", "nb", domain) for i in range(people_n)]
        meeting = uuid.uuid4()
        published: dict[str, float] = {}
        async with notification_service(settings):
            await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
            for p in people:
                await ev.contact(p, meeting)
            await settled(settings)
            for p in people:  # one sign-up at a time, as people sign up
                published[str(p.address)] = await ev.registration("registration.confirmed", p, meeting)
                await asyncio.sleep(interval_s)
            deadline = time.monotonic() + 60
            while len(mailserver.to(domain)) < people_n:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(mailserver.to(domain))} of {people_n} mails after 60 s")
                await asyncio.sleep(0.05)
            await settled(settings)
            record = await rows(settings, "kind = 'registration_confirmed'")
        mails = mailserver.to(domain)
        if sorted(m.to for m in mails) != sorted(published):
            raise RuntimeError("not every person got exactly one confirmation")
        latencies = [m.received_at - published[m.to] for m in mails]
        consumed = statistics.median((r["created_at"] - r["cause_occurred_at"]).total_seconds() for r in record)
        sent = statistics.median((r["sent_at"] - r["created_at"]).total_seconds() for r in record)
        return latencies, consumed, sent


async def broker_round_trips(bootstrap: str, n: int, interval_s: float) -> list[float]:
    """The same kind of event, produced and read back by a plain consumer: the broker's share."""
    topic = topic_for("registration.confirmed")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:  # resolve the end offsets now, before the first event is produced
            await consumer.position(tp)
        tenant = uuid.uuid4()
        sent_at: dict[str, float] = {}
        latencies: list[float] = []

        async def read() -> None:
            while len(latencies) < n:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    now = time.time()
                    for rec in records:
                        key = rec.key.decode() if rec.key else ""
                        if key in sent_at:
                            latencies.append(now - sent_at.pop(key))

        reader = asyncio.create_task(read())
        for _ in range(n):
            data = RegistrationChanged(
                registration_id=uuid.uuid4(),
                participant_id=uuid.uuid4(),
                meeting_id=uuid.uuid4(),
                tenant_id=tenant,
                group="resident",
                status="confirmed",
                language="nb",
            )
            event = make_event("registration.confirmed", tenant, data)
            key = str(uuid.uuid4())
            sent_at[key] = time.time()
            await producer.send_and_wait(topic, event.model_dump_json().encode(), key=key.encode())
            await asyncio.sleep(interval_s)
        await asyncio.wait_for(reader, 30)
        return latencies
    finally:
        await producer.stop()
        await consumer.stop()


async def smtp_sessions(n: int) -> list[float]:
    """One SMTP session per message, directly to a recording SMTP server like the service's: SMTP's share."""
    async with smtp_server() as mailserver:
        body = "Hei!\n\n" + "Du er paameldt Kaffe og prat.\n" * 40
        latencies = []
        for i in range(n):
            started = time.time()
            await aiosmtplib.send(
                f"Subject: Du er paameldt\n\n{body}".encode(),
                sender="noreply@bench.example.no",
                recipients=[f"direct{i}@bench.example.no"],
                hostname="127.0.0.1",
                port=mailserver.port,
            )
            latencies.append(time.time() - started)
        return latencies


async def main_async(people: int, interval_s: float) -> int:
    with infrastructure() as (server_dsn, bootstrap):
        await ensure_topics(bootstrap, 3)
        dsn = db.with_database(server_dsn, f"fmf_bench_latency_{uuid.uuid4().hex[:8]}")
        await db.ensure_database(dsn)
        try:
            load = os.getloadavg()[0]
            print(
                f"notification delivery latency, {people} sign-ups one every {interval_s * 1000:.0f} ms;"
                f" {os.cpu_count()} CPU cores, load average {load:.1f} at the start"
            )
            latencies, consumed, sent = await service_latencies(dsn, bootstrap, people, interval_s)
            broker = await broker_round_trips(bootstrap, people, interval_s)
            smtp = await smtp_sessions(people)
        finally:
            await db.drop_database(dsn)
    p99 = p99_of(latencies)
    print(f"  event published -> SMTP accepted:  {percentiles(latencies)}  (n={len(latencies)})")
    print(f"    median event -> recorded {consumed * 1000:.0f} ms, recorded -> sent {sent * 1000:.0f} ms")
    print("  baseline, same run:")
    print(f"    broker round trip alone:         {percentiles(broker)}  (n={len(broker)})")
    print(f"    SMTP session alone:              {percentiles(smtp)}  (n={len(smtp)})")
    added = statistics.median(latencies) - statistics.median(broker) - statistics.median(smtp)
    print(f"  the service adds, at the median: {added * 1000:.0f} ms")
    verdict = "within" if p99 < TARGET_P99_S else "ABOVE"
    print(f"  p99 {p99:.2f} s: {verdict} the target of {TARGET_P99_S:.0f} s")
    return 0 if p99 < TARGET_P99_S else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notification_latency", description=__doc__)
    parser.add_argument("--people", type=int, default=60, help="sign-ups, one confirmation mail each")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between two sign-ups")
    args = parser.parse_args()
    for noisy in ("faststream", "aiokafka", "mail.log"):  # a line per message would bury the figures
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return asyncio.run(main_async(args.people, args.interval))


if __name__ == "__main__":
    sys.exit(main())
