"""The sender: claims due notifications in batches (one statement, ``FOR UPDATE SKIP LOCKED``), so several
workers and replicas share the work and each notification is handled by exactly one of them. Reminders and
feedback requests are rows with a future ``due_at``: the same loop sends them when their time comes,
also after a restart.

A batch of up to ``FMF_SENDER_BATCH_SIZE`` rows stays locked while its messages go out together over the
mailer's pool of SMTP connections (and the SMS gateway); their outcomes are then recorded with one
statement in the same transaction, together with the ``notification.sent`` / ``notification.failed``
events (outbox, one statement).

One message can never stop the sender: whatever goes wrong while a message is built or handled (bad data
in a title, an address that is not one, a template error) marks that message failed, publishes one
``notification.failed``, and the sender goes on with the others. Logs name the notification, its kind and
the type of the error, never its text: error texts can quote addresses, names and tokens.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from prometheus_client import Histogram

from services.notification import domain, messages, store
from services.notification.failures import PermanentFailure, TemporaryFailure
from services.notification.mailer import Mailer
from services.notification.messages import Facts, MeetingView, TenantView
from services.notification.settings import NotificationSettings
from services.notification.sms import SmsGateway
from shared import metrics, outbox
from shared.events import Envelope, NotificationOutcome, make_event
from shared.service import Runtime
from shared.waker import Waker

log = logging.getLogger(__name__)
SOURCE = "notification"
NOTIFY_CHANNEL = "fmf_notifications"
_DB_TROUBLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

Clock = Callable[[], datetime]

DELIVERY_DELAY = Histogram(
    "fmf_notification_delivery_seconds",
    "From the event that caused a message to its acceptance by the SMTP server or SMS gateway.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    status: str  # sent | failed | retry | skipped | deferred
    channel: str
    error: str | None = None
    due_at: datetime | None = None  # retry and deferred: when it is due again
    attempted: bool = False  # a delivery was attempted (counts towards the attempts)

    def record(self, notification_id: Any) -> store.Outcome:
        """The row's new state, as ``store.record_outcomes`` writes it."""
        return store.Outcome(
            notification_id=notification_id,
            status="pending" if self.status in ("retry", "deferred") else self.status,
            channel=self.channel,
            error=self.error,
            due_at=self.due_at,
            attempted=self.attempted,
            keep_error=self.status == "deferred",
        )


