"""How far each service's consumer group has come: its committed offsets and lag, read from the broker the
way ``shared/lag.py`` reads them (the embedded broker cannot list a group's offsets by admin API). The
benchmarks measure consumption with it, whichever way a service consumes (one record per transaction or
batches): an offset is committed only once its record is applied."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition


def subscribed_topics(service: str) -> tuple[str, ...]:
    """The topics ``service`` consumes (its handlers module's ``SUBSCRIBES_TO``)."""
    topics: tuple[str, ...] = importlib.import_module(f"services.{service}.handlers").SUBSCRIBES_TO
    return topics


# Records waiting, at both ends of a sampling interval, for a group to count as behind in it: more than a
# record in flight between the relay and the consumer, fewer than one batch.
BEHIND = 100


@dataclass(frozen=True)
class Position:
    """One group at one moment: records committed (summed over its partitions) and its lag."""

    committed: int
    lag: int


class GroupOffsets:
    """Reads the committed offsets of consumer groups (``{service: group}``) on the topics each service
    subscribes to, and the topics' end offsets. The consumers it uses never join a group."""

    def __init__(self, bootstrap: str, groups: dict[str, str]) -> None:
        self.bootstrap = bootstrap
        self.groups = groups
        self._readers: dict[str, AIOKafkaConsumer] = {}
        self._ends: AIOKafkaConsumer | None = None
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> GroupOffsets:
        self._ends = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self._ends.start()
        await self._ends.topics()
        for service, group in self.groups.items():
            reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False)
            await reader.start()
            self._readers[service] = reader
            self._partitions[service] = [
                TopicPartition(t, p)
                for t in subscribed_topics(service)
                for p in sorted(self._ends.partitions_for_topic(t) or ())
            ]
        return self

    async def __aexit__(self, *_: object) -> None:
        for reader in self._readers.values():
            await reader.stop()
        if self._ends is not None:
            await self._ends.stop()

    async def positions(self) -> dict[str, Position]:
        """Every group's committed total and lag, now."""
        assert self._ends is not None, "use as an async context manager"
        committed = {}
        for service, reader in self._readers.items():  # before the ends, so that a lag is never negative
            parts = self._partitions[service]
            committed[service] = sum(c or 0 for c in await asyncio.gather(*(reader.committed(tp) for tp in parts)))
        wanted = sorted({tp for parts in self._partitions.values() for tp in parts})
        ends = await self._ends.end_offsets(wanted)
        return {
            service: Position(done, max(0, sum(ends[tp] for tp in self._partitions[service]) - done))
            for service, done in committed.items()
        }


@dataclass
class Samples:
    """Positions sampled over time: ``(time.time(), {service: Position})``."""

    taken: list[tuple[float, dict[str, Position]]] = field(default_factory=list)

    async def run(self, offsets: GroupOffsets, stop: asyncio.Event, every_s: float) -> None:
        """Sample every ``every_s`` seconds until ``stop`` is set, and once more then."""
        while True:
            self.taken.append((time.time(), await offsets.positions()))
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    def latest(self, service: str) -> Position | None:
        return self.taken[-1][1][service] if self.taken else None

    def throughput(self, service: str, since: float, until: float) -> Throughput:
        """What ``service`` consumed from ``since`` to ``until`` (``time.time()``; the samples around both
        included). Its rate counts the sampling intervals in which it was saturated: at least ``BEHIND``
        records waited at both ends of the interval, so that it had work all along (a batch being applied
        commits nothing until it is done: such an interval counts too). A service that never was saturated
        kept up with what arrived: its figure is then the fastest it was seen to go in one interval, a lower
        bound of what it can do (``kept_up``)."""
        first = max([i for i, (t, _) in enumerate(self.taken) if t <= since] or [0])
        last = min([i for i, (t, _) in enumerate(self.taken) if t >= until] or [len(self.taken) - 1])
        rows = [(t, p[service]) for t, p in self.taken[first : last + 1]]
        saturated_s = 0.0
        saturated_records = 0
        fastest = 0.0
        for (t0, a), (t1, b) in itertools.pairwise(rows):
            done = b.committed - a.committed
            if t1 > t0:
                fastest = max(fastest, done / (t1 - t0))
            if min(a.lag, b.lag) >= BEHIND:
                saturated_s += t1 - t0
                saturated_records += done
        records = rows[-1][1].committed - rows[0][1].committed if len(rows) > 1 else 0
        peak = max((p.lag for _, p in rows), default=0)
        return Throughput(records, saturated_s, saturated_records, fastest, peak)


@dataclass(frozen=True)
class Throughput:
    records: int  # committed in the window
    saturated_s: float  # seconds of the intervals in which the group never waited for work
    saturated_records: int  # committed in those intervals
    fastest: float  # records per second in the fastest interval
    peak_lag: int

    @property
    def kept_up(self) -> bool:
        """Never saturated: what it consumed was bounded by what arrived."""
        return self.saturated_s == 0

    @property
    def per_second(self) -> float:
        """Records per second while saturated; else the fastest interval (a lower bound)."""
        return self.saturated_records / self.saturated_s if self.saturated_s else self.fastest

    def shown(self) -> str:
        """The rate, marked ``>=`` when the group kept up (the figure is a lower bound)."""
        return f"{'>=' if self.kept_up else ''}{self.per_second:.0f}"
