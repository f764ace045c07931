"""Noticing that the broker lost its log, and recovering from it without anyone's help.

The outbox is the source of truth; a topic is only its copy. A broker that lost its storage (the embedded
one keeps everything in memory: a restart empties it) comes back with no topics, no records and no
committed offsets, and many clients even recreate topics by asking for them. So the platform marks each
log with an **epoch**: a random id, the first record of ``fmf.broker-epoch.v1``, written whenever the
topics are (re)created (``ensure_epoch``). A different epoch, or none, means a different log.

- The outbox relay (``LogGuard``) looks every few seconds, and after any failed round: is every topic
  there, is the epoch the one its database last published into (``outbox_broker_epoch``), does no
  partition end below an offset a send of its own was acknowledged at? If not, it recreates the topics and
  the epoch and puts every kept outbox row back to unpublished, in one statement, under the relay's
  advisory lock (so once per database, whatever the number of replicas); the relay then publishes them
  again in ``seq`` order.
- A service's consumers (``ConsumerRewinder``) read the epoch when partitions are assigned and every few
  seconds. Under a new epoch, or when the group's committed offset lies beyond a partition's end, every
  assigned partition goes back to its beginning: the inbox makes the repeats no-ops, and nothing that
  lands below the old position is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared import metrics, topics
from shared.db import Conn

log = logging.getLogger(__name__)

EPOCH_TOPIC = "fmf.broker-epoch.v1"
EPOCH_PARTITION = TopicPartition(EPOCH_TOPIC, 0)
READ_TIMEOUT_MS = 3000
# The epoch is the topic's first record, so it must stay: no retention by time or size (a broker's default
# of a week would otherwise make every service take the log for lost once a week), and no compaction.
EPOCH_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


class BrokerProbe:
    """Reads what the broker holds (topics, offsets, the epoch) with a client of its own that never joins
    a consumer group and never asks for a topic by name before it knows the topic exists (asking creates it
    on brokers that create topics on demand)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._consumer: AIOKafkaConsumer | None = None

    async def _client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False, request_timeout_ms=10_000
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        """Stop the client (it starts again on the next question)."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def topics(self) -> set[str]:
        """Names of the topics the broker has now (fresh metadata). Raises ``KafkaError`` when unreachable."""
        try:
            return set(await (await self._client()).topics())
        except KafkaError:
            await self.close()
            raise

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The end offset (next offset to be written) of each partition that exists."""
        wanted = list(partitions)
        if not wanted:
            return {}
        existing = await self.topics()
        known = [tp for tp in wanted if tp.topic in existing]
        if not known:
            return {}
        try:
            return dict(await (await self._client()).end_offsets(known))
        except KafkaError:
            await self.close()
            raise

    async def epoch(self) -> str | None:
        """The broker's epoch: the first record kept on ``fmf.broker-epoch.v1``; None when the topic is
        missing or empty (a broker whose log nobody has marked yet). Raises ``KafkaError`` when unreachable."""
        if EPOCH_TOPIC not in await self.topics():
            return None
        consumer = await self._client()
        try:
            first = (await consumer.beginning_offsets([EPOCH_PARTITION]))[EPOCH_PARTITION]
            end = (await consumer.end_offsets([EPOCH_PARTITION]))[EPOCH_PARTITION]
            if end <= first:
                return None
            consumer.assign([EPOCH_PARTITION])
            consumer.seek(EPOCH_PARTITION, first)
            batch = await consumer.getmany(EPOCH_PARTITION, timeout_ms=READ_TIMEOUT_MS, max_records=1)
        except KafkaError:
            await self.close()
            raise
        records = batch.get(EPOCH_PARTITION, [])
        if not records or not records[0].value:
            raise KafkaError("the broker's epoch could not be read")
        return bytes(records[0].value).decode()


async def ensure_epoch(bootstrap: str, replication: int = 1) -> str:
    """Make sure the broker's log is marked with an epoch and return it: create ``fmf.broker-epoch.v1``
    (one partition) if missing and write a random id when it is empty. Processes racing each other may
    both write; the first record is the epoch, so they all agree. Raises ``KafkaError`` when unreachable."""
    admin = await topics.connect_admin(bootstrap)
    try:
        if EPOCH_TOPIC not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(EPOCH_TOPIC, 1, replication, topic_configs=dict(EPOCH_CONFIG))])
    finally:
        await admin.close()
    probe = BrokerProbe(bootstrap)
    try:
        epoch = await probe.epoch()
        if epoch is not None:
            return epoch
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(EPOCH_TOPIC, uuid.uuid4().hex.encode(), partition=0)
        finally:
            await producer.stop()
        epoch = await probe.epoch()
        if epoch is None:
            raise KafkaError("the broker's epoch was written but cannot be read back")
        log.info("marked the broker's log with a new epoch", extra={"epoch": epoch})
        return epoch
    finally:
        await probe.close()


