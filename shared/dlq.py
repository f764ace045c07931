"""Dead letters the operator can work with: list, replay, skip and purge (``fmf dlq ...``), on Kafka alone.

A dead letter is a record of ``<topic>.dlq`` that ``shared.consumer.EventConsumer`` wrote, with the
headers ``x-error``, ``x-original-topic``, ``x-original-partition``, ``x-original-offset`` and
``x-consumer-group`` (the group whose handler failed). It is named by its place, ``<dlq topic>:<partition>:
<offset>`` (its *ref*).

- **Replay** sends a copy back to the original topic, with its key and its own headers, and with
  ``x-replay-for: <group>`` and ``x-replay-of: <ref>``. Every consumer group reads the topic, but only the
  named one applies the copy (its inbox drops what it applied before); the others acknowledge it unread.
  If it fails again, that group dead-letters it again: one new dead letter per failing replay. A dead
  letter without ``x-consumer-group`` (not written by our consumers) goes back to every group.
- **Marks**: what was done with each dead letter (``replayed``, ``skipped``, ``purged``, and when) is kept
  in the compacted topic ``fmf.dlq-marks.v1``, keyed by ref (the command line has no database). Only a
  dead letter without a mark (status ``new``) is replayed, so a second replay does not send it again.
  A replay copies first and marks after: should the command die between the two, the next replay sends
  that one again, which the group's inbox drops when it had applied it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import NewTopic, RecordsToDelete
from aiokafka.errors import TopicAlreadyExistsError

from shared import topics

REPLAY_FOR_HEADER = "x-replay-for"
REPLAY_OF_HEADER = "x-replay-of"
ERROR_HEADER = "x-error"
GROUP_HEADER = "x-consumer-group"
ORIGINAL_TOPIC_HEADER = "x-original-topic"
# What the consumer adds when it dead-letters, and what a replay adds: a replayed copy carries neither.
DEAD_LETTER_HEADERS = frozenset(
    {
        ERROR_HEADER,
        ORIGINAL_TOPIC_HEADER,
        "x-original-partition",
        "x-original-offset",
        GROUP_HEADER,
        REPLAY_FOR_HEADER,
        REPLAY_OF_HEADER,
    }
)


class Status(StrEnum):
    """What the operator did with a dead letter; ``new`` when nothing yet."""

    NEW = "new"
    REPLAYED = "replayed"
    SKIPPED = "skipped"
    PURGED = "purged"


@dataclass(frozen=True)
class Mark:
    """A dead letter's latest mark: its status and when it was set (UTC)."""

    status: Status
    at: datetime


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, and its status from the marks."""

    dlq_topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    status: Status = Status.NEW

    @property
    def ref(self) -> str:
        """``<dlq topic>:<partition>:<offset>``: the key of its mark."""
        return mark_key(self.dlq_topic, self.partition, self.offset)

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` as text, or None."""
        values = [v for k, v in self.headers if k == name]
        return values[-1].decode(errors="replace") if values else None

    @property
    def group(self) -> str | None:
        """The consumer group whose handler failed (``x-consumer-group``), or None."""
        return self.header(GROUP_HEADER)

    @property
    def time(self) -> datetime:
        """When it was dead-lettered (the record's timestamp), UTC."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def error(self) -> str:
        """The first line of ``x-error`` ("" when there is none)."""
        error = self.header(ERROR_HEADER) or ""
        return error.splitlines()[0] if error else ""

    @property
    def event_type(self) -> str:
        """The ``ce_type`` header, else the ``type`` of a JSON body, else "-"."""
        if ce_type := self.header("ce_type"):
            return ce_type
        try:
            body = json.loads(self.value or b"")
        except ValueError:
            return "-"
        value = body.get("type") if isinstance(body, dict) else None
        return str(value) if isinstance(value, str) and value else "-"


def mark_key(dlq_topic: str, partition: int, offset: int) -> str:
    """The key of a dead letter's mark: ``<dlq topic>:<partition>:<offset>``."""
    return f"{dlq_topic}:{partition}:{offset}"


def encode_mark(status: Status, at: datetime) -> bytes:
    """The value of a mark: JSON ``{"status": ..., "at": <ISO 8601 UTC>}``."""
    return json.dumps({"status": status.value, "at": at.astimezone(UTC).isoformat()}).encode()


def decode_mark(value: bytes | None) -> Mark | None:
    """A mark from its value; None for a tombstone or a value that is not a mark."""
    if not value:
        return None
    try:
        raw = json.loads(value)
        return Mark(Status(raw["status"]), datetime.fromisoformat(raw["at"]))
    except (ValueError, KeyError, TypeError):
        return None


