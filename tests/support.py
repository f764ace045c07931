"""Test helpers: an SMTP server that records mail, waiting for the platform to go quiet, polling."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiosmtpd.controller import Controller

from shared import topics

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