async def recreate_topics(bootstrap: str, partitions: int, replication: int = 1) -> str:
    """Every topic (``shared.topics.ensure_topics``), then the epoch; returns the epoch."""
    await topics.ensure_topics(bootstrap, partitions, replication)
    return await ensure_epoch(bootstrap, replication)


# --- the relay's side: is the log still the one the outbox was published into? ---------------------------


async def stored_epoch(conn: Conn) -> str | None:
    """The epoch of the log this database's outbox was last published into (None: never recorded)."""
    value = await conn.fetchval("SELECT epoch FROM outbox_broker_epoch")
    return None if value is None else str(value)


async def store_epoch(conn: Conn, epoch: str) -> None:
    """Record that this database's outbox is published into the log of ``epoch``."""
    await conn.execute(
        "INSERT INTO outbox_broker_epoch (epoch) VALUES ($1)"
        " ON CONFLICT (only_row) DO UPDATE SET epoch = EXCLUDED.epoch, recorded_at = now()",
        epoch,
    )


def loss_reason(
    missing: Iterable[str], acked: dict[TopicPartition, int], ends: dict[TopicPartition, int]
) -> str | None:
    """Why the log is not the one published into, from what the broker shows; None when nothing says so.

    ``missing``: topics the broker lacks; ``acked``: per partition, the offset after the last record a send
    was acknowledged at; ``ends``: the partitions' end offsets now (a partition absent from it is gone)."""
    gone = sorted(missing)
    if gone:
        return f"topics missing: {', '.join(gone)}"
    for tp, seen in sorted(acked.items()):
        end = ends.get(tp)
        if end is None or end < seen:
            return f"{tp.topic}[{tp.partition}] ends at {end if end is not None else 'nothing'}, below {seen}"
    return None


@dataclass
class Verdict:
    """What one check found: the broker's epoch, and why the outbox must be published again (or None)."""

    epoch: str
    reason: str | None = None


@dataclass
class LogGuard:
    """The relay's watch on the broker's log: ``acknowledged`` records each send's result, ``due`` says when
    to look again (every ``check_interval_s`` seconds, and at once after ``failed``), ``examine`` looks."""

    bootstrap: str
    partitions: int = 6
    replication: int = 1
    check_interval_s: float = 3.0
    acked: dict[TopicPartition, int] = field(default_factory=dict)
    _next_check: float = 0.0
    _probe: BrokerProbe | None = None

    def acknowledged(self, topic: str, partition: int, base_offset: int) -> None:
        """A batch was acknowledged at ``base_offset``: the partition ends after it, at least. (Not after its
        last record: the embedded broker reports a partition's end as the last batch's first offset + 1.)"""
        tp = TopicPartition(topic, partition)
        self.acked[tp] = max(self.acked.get(tp, 0), base_offset + 1)

    def failed(self) -> None:
        """A round failed (a send, the metadata, ...): look at the log before the next round publishes."""
        self._next_check = 0.0

    def postpone(self) -> None:
        """Look again only after ``check_interval_s`` (another replica is looking now)."""
        self._next_check = time.monotonic() + self.check_interval_s

    def due(self) -> bool:
        return time.monotonic() >= self._next_check

    async def examine(self, conn: Conn) -> Verdict:
        """Look at the broker (in the relay's locked transaction ``conn``): recreate topics and epoch when
        any is missing, and compare with what this database recorded and what sends were acknowledged at.
        Raises ``KafkaError`` or ``OSError`` when the broker cannot be reached (the caller retries)."""
        if self._probe is None:
            self._probe = BrokerProbe(self.bootstrap)
        probe = self._probe
        existing = await probe.topics()
        missing = [t for t in topics.ALL if t not in existing]
        epoch = await probe.epoch()
        reason = loss_reason(missing, {}, {})
        if missing or epoch is None:
            epoch = await recreate_topics(self.bootstrap, self.partitions, self.replication)
        else:
            reason = loss_reason((), self.acked, await probe.end_offsets(self.acked))
        stored = await stored_epoch(conn)
        if stored is None:
            # The first check on this database: nothing was published before it, into any log.
            reason = None
        elif stored != epoch:
            reason = reason or f"the broker's epoch changed from {stored} to {epoch}"
        if stored != epoch:
            await store_epoch(conn, epoch)
        self._next_check = time.monotonic() + self.check_interval_s
        if reason is not None:
            self.acked.clear()
        return Verdict(epoch, reason)

    async def close(self) -> None:
        if self._probe is not None:
            await self._probe.close()
            self._probe = None