def parse_position(text: str) -> tuple[int, int]:
    """``"P:O"`` -> ``(partition, offset)``; raises ``ValueError`` for anything else."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"{text!r} is not <partition>:<offset>, such as 0:17")
    return int(partition), int(offset)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-11-30``, ``2026-11-30T18:00``, with or without an offset; UTC when
    without). Raises ``ValueError`` when it is not one."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def with_marks(letters: Iterable[DeadLetter], marks: dict[str, Mark]) -> list[DeadLetter]:
    """The dead letters, each with the status of its mark (``new`` without one)."""
    return [replace(d, status=marks[d.ref].status) if d.ref in marks else d for d in letters]


def select(
    letters: Iterable[DeadLetter],
    *,
    group: str | None = None,
    positions: Iterable[tuple[int, int]] | None = None,
    statuses: Iterable[Status] | None = None,
) -> list[DeadLetter]:
    """The dead letters of ``group`` (any when None), at ``positions`` (``(partition, offset)``; any when
    None), with one of ``statuses`` (any when None), in their order."""
    wanted = set(positions) if positions is not None else None
    allowed = set(statuses) if statuses is not None else None
    return [
        d
        for d in letters
        if (group is None or d.group == group)
        and (wanted is None or (d.partition, d.offset) in wanted)
        and (allowed is None or d.status in allowed)
    ]


def replay_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The headers of a dead letter's replayed copy: its own, without what dead-lettering (or an earlier
    replay) added, and ``x-replay-for: <group>`` (when it names one) and ``x-replay-of: <ref>``."""
    headers = [(k, v) for k, v in letter.headers if k not in DEAD_LETTER_HEADERS]
    if letter.group:
        headers.append((REPLAY_FOR_HEADER, letter.group.encode()))
    headers.append((REPLAY_OF_HEADER, letter.ref.encode()))
    return headers


def purge_cut(letters: Sequence[DeadLetter], low: int, high: int) -> int:
    """The offset before which every record of one partition (``low`` to ``high``, exclusive) is purged,
    given that partition's dead letters with their marks: what DeleteRecords may delete."""
    status = {d.offset: d.status for d in letters}
    cut = low
    while cut < high and status.get(cut) is Status.PURGED:
        cut += 1
    return cut


# --- Kafka -------------------------------------------------------------------------------------------


async def _read(bootstrap: str, names: Sequence[str]) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now on ``names`` (topics that do not exist have none), partition by partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not parts:
            return []
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        remaining = {tp: ends[tp] for tp in parts if ends[tp] > starts[tp]}
        if not remaining:
            return []
        consumer.assign(list(remaining))
        await consumer.seek_to_beginning(*remaining)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while remaining:
            for tp, batch in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                records.extend(r for r in batch if r.offset < remaining.get(tp, 0))
                if batch and batch[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
                    consumer.pause(tp)
        records.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return records
    finally:
        await consumer.stop()


async def read_marks(bootstrap: str) -> dict[str, Mark]:
    """Every dead letter's latest mark, by ref (the last record of a key wins, as compaction keeps it)."""
    marks: dict[str, Mark] = {}
    for record in await _read(bootstrap, [topics.DLQ_MARKS]):
        if record.key is None:
            continue
        mark = decode_mark(record.value)
        if mark is None:
            marks.pop(record.key.decode(), None)
        else:
            marks[record.key.decode()] = mark
    return marks


async def read_dead_letters(bootstrap: str, topic_names: Sequence[str]) -> list[DeadLetter]:
    """The dead letters of ``topic_names`` (the original topics, not their ``.dlq``), each with its status,
    ordered by topic, partition and offset. Raises aiokafka's ``KafkaConnectionError`` when the broker
    cannot be reached."""
    records = await _read(bootstrap, [topics.dlq(t) for t in topic_names])
    letters = [
        DeadLetter(
            r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, tuple((k, bytes(v)) for k, v in r.headers)
        )
        for r in records
    ]
    return with_marks(letters, await read_marks(bootstrap)) if letters else []


async def _ensure_marks_topic(bootstrap: str) -> None:
    admin = await topics.connect_admin(bootstrap)
    try:
        if topics.DLQ_MARKS not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):  # another command was faster
                await admin.create_topics([NewTopic(topics.DLQ_MARKS, 1, 1, topic_configs=topics.DLQ_MARKS_CONFIG)])
    finally:
        await admin.close()


async def _mark(producer: AIOKafkaProducer, letters: Iterable[DeadLetter], status: Status) -> int:
    count = 0
    for letter in letters:
        await producer.send_and_wait(topics.DLQ_MARKS, encode_mark(status, datetime.now(UTC)), key=letter.ref.encode())
        count += 1
    return count


