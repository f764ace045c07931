"""What the reliability test and the fault benchmark (``bench/faults.py``) both need: who consumes which
topic and routes which event type, poison of three kinds published to every partition of every consumed
topic, the dead letters on the broker, the events each consumer group should have applied but has not
(from the four outboxes and inboxes), the ignored-event counters from ``/metrics``, and the operator's
dead-letter replay run as the command line an operator would use."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from deploy.local.platform import SERVICES, PlatformConfig
from shared import topics
from shared.consumer import UNKNOWN_TYPE
from shared.events import EVENT_TYPES
from tests.support import end_offsets, read_all

UNKNOWN_EVENT_TYPE = "poison.no_such_type"
POISON_KINDS = ("unparseable", "invalid_payload", "unknown_type")


def group_of(platform: PlatformConfig, service: str) -> str:
    return f"{platform.consumer_group_prefix}-{service}"


def subscribes_to(service: str) -> tuple[str, ...]:
    return tuple(importlib.import_module(f"services.{service}.handlers").SUBSCRIBES_TO)


def routed_types(service: str) -> frozenset[str]:
    """The event types the service's handler table routes (what its consumer group applies)."""
    return frozenset(importlib.import_module(f"services.{service}.handlers").HANDLERS)


def consumers_of(topic: str) -> tuple[str, ...]:
    """The services whose consumer group reads ``topic``."""
    return tuple(s for s in SERVICES if topic in subscribes_to(s))


def consumed_topics() -> tuple[str, ...]:
    return tuple(t for t in topics.ALL if consumers_of(t))


def invalid_payload_type(topic: str) -> str:
    """An event type of ``topic`` routed by as many of its consumers as possible: a payload of it that does
    not validate is dead-lettered by each of those."""
    candidates = [t for t, (on, _) in EVENT_TYPES.items() if on == topic]
    return max(candidates, key=lambda t: (sum(t in routed_types(s) for s in consumers_of(topic)), t))


@dataclass(frozen=True)
class Poison:
    """One poison message: ``key`` is unique, so its dead letters are found by it."""

    topic: str
    partition: int
    kind: str
    key: str
    event_id: str | None  # the envelope's id (the unparseable message has none)
    dead_letter_groups: frozenset[str]  # the consumer groups that must dead-letter it (once each)
    ignoring_groups: frozenset[str]  # the groups that must skip it and count it as an unknown type


def _poison_body(kind: str, topic: str, event_id: str) -> bytes:
    if kind == "unparseable":
        return b"\xff\xfe{not an envelope at all"
    tenant = str(uuid.uuid4())
    if kind == "invalid_payload":
        envelope = {"id": event_id, "type": invalid_payload_type(topic), "tenant_id": tenant, "data": {"bogus": 1}}
    else:
        envelope = {"id": event_id, "type": UNKNOWN_EVENT_TYPE, "tenant_id": tenant, "data": {"meeting_id": "x"}}
    return json.dumps(envelope).encode()


async def publish_poison(platform: PlatformConfig, label: str) -> list[Poison]:
    """Poison of every kind on every partition of every consumed topic; returns what was sent."""
    parts = await end_offsets(platform.kafka_bootstrap, list(consumed_topics()))
    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka_bootstrap)
    await producer.start()
    sent: list[Poison] = []
    try:
        for tp in sorted(parts):
            groups = {s: group_of(platform, s) for s in consumers_of(tp.topic)}
            for kind in POISON_KINDS:
                event_id = str(uuid.uuid4())
                if kind == "unparseable":
                    dead, ignoring = frozenset(groups.values()), frozenset[str]()
                elif kind == "invalid_payload":
                    routing = {g for s, g in groups.items() if invalid_payload_type(tp.topic) in routed_types(s)}
                    dead, ignoring = frozenset(routing), frozenset[str]()
                else:
                    dead, ignoring = frozenset[str](), frozenset(groups.values())
                poison = Poison(
                    tp.topic,
                    tp.partition,
                    kind,
                    f"poison-{label}-{tp.topic}-{tp.partition}-{kind}",
                    None if kind == "unparseable" else event_id,
                    dead,
                    ignoring,
                )
                await producer.send_and_wait(
                    tp.topic,
                    _poison_body(kind, tp.topic, event_id),
                    key=poison.key.encode(),
                    partition=tp.partition,
                )
                sent.append(poison)
        return sent
    finally:
        await producer.stop()


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the dead-letter topic
    partition: int
    offset: int
    key: str
    group: str
    error: str

    @property
    def ref(self) -> str:
        """``<dlq topic>:<partition>:<offset>``, as a replayed copy names its dead letter (``x-replay-of``)."""
        return f"{self.topic}:{self.partition}:{self.offset}"


async def dead_letters(bootstrap: str) -> list[DeadLetter]:
    """Every record on every dead-letter topic, with the group that dead-lettered it."""
    found = []
    for record in await read_all(bootstrap, [topics.dlq(t) for t in topics.ALL]):
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        key = record.key.decode(errors="replace") if record.key else ""
        found.append(
            DeadLetter(
                record.topic,
                record.partition,
                record.offset,
                key,
                headers.get("x-consumer-group", ""),
                headers.get("x-error", ""),
            )
        )
    return found


async def replayed_copies(bootstrap: str) -> Counter[str]:
    """How many copies of each dead letter (by ref) a replay sent back to the original topics: the records
    there with an ``x-replay-of`` header."""
    copies: Counter[str] = Counter()
    for record in await read_all(bootstrap, list(consumed_topics())):
        for name, value in record.headers:
            if name == "x-replay-of":
                copies[value.decode(errors="replace")] += 1
    return copies


