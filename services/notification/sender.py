"""The sender loop: picks due notifications one at a time (``FOR UPDATE SKIP LOCKED``), so several
workers and replicas share the work and each notification is sent by exactly one of them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime, timedelta

import asyncpg

from services.notification import store, templates
from services.notification.mailer import Mailer, PermanentFailure, TemporaryFailure
from shared import metrics, outbox
from shared.events import NotificationOutcome, make_event
from shared.service import Runtime

log = logging.getLogger(__name__)
SOURCE = "notification"
MAX_ATTEMPTS = 8
WORKERS = 4


def backoff(attempt: int, base_s: float = 2.0, cap_s: float = 900.0) -> timedelta:
    """Exponential backoff with full jitter."""
    return timedelta(seconds=random.uniform(0, min(cap_s, base_s * 2**attempt)))


async def send_one(pool: asyncpg.Pool, mailer: Mailer) -> bool:
    """Send one due notification; False when nothing is due."""
    async with pool.acquire() as conn, conn.transaction():
        row = await store.claim_due(conn)
        if row is None:
            return False
        context = {
            "name": row["name"],
            **templates.meeting_context(
                row["title"], row["starts_at"], row["duration_minutes"], row["timezone"], row["venue"]
            ),
        }
        rendered = templates.render(row["kind"], row["language"], context)
        outcome = "sent"
        error: str | None = None
        try:
            if not row["email"]:
                raise PermanentFailure("no e-mail address")
            await mailer.send(mailer.message(row["email"], rendered.subject, rendered.body, str(row["id"])))
            await store.mark_sent(conn, row["id"])
        except TemporaryFailure as exc:
            error = str(exc)
            if row["attempts"] + 1 < MAX_ATTEMPTS:
                await store.retry_later(conn, row["id"], datetime.now(UTC) + backoff(row["attempts"]), error)
                metrics.NOTIFICATIONS.labels(channel=row["channel"], kind=row["kind"], status="retry").inc()
                return True
            outcome = "failed"
        except PermanentFailure as exc:
            error, outcome = str(exc), "failed"
        if outcome == "failed":
            await store.mark_failed(conn, row["id"], error or "")
        event = make_event(
            f"notification.{outcome}",
            row["tenant_id"],
            NotificationOutcome(
                notification_id=row["id"],
                tenant_id=row["tenant_id"],
                meeting_id=row["meeting_id"],
                participant_id=row["participant_id"],
                kind=row["kind"],
                channel=row["channel"],
                error=error,
            ),
        )
        await outbox.enqueue(conn, SOURCE, [(event, row["meeting_id"] or row["participant_id"])])
    metrics.NOTIFICATIONS.labels(channel=row["channel"], kind=row["kind"], status=outcome).inc()
    return True


async def run_sender(runtime: Runtime) -> None:
    """Send what is due; wake on NOTIFY from new notifications, poll for retries and late contacts."""
    wake = asyncio.Event()
    listener = await asyncpg.connect(runtime.settings.database_url)
    await listener.add_listener("fmf_notifications", lambda *_: wake.set())
    mailer = Mailer(runtime.settings)

    async def worker() -> None:
        while True:
            try:
                while await send_one(runtime.db, mailer):
                    pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("sender round failed; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), runtime.settings.sender_poll_interval_s)
            wake.clear()

    try:
        await asyncio.gather(*(worker() for _ in range(WORKERS)))
    finally:
        await listener.close()
