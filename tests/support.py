"""Test helpers: an SMTP server that records mail, polling, and waiting until the platform has done
everything it can (outboxes drained, every consumer group at the end of its topics, nothing due unsent)."""

from __future__ import annotations

import asyncio
import email
import importlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiosmtpd.controller import Controller

from deploy.local.platform import SERVICES, PlatformConfig
from shared import topics
from shared.settings import Settings

T = TypeVar("T")


@dataclass
class ReceivedMail:
    received_at: float
    to: list[str]
    message: Message


class RecordingSmtpHandler:
    def __init__(self) -> None:
        self.mails: list[ReceivedMail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = ReceivedMail(time.time(), list(envelope.rcpt_tos), email.message_from_bytes(envelope.content))
        with self.lock:
            self.mails.append(mail)
        return "250 OK"

    def to_domain(self, domain: str) -> list[ReceivedMail]:
        with self.lock:
            return [m for m in self.mails if any(addr.endswith("@" + domain) for addr in m.to)]


def start_smtp(port: int) -> tuple[Controller, RecordingSmtpHandler]:
    handler = RecordingSmtpHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, handler


async def eventually(check: Callable[[], Awaitable[T | None]], timeout_s: float = 30.0, every_s: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value after the timeout."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s} s; last value: {last!r}")


async def end_offsets(bootstrap: str, names: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in names for p in (consumer.partitions_for_topic(t) or ())]
        if not parts:
            await consumer.topics()
            parts = [TopicPartition(t, p) for t in names for p in (consumer.partitions_for_topic(t) or ())]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def consumer_lag(bootstrap: str, group: str, names: list[str]) -> int:
    """Sum over partitions of the high-water mark minus the group's committed offset."""
    ends = await end_offsets(bootstrap, names)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        lag = 0
        for tp, end in ends.items():
            committed = await consumer.committed(tp) or 0
            lag += max(0, end - committed)
        return lag
    finally:
        await consumer.stop()


async def outbox_backlog(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    finally:
        await conn.close()


async def read_all(bootstrap: str, names: list[str]) -> list[Any]:
    """Every record currently on the given topics, from the beginning."""
    ends = await end_offsets(bootstrap, names)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        wanted = [tp for tp, end in ends.items() if end > 0]
        if not wanted:
            return records
        consumer.assign(wanted)
        await consumer.seek_to_beginning(*wanted)
        remaining = {tp: ends[tp] for tp in wanted}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, recs in batch.items():
                records.extend(recs)
                if recs and recs[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
        return records
    finally:
        await consumer.stop()


DOMAIN_TOPICS = list(topics.ALL)


async def sender_backlog(dsn: str, now: datetime, link_wait_s: float) -> list[str]:
    """What notification's sender still has to do at ``now``: the kinds of the notifications it could
    claim (found with its own query, and nothing kept), and of those it holds at the moment (locked by a
    sender, still pending: going out right now). Empty when the sender has done everything it can."""
    from services.notification import domain, store

    conn = await asyncpg.connect(dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            claimable = await store.claim_due(conn, now, domain.WITH_MANAGE_LINK, link_wait_s)
            due = "SELECT id, kind FROM notifications WHERE status = 'pending' AND due_at <= $1"
            pending = {r["id"]: r["kind"] for r in await conn.fetch(due, now)}
            free = {r["id"] for r in await conn.fetch(due + " FOR UPDATE SKIP LOCKED", now)}
        finally:
            await tx.rollback()
    finally:
        await conn.close()
    held = [f"{kind} (being sent)" for id_, kind in pending.items() if id_ not in free]
    return ([claimable["kind"]] if claimable is not None else []) + held


def notification_settings_class() -> type[Settings]:
    """The settings class notification reads (its own, where the service spec names one)."""
    from services.notification import app

    return getattr(app.SPEC, "settings_class", Settings)


def manage_link_wait_s(platform: PlatformConfig) -> float:
    """How long notification's sender waits for a manage link on this platform."""
    configured = platform.extra_env.get("FMF_MANAGE_LINK_WAIT_S")
    default = notification_settings_class().model_fields["manage_link_wait_s"].default
    return float(configured) if configured else float(default)


async def platform_backlog(platform: PlatformConfig, services: tuple[str, ...] = SERVICES) -> dict[str, Any]:
    """What the platform's services still have to do: unpublished outbox rows, events their consumer groups
    have not committed, and notifications due now that are not sent. Empty when everything is done."""
    backlog: dict[str, Any] = {}
    for name in services:
        if unpublished := await outbox_backlog(platform.database_url(name)):
            backlog[f"{name} outbox"] = unpublished
    for name in services:
        group = f"{platform.consumer_group_prefix}-{name}"
        subscribed = list(importlib.import_module(f"services.{name}.handlers").SUBSCRIBES_TO)
        if lag := await consumer_lag(platform.kafka_bootstrap, group, subscribed):
            backlog[f"{name} lag"] = lag
    if "notification" in services:
        dsn = platform.database_url("notification")
        if due := await sender_backlog(dsn, datetime.now(UTC), manage_link_wait_s(platform)):
            backlog["notification sender"] = due
    return backlog


async def wait_until_quiet(platform: PlatformConfig, timeout_s: float = 60.0) -> None:
    """Every outbox drained, every service's consumer group at the end of the topics it reads, and no
    notification due that notification's sender has not sent (checked together, in one round)."""
    state: dict[str, Any] = {}

    async def quiet() -> bool:
        state["backlog"] = await platform_backlog(platform)
        return not state["backlog"]

    try:
        await eventually(quiet, timeout_s=timeout_s, every_s=0.5)
    except AssertionError as exc:
        raise AssertionError(f"not quiet: {state}") from exc


def mail_text(message: Message) -> str:
    """The plain-text body of a received mail, decoded."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/plain part in {message['Subject']!r}")