def dead_letters_of(letters: list[DeadLetter], poison: list[Poison]) -> Counter[tuple[str, str]]:
    """How many dead letters each (poison key, group) has."""
    keys = {p.key for p in poison}
    return Counter((d.key, d.group) for d in letters if d.key in keys)


async def _fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def published_events(platform: PlatformConfig) -> list[asyncpg.Record]:
    """(event_id, event_type, topic, body) of every event in the four outboxes (tombstones left out)."""
    rows: list[asyncpg.Record] = []
    for name in SERVICES:
        rows += await _fetch(
            platform.database_url(name),
            "SELECT event_id, event_type, topic, body::text AS body, created_at FROM outbox WHERE body IS NOT NULL",
        )
    return rows


async def applied(platform: PlatformConfig, service: str) -> set[uuid.UUID]:
    """The event ids the service's consumer group claimed in its inbox."""
    rows = await _fetch(
        platform.database_url(service), "SELECT event_id FROM inbox WHERE consumer = $1", group_of(platform, service)
    )
    return {r["event_id"] for r in rows}


@dataclass
class Accounting:
    """Per service, the events of the outboxes it should have applied (on a topic it reads, of a type it
    routes), and of those the ones missing from its inbox."""

    expected: dict[str, int] = field(default_factory=dict)
    missing: dict[str, set[uuid.UUID]] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return sum(len(m) for m in self.missing.values())


async def account(platform: PlatformConfig, events: list[asyncpg.Record] | None = None) -> Accounting:
    events = events if events is not None else await published_events(platform)
    result = Accounting()
    for name in SERVICES:
        reads, routes = set(subscribes_to(name)), routed_types(name)
        wanted = {e["event_id"] for e in events if e["topic"] in reads and e["event_type"] in routes}
        result.expected[name] = len(wanted)
        result.missing[name] = wanted - await applied(platform, name)
    return result


async def unpublished(platform: PlatformConfig, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``ids`` still waiting in an outbox (not published yet)."""
    waiting: set[uuid.UUID] = set()
    for name in SERVICES:
        rows = await _fetch(
            platform.database_url(name),
            "SELECT event_id FROM outbox WHERE published_at IS NULL AND event_id = ANY($1::uuid[])",
            list(ids),
        )
        waiting |= {r["event_id"] for r in rows}
    return waiting


async def poison_applied(platform: PlatformConfig, poison: list[Poison]) -> dict[str, int]:
    """Per service, how many poison envelopes its inbox claimed (it must be none)."""
    ids = [uuid.UUID(p.event_id) for p in poison if p.event_id]
    counts = {}
    for name in SERVICES:
        rows = await _fetch(
            platform.database_url(name), "SELECT count(*) AS n FROM inbox WHERE event_id = ANY($1::uuid[])", ids
        )
        counts[name] = int(rows[0]["n"])
    return counts


async def ignored_unknown(platform: PlatformConfig) -> dict[str, float]:
    """Per consumer group, ``fmf_events_ignored_total{type="unknown"}`` from its service's ``/metrics``."""
    counts: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for name in SERVICES:
            text = (await http.get(platform.url(name) + "/metrics")).text
            group = group_of(platform, name)
            counts[group] = sum(
                float(line.rsplit(" ", 1)[-1])
                for line in text.splitlines()
                if line.startswith("fmf_events_ignored_total{")
                and f'group="{group}"' in line
                and f'type="{UNKNOWN_TYPE}"' in line
            )
    return counts


def cli_env(platform: PlatformConfig) -> dict[str, str]:
    """The environment the operator's command line gets on this platform."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMF_")}
    env.update(
        {
            "FMF_KAFKA_BOOTSTRAP": platform.kafka_bootstrap,
            "FMF_CONSUMER_GROUP_PREFIX": platform.consumer_group_prefix,
            "FMF_OPERATOR_TOKEN": platform.operator_token,
            "FMF_REGISTRATION_URL": platform.url("registration"),
        }
    )
    env.update({k: v for k, v in platform.extra_env.items() if k == "FMF_TOPIC_PARTITIONS"})
    return env


def fmf(platform: PlatformConfig, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``fmf <args>`` (the operator's command line) against this platform."""
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        env=cli_env(platform),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def dlq_replay_usage(platform: PlatformConfig) -> str:
    return fmf(platform, "dlq", "replay", "--help").stdout


async def dlq_replay(platform: PlatformConfig) -> list[subprocess.CompletedProcess[str]]:
    """``fmf dlq replay`` for every consumed topic (the command takes one topic at a time, or all of them
    when it takes no topic); raises if a run fails."""
    usage = await asyncio.to_thread(dlq_replay_usage, platform)
    usage_line = next((line for line in usage.splitlines() if line.strip().startswith("Usage:")), "")
    takes_topic = "topic" in usage_line.split("[OPTIONS]")[-1].lower()  # a positional argument TOPIC
    runs = []
    for args in [("dlq", "replay", t) for t in consumed_topics()] if takes_topic else [("dlq", "replay")]:
        run = await asyncio.to_thread(fmf, platform, *args)
        if run.returncode != 0:
            raise RuntimeError(f"fmf {' '.join(args)} exited {run.returncode}: {run.stderr or run.stdout}")
        runs.append(run)
    return runs
