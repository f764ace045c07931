"""Topic names (DESIGN.md §4) and their creation at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
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
            config = {"cleanup.policy": "compact"} if topic in COMPACTED else {}
            for name in (topic, dlq(topic)):
                if name not in existing:
                    wanted.append(NewTopic(name, partitions, replication, topic_configs=config))
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was faster
                await admin.create_topics(wanted)
            log.info("created topics", extra={"topics": [t.name for t in wanted]})
        return [t.name for t in wanted]
    finally:
        await admin.close()