async def mark_all_unpublished(conn: Conn) -> int:
    """Put every kept outbox row back to unpublished (one statement); the relay publishes them again in
    ``seq`` order. Rows scrubbed of personal data were deleted, and tombstones stay tombstones. Returns
    how many rows."""
    status = await conn.execute("UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL")
    return int(status.split()[-1])


async def republish_after_loss(conn: Conn, reason: str) -> int:
    """The broker lost its log: log it, count it, and mark every kept row unpublished. Returns the rows."""
    count = await mark_all_unpublished(conn)
    log.warning(f"broker lost its log: republishing {count} outbox rows", extra={"reason": reason, "rows": count})
    metrics.BROKER_LOG_LOST.inc()
    metrics.OUTBOX_REPUBLISHED.labels(cause="broker_loss").inc(count)
    return count


# --- the consumers' side: never go on from a position in a log that is gone --------------------------------


Consumers = Callable[[], list[AIOKafkaConsumer]]


class ConsumerRewinder(ConsumerRebalanceListener):
    """Moves a service's consumers back to the beginning of their partitions when the log changed.

    ``consumers`` returns the live aiokafka consumers (those of the service's subscribers). ``known`` is the
    epoch the service's positions belong to; set it at start (``ensure_epoch``). As a rebalance listener it
    checks each new assignment before anything is fetched; ``watch`` checks every few seconds. A position
    beyond a partition's end is aiokafka's to handle (``auto_offset_reset="earliest"``): comparing committed
    offsets with end offsets here would misfire, as the embedded broker reports a partition's end within its
    last batch."""

    def __init__(self, bootstrap: str, consumers: Consumers, group: str) -> None:
        self.bootstrap = bootstrap
        self.consumers = consumers
        self.group = group
        self.known: str | None = None
        self._probe = BrokerProbe(bootstrap)
        # One question at a time on the probe's client (the listener and ``watch`` may ask together); a
        # lock of its own, never held while a consumer commits, which waits for a rebalance to finish.
        self._asking = asyncio.Lock()
        self._rewinding = asyncio.Lock()

    async def _epoch(self) -> str | None:
        async with self._asking:
            return await self._probe.epoch()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        try:
            epoch = await self._epoch()
        except KafkaError as exc:
            log.warning("broker epoch not checked on assignment", extra={"error": repr(exc)})
            return
        if epoch != self.known:
            for consumer in self.consumers():
                mine = [tp for tp in assigned if tp in consumer.assignment()]
                await _seek_to_beginning(consumer, mine)
            self._changed(epoch, len(assigned))

    async def check(self) -> int:
        """One look: under a new epoch, rewind every assigned partition and commit its beginning. Returns how
        many partitions were rewound. Raises ``KafkaError`` when the broker cannot be reached."""
        async with self._rewinding:
            epoch = await self._epoch()
            if epoch == self.known:
                return 0
            rewound = 0
            for consumer in self.consumers():
                assigned = sorted(consumer.assignment())
                if assigned:
                    beginning = await _seek_to_beginning(consumer, assigned)
                    await consumer.commit(beginning)
                    rewound += len(assigned)
            self._changed(epoch, rewound)
            return rewound

    def _changed(self, epoch: str | None, partitions: int) -> None:
        if partitions:
            log.warning(
                "broker lost its log: consumers start again from the beginning",
                extra={"group": self.group, "partitions": partitions, "epoch": epoch},
            )
            metrics.CONSUMER_REWINDS.labels(group=self.group).inc()
        self.known = epoch

    async def watch(self, interval_s: float) -> None:
        """``check`` every ``interval_s`` seconds, for as long as the service runs."""
        try:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await self.check()
                except (KafkaError, OSError) as exc:
                    log.warning("broker epoch not checked", extra={"error": repr(exc)})
        finally:
            async with self._asking:
                await self._probe.close()


async def _seek_to_beginning(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    beginning: dict[TopicPartition, int] = dict(await consumer.beginning_offsets(partitions))
    for tp in partitions:
        consumer.seek(tp, beginning[tp])
    return beginning
