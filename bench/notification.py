"""Throughput of the notification sender: ``python -m bench.notification [--messages 2000] [--workers 1,4,8]``.

Two ways in the same run, on the same rows: one connection per message and one claim per message
(``FMF_SMTP_MESSAGES_PER_CONNECTION=1``, ``FMF_SENDER_BATCH_SIZE=1``), then pooled and batched (the
settings' defaults: a pool of ``FMF_SMTP_POOL_SIZE`` connections that each carry many messages, claims of
``FMF_SENDER_BATCH_SIZE``); it prints the messages per second of each and their ratio.

Starts PostgreSQL (embedded, unless FMF_DATABASE_URL is set) and an SMTP sink as its own process
(aiosmtpd's ``Sink`` handler, which accepts and drops every mail). It records N due notifications --
with contacts, manage links and a meeting -- in a fresh database and times the real sender
(``services.notification.sender``) draining them. Per message that is the whole path: claim the row
with ``FOR UPDATE SKIP LOCKED``, decide the channel, render the template and the .ics attachment, send it
over SMTP, record the outcome and its ``notification.sent`` event in the outbox, commit. The broker is not involved: the
relay that publishes the outbox runs apart from the sender.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.infra import postgres_server
from deploy.local.embedded import free_port, wait_for_port
from services.notification import sender as sending
from services.notification.mailer import Mailer
from services.notification.settings import NotificationSettings
from services.notification.sms import SmsGateway
from shared import db

MIGRATIONS = Path(sending.__file__).with_name("migrations")


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc=proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


async def prepare(dsn: str, messages: int) -> None:
    """A meeting, and for each of ``messages`` people a contact, a registration, a manage link and a
    due confirmation."""
    conn = await asyncpg.connect(dsn)
    await db.init_connection(conn)
    try:
        tenant, meeting = uuid.uuid4(), uuid.uuid4()
        starts = datetime.now(UTC) + timedelta(days=7)
        venue = {"name": "Arendal bibliotek", "address": "Torvet 6, 4836 Arendal", "kind": "library"}
        await conn.execute(
            "INSERT INTO meetings (meeting_id, tenant_id, title, status, starts_at, duration_minutes, timezone, venue)"
            " VALUES ($1, $2, 'Kaffe og prat', 'published', $3, 105, 'Europe/Oslo', $4)",
            meeting,
            tenant,
            starts,
            venue,
        )
        people = [(uuid.uuid4(), uuid.uuid4(), i) for i in range(messages)]
        await conn.executemany(
            "INSERT INTO contacts (participant_id, tenant_id, name, email, language) VALUES ($1, $2, $3, $4, $5)",
            [
                (p, tenant, f"Deltaker {i}", f"deltaker{i}@bench.example.no", ("nb", "nn", "en")[i % 3])
                for p, _, i in people
            ],
        )
        await conn.executemany(
            "INSERT INTO registrations (registration_id, tenant_id, meeting_id, participant_id, status)"
            " VALUES ($1, $2, $3, $4, 'confirmed')",
            [(r, tenant, meeting, p) for p, r, _ in people],
        )
        await conn.executemany(
            "INSERT INTO manage_links (registration_id, participant_id, meeting_id, tenant_id, manage_token)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(r, p, meeting, tenant, uuid.uuid4().hex + uuid.uuid4().hex[:11]) for p, r, _ in people],
        )
        await conn.executemany(
            "INSERT INTO notifications (id, tenant_id, cause_event_id, cause_occurred_at, participant_id,"
            " meeting_id, registration_id, kind, channel)"
            " VALUES ($1, $2, $3, now(), $4, $5, $6, 'registration_confirmed', 'email')",
            [(uuid.uuid4(), tenant, uuid.uuid4(), p, meeting, r) for p, r, _ in people],
        )
    finally:
        await conn.close()


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE notifications SET status = 'pending', attempts = 0, due_at = now(), sent_at = NULL,"
            " last_error = NULL"
        )
        await conn.execute("DELETE FROM outbox")
    finally:
        await conn.close()


# (label, settings overrides): the old way first, then the pool.
MODES: list[tuple[str, dict[str, int]]] = [
    ("one connection and one claim per message", {"smtp_messages_per_connection": 1, "sender_batch_size": 1}),
    ("pooled connections, batched claims", {}),
]


async def drain(dsn: str, settings: NotificationSettings, workers: int, messages: int) -> tuple[float, float, int]:
    """Seconds the sender takes to send every pending notification, the CPU seconds this process spent on
    it (the sender's own cost, whatever else the machine is doing), and the SMTP connections it opened."""
    pool = await db.create_pool(dsn, 2, workers + 2)
    mailer, sms = Mailer(settings), SmsGateway(settings)
    sender = sending.Sender(pool, settings, mailer, sms)
    started, cpu_started = time.perf_counter(), time.process_time()
    task = asyncio.create_task(sending.run(sender, dsn, workers, poll_interval_s=0.05))
    try:
        while True:
            pending = await pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'pending'")
            if pending == 0:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        sent = await pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'")
        events = await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'notification.sent'")
        if sent != messages or events != messages:
            raise RuntimeError(f"expected {messages} sent with events, got {sent} sent and {events} events")
        return elapsed, cpu, mailer.connections_opened
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await mailer.close()
        await sms.close()
        await pool.close()


async def main_async(messages: int, worker_counts: list[int]) -> None:
    with postgres_server() as server, smtp_sink() as smtp_port:
        dsn = db.with_database(server, f"fmf_bench_notification_{uuid.uuid4().hex[:8]}")
        await db.ensure_database(dsn)
        try:
            await db.migrate(dsn, MIGRATIONS)
            await prepare(dsn, messages)
            base = NotificationSettings(
                database_url=dsn, smtp_port=smtp_port, public_base_url="https://pamelding.example.no"
            )
            load = os.getloadavg()[0]
            print(
                f"notification sender, {messages} e-mails (with their .ics) to a local SMTP sink;"
                f" {os.cpu_count()} CPU cores, load average {load:.1f} at the start;"
                f" pool {base.smtp_pool_size} connections, claims of {base.sender_batch_size}"
            )
            rates: dict[tuple[str, int], float] = {}
            for label, overrides in MODES:
                settings = base.model_copy(update=overrides)
                print(f"  {label}:")
                for workers in worker_counts:
                    await reset(dsn)
                    elapsed, cpu, connections = await drain(dsn, settings, workers, messages)
                    rates[(label, workers)] = messages / elapsed
                    print(
                        f"    {workers:2d} worker(s): {messages / elapsed:7.0f} messages/s  ({elapsed:.2f} s;"
                        f" sender CPU {cpu / messages * 1000:.1f} ms per message; {connections} SMTP connections)"
                    )
            (old, _), (new, _) = MODES
            for workers in worker_counts:
                ratio = rates[(new, workers)] / rates[(old, workers)]
                print(f"  {workers:2d} worker(s): pooled and batched sends {ratio:.1f}x as many messages per second")
        finally:
            await db.drop_database(dsn)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notification", description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", default="1,4,8", help="comma-separated worker counts to measure")
    args = parser.parse_args()
    asyncio.run(main_async(args.messages, [int(w) for w in args.workers.split(",")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