class Sender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: NotificationSettings,
        mailer: Mailer,
        sms: SmsGateway,
        clock: Clock = system_clock,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.mailer = mailer
        self.sms = sms
        self.clock = clock

    async def send_one(self) -> bool:
        """Handle one due notification; False when nothing is due."""
        return await self.send_batch(1) > 0

    async def send_batch(self, limit: int | None = None) -> int:
        """Claim up to ``limit`` (default ``sender_batch_size``) due notifications with one statement, send
        them together, and record their outcomes and events in the claim's transaction; how many were
        claimed (0 when nothing is due). A database error ends the round with nothing recorded: the rows are
        claimed again once the database answers."""
        async with self.pool.acquire() as conn, conn.transaction():
            now = self.clock()
            rows = await store.claim_due_batch(
                conn,
                now,
                domain.WITH_MANAGE_LINK,
                self.settings.manage_link_wait_s,
                limit or self.settings.sender_batch_size,
            )
            if not rows:
                return 0
            outcomes = await asyncio.gather(*(self._handle_safely(row, now) for row in rows))
            await store.record_outcomes(conn, [o.record(row["id"]) for row, o in zip(rows, outcomes, strict=True)])
            events = [_outcome_event(row, o) for row, o in zip(rows, outcomes, strict=True) if o.status in _PUBLISHED]
            if events:
                await outbox.enqueue(conn, SOURCE, events)
            await store.delete_erased_contacts(
                conn,
                [
                    row["participant_id"]
                    for row, o in zip(rows, outcomes, strict=True)
                    if row["kind"] == domain.ERASURE_CONFIRMED and o.status in ("sent", "failed", "skipped")
                ],
            )
        delivered_at = system_clock()
        for row, outcome in zip(rows, outcomes, strict=True):
            metrics.NOTIFICATIONS.labels(channel=outcome.channel, kind=row["kind"], status=outcome.status).inc()
            if outcome.status == "sent" and row["kind"] not in domain.SCHEDULED and row["cause_occurred_at"]:
                DELIVERY_DELAY.labels(channel=outcome.channel).observe(
                    max(0.0, (delivered_at - row["cause_occurred_at"]).total_seconds())
                )
        return len(rows)

    async def _handle_safely(self, row: asyncpg.Record, now: datetime) -> Outcome:
        try:
            return await self._handle(row, now)
        except Exception as exc:
            log.error(
                "notification could not be handled; marked failed",
                extra={"notification_id": str(row["id"]), "kind": row["kind"], **error_facts(exc)},
            )
            return Outcome("failed", row["channel"], f"the message could not be built or handled: {type(exc).__name__}")

    async def _handle(self, row: asyncpg.Record, now: datetime) -> Outcome:
        decision = domain.decide(_situation(row, self.sms.enabled), now)
        secrets = _secrets(row)
        if isinstance(decision, domain.Skip):
            return Outcome("skipped", row["channel"], decision.reason)
        if isinstance(decision, domain.Defer):
            return Outcome("deferred", "sms", due_at=decision.until)
        if isinstance(decision, domain.Fail):
            return Outcome("failed", decision.channel or row["channel"], decision.reason)
        channel, address = decision.channel, decision.address
        try:
            await self._deliver(row, channel, address)
        except TemporaryFailure as exc:
            error = domain.redact(str(exc), *secrets)
            attempts = row["attempts"] + 1
            if attempts < self.settings.sender_max_attempts:
                delay = domain.retry_delay(
                    attempts, self.settings.sender_backoff_base_s, self.settings.sender_backoff_cap_s
                )
                log.warning(
                    "notification delivery failed; retrying",
                    extra={
                        "notification_id": str(row["id"]),
                        "kind": row["kind"],
                        "channel": channel,
                        "attempt": attempts,
                        "error": error,
                    },
                )
                return Outcome("retry", channel, error, due_at=now + delay, attempted=True)
            return Outcome("failed", channel, error, attempted=True)
        except PermanentFailure as exc:
            return Outcome("failed", channel, domain.redact(str(exc), *secrets), attempted=True)
        return Outcome("sent", channel, attempted=True)

    async def _deliver(self, row: asyncpg.Record, channel: domain.Channel, address: str) -> None:
        try:
            facts = _facts(row)
            base_url = self.settings.public_base_url
            rendered = messages.render(facts, channel, base_url)
            msg = (
                self.mailer.message(
                    address,
                    rendered.subject,
                    rendered.body,
                    str(row["id"]),
                    rendered.language,
                    calendar=messages.calendar(facts),
                )
                if channel == "email"
                else None
            )
        except PermanentFailure:
            raise
        except Exception as exc:  # a message that cannot be built will not build on a retry either
            log.error(
                "message could not be built",
                extra={"notification_id": str(row["id"]), "kind": row["kind"], **error_facts(exc)},
            )
            raise PermanentFailure(f"the message could not be built: {type(exc).__name__}") from exc
        if msg is not None:
            await self.mailer.send(msg)
        else:
            await self.sms.send(address, rendered.body, str(row["id"]))


def error_facts(exc: BaseException) -> dict[str, str]:
    """What a log line may say about an error: its type and where it was raised, never its text."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return {"error_type": type(exc).__name__, "error_at": where}


def _secrets(row: asyncpg.Record) -> list[str | None]:
    """What an error text must not keep: the recipient's address, name and the tokens of their links."""
    return [row["email"], row["phone"], row["name"], row["manage_token"], row["confirm_token"]]


