"""Topic names (DESIGN.md §4) and their creation at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

log = logging.getLogger(__name__)

TENANTS = "fmf.tenants.v1"
MEETINGS = "fmf.meetings.v1"
REGISTRATIONS = "fmf.registrations.v1"
MATCHING = "fmf.matching.v1"
NOTIFICATIONS = "fmf.notifications.v1"
FEEDBACK = "fmf.feedback.v1"
CONTACTS = "fmf.contacts.v1"

ALL = (TENANTS, MEETINGS, REGISTRATIONS, MATCHING, NOTIFICATIONS, FEEDBACK, CONTACTS)
COMPACTED = frozenset({CONTACTS})
# What the operator did with each dead letter (replayed, skipped, purged), keyed by
# ``<dlq topic>:<partition>:<offset>``: compacted, so the latest mark of each dead letter is kept. Written
# and read by ``shared/dlq.py`` (the command line has no database); one partition is plenty.
DLQ_MARKS = "fmf.dlq-marks.v1"
DLQ_MARKS_CONFIG = {"cleanup.policy": "compact"}

_HOUR_MS = 3_600_000

# fmf.contacts.v1 holds contact details keyed by participant: compacted, so that only the latest value of
# a key is kept, and compacted promptly, so that a changed or erased contact (its tombstone) leaves the
# log within hours, not after Kafka's defaults of a week-long segment and a day of tombstones.
COMPACTED_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": str(1 * _HOUR_MS),  # roll the active segment hourly: the active one is never compacted
    "min.cleanup.dirty.ratio": "0.1",  # compact once a tenth of the log is superseded (default: half)
    "max.compaction.lag.ms": str(6 * _HOUR_MS),  # and at the latest 6 h after a value was superseded
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": str(6 * _HOUR_MS),  # a tombstone itself is kept 6 h for lagging consumers
}


def topic_config(topic: str) -> dict[str, str]:
    """The settings a topic is created with."""
    return dict(COMPACTED_CONFIG) if topic in COMPACTED else {}


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


async def connect_admin(bootstrap: str, timeout_s: float = 30.0) -> AIOKafkaAdminClient:
    """An admin client, retrying while the broker is still starting."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            return admin
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def ensure_topics(bootstrap: str, partitions: int, replication: int = 1) -> list[str]:
    """Create every topic and its dead-letter topic that does not exist yet; return the created ones."""
    admin = await connect_admin(bootstrap)
    try:
        existing = set(await admin.list_topics())
        wanted: list[NewTopic] = []
        for topic in ALL:
            for name in (topic, dlq(topic)):
                if name not in existing:
                    # The dead letters of a compacted topic are kept whole: each is a case to look at.
                    config = topic_config(topic) if name == topic else {}
                    wanted.append(NewTopic(name, partitions, replication, topic_configs=config))
        if DLQ_MARKS not in existing:
            wanted.append(NewTopic(DLQ_MARKS, 1, replication, topic_configs=dict(DLQ_MARKS_CONFIG)))
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was faster
                await admin.create_topics(wanted)
            log.info("created topics", extra={"topics": [t.name for t in wanted]})
        await _align_configs(admin, [t for t in COMPACTED if t in existing])
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def topic_configs(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    """The settings a topic has on the broker (those set on the topic and the broker's defaults)."""
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    return {
        str(entry[0]): str(entry[1])
        for response in responses
        for resource in response.resources
        for entry in resource[4]
    }


async def _align_configs(admin: AIOKafkaAdminClient, topics: list[str]) -> None:
    """A topic created by an older version keeps its settings: bring them up to ``topic_config``. A broker
    that cannot describe or alter settings (not every Kafka-compatible one can) is warned about only."""
    for topic in topics:
        wanted = topic_config(topic)
        try:
            current = await topic_configs(admin, topic)
            if all(current.get(key) == value for key, value in wanted.items()):
                continue
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=wanted)])
            log.info("updated topic settings", extra={"topic": topic, "settings": wanted})
        except Exception as exc:
            log.warning("could not check the topic's settings", extra={"topic": topic, "error": repr(exc)})