async def _producer(bootstrap: str) -> AIOKafkaProducer:
    await _ensure_marks_topic(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer


async def replay(
    bootstrap: str, topic: str, *, group: str | None = None, positions: Iterable[tuple[int, int]] | None = None
) -> list[DeadLetter]:
    """Send each new (unmarked) dead letter of ``topic`` — of ``group`` and at ``positions``
    (``(partition, offset)`` of ``<topic>.dlq``) when given — back to ``topic`` for its group alone
    (``replay_headers``), and mark it ``replayed`` right after. Returns the dead letters replayed, in order.
    Raises aiokafka's ``KafkaConnectionError``/``KafkaError`` when the broker cannot be reached or refuses."""
    letters = select(
        await read_dead_letters(bootstrap, [topic]), group=group, positions=positions, statuses=[Status.NEW]
    )
    if not letters:
        return []
    producer = await _producer(bootstrap)
    try:
        for letter in letters:
            await producer.send_and_wait(topic, letter.value, key=letter.key, headers=replay_headers(letter))
            await _mark(producer, [letter], Status.REPLAYED)
    finally:
        await producer.stop()
    return letters


async def skip(bootstrap: str, topic: str, positions: Iterable[tuple[int, int]]) -> list[DeadLetter]:
    """Mark the dead letters of ``topic`` at ``positions`` (``(partition, offset)`` of ``<topic>.dlq``)
    ``skipped``: they are never replayed. Only new ones are marked; returns them. Raises ``ValueError``
    naming a position that holds no dead letter."""
    wanted = list(positions)
    letters = select(await read_dead_letters(bootstrap, [topic]), positions=wanted)
    missing = set(wanted) - {(d.partition, d.offset) for d in letters}
    if missing:
        raise ValueError(
            f"no dead letter at {', '.join(f'{p}:{o}' for p, o in sorted(missing))} of {topics.dlq(topic)}"
        )
    fresh = [d for d in letters if d.status is Status.NEW]
    producer = await _producer(bootstrap)
    try:
        await _mark(producer, fresh, Status.SKIPPED)
    finally:
        await producer.stop()
    return fresh


@dataclass(frozen=True)
class Purged:
    """What ``purge`` did: the dead letters it marked, and the records DeleteRecords removed from the
    dead-letter topic (None when the broker refused it)."""

    marked: list[DeadLetter]
    deleted: int | None


async def purge(bootstrap: str, topic: str, *, before: datetime | None = None) -> Purged:
    """Mark every dead letter of ``topic`` (dead-lettered before ``before``, when given) ``purged``: it is
    no longer listed and never replayed. Then, where a partition's oldest records are all purged, delete
    them with Kafka's DeleteRecords (Kafka does; a broker that cannot, such as the embedded one, keeps
    them until retention removes them: the mark is the purge there, since a log cannot lose records in
    its middle). Raises aiokafka's ``KafkaConnectionError`` when the broker cannot be reached."""
    letters = await read_dead_letters(bootstrap, [topic])
    chosen = [
        d for d in letters if d.status is not Status.PURGED and (before is None or d.time < before.astimezone(UTC))
    ]
    producer = await _producer(bootstrap)
    try:
        await _mark(producer, chosen, Status.PURGED)
    finally:
        await producer.stop()
    purged_now = {d.ref for d in chosen}
    letters = [replace(d, status=Status.PURGED) if d.ref in purged_now else d for d in letters]
    return Purged(chosen, await _delete_purged(bootstrap, topics.dlq(topic), letters))


async def _delete_purged(bootstrap: str, dlq_topic: str, letters: Sequence[DeadLetter]) -> int | None:
    """Delete each partition's leading purged records; how many, or None when the broker refused."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
        await consumer.topics()
        parts = [TopicPartition(dlq_topic, p) for p in sorted(consumer.partitions_for_topic(dlq_topic) or ())]
        if not parts:
            return 0
        starts = await consumer.beginning_offsets(parts)
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    cuts = {
        tp: cut
        for tp in parts
        if (cut := purge_cut([d for d in letters if d.partition == tp.partition], starts[tp], ends[tp])) > starts[tp]
    }
    if not cuts:
        return 0
    admin = await topics.connect_admin(bootstrap)
    try:
        await admin.delete_records({tp: RecordsToDelete(cut) for tp, cut in cuts.items()})
    except Exception:
        return None  # not every Kafka-compatible broker has DeleteRecords; the marks stand for it
    finally:
        await admin.close()
    return sum(cut - starts[tp] for tp, cut in cuts.items())