def _situation(row: asyncpg.Record, sms_enabled: bool) -> domain.Situation:
    return domain.Situation(
        kind=row["kind"],
        recipient=domain.Recipient(email=row["email"], phone=row["phone"]),
        meeting_starts_at=row["starts_at"],
        meeting_status=row["meeting_status"],
        registration_status=row["registration_status"],
        timezone=row["timezone"],
        sms_enabled=sms_enabled,
        request_closed=bool(row["request_closed"]),
        link_expires_at=row["link_expires_at"],
    )


def _facts(row: asyncpg.Record) -> Facts:
    meeting = None
    if row["meeting_id"] is not None and row["title"] is not None:
        meeting = MeetingView(row["title"], row["starts_at"], row["duration_minutes"], row["timezone"], row["venue"])
    return Facts(
        kind=row["kind"],
        name=row["name"] or "",
        language=row["language"] or "nb",
        meeting=meeting,
        registration_id=row["registration_id"],
        manage_token=row["manage_token"],
        signup_id=row["signup_id"],
        erasure_request_id=row["erasure_request_id"],
        confirm_token=row["confirm_token"],
        link_expires_at=row["link_expires_at"],
        timezone=row["timezone"],
        tenant=TenantView(row["tenant_name"] or "", row["tenant_contact_email"], row["tenant_contact_phone"]),
        details=_with_partners(row["details"] or {}, row.get("seated_partners")),
    )


def _with_partners(details: Mapping[str, Any], seated_partners: int | None) -> Mapping[str, Any]:
    """A reminder after the pairs are published says "two people" to a trio member, as the seat message did."""
    if "partners" in details or not seated_partners:
        return details
    return {**details, "partners": seated_partners}


_PUBLISHED = ("sent", "failed")


def _outcome_event(row: asyncpg.Record, outcome: Outcome) -> tuple[Envelope, Any]:
    """The ``notification.sent`` / ``notification.failed`` event of one outcome, with its partition key."""
    event = make_event(
        f"notification.{outcome.status}",
        row["tenant_id"],
        NotificationOutcome(
            notification_id=row["id"],
            tenant_id=row["tenant_id"],
            meeting_id=row["meeting_id"],
            participant_id=row["participant_id"],
            signup_id=row["signup_id"],
            kind=row["kind"],
            channel="sms" if outcome.channel == "sms" else "email",
            error=outcome.error,
        ),
    )
    event.causation_id = row["cause_event_id"]
    return event, row["meeting_id"] or row["participant_id"] or row["signup_id"]


async def run(sender: Sender, listen_dsn: str, workers: int, poll_interval_s: float) -> None:
    """Send what is due with ``workers`` workers; each wakes on NOTIFY of ``fmf_notifications`` (new
    notifications, contacts, manage links), else every ``poll_interval_s`` seconds."""

    async def worker(waker: Waker) -> None:
        while True:
            try:
                while await sender.send_batch():
                    pass
                await sender.mailer.prune()  # nothing due: connections idle too long go
            except _DB_TROUBLE as exc:
                log.warning("sender round failed; retrying", extra=error_facts(exc))
            except Exception as exc:  # never let one round take the sender down; the next round tries again
                log.error("sender round failed unexpectedly; retrying", extra=error_facts(exc))
            await waker.wait()

    async with Waker(listen_dsn, NOTIFY_CHANNEL, poll_interval_s=poll_interval_s) as waker:
        await asyncio.gather(*(worker(waker) for _ in range(workers)))


def sender_task(clock: Clock = system_clock) -> Callable[[Runtime], Awaitable[None]]:
    """The background task of the service; tests pass a clock they control."""

    async def run_sender(runtime: Runtime[NotificationSettings]) -> None:
        settings = runtime.settings
        mailer, sms = Mailer(settings), SmsGateway(settings)
        sender = Sender(runtime.db, settings, mailer, sms, clock)
        try:
            await run(sender, settings.database_url, settings.sender_workers, settings.sender_poll_interval_s)
        finally:
            await mailer.close()
            await sms.close()

    return run_sender
