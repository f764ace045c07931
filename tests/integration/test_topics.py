"""Topic creation on the real broker: fmf.contacts.v1 compacts promptly, and an older topic is brought
up to its settings where the broker can alter them (Kafka can; the embedded Tansu cannot, and says so)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import NewTopic

from shared import topics

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_contacts_topic_is_created_to_compact_within_hours(kafka_bootstrap: str) -> None:
    await topics.ensure_topics(kafka_bootstrap, 3)  # the fixture made them already: this changes nothing
    admin = await topics.connect_admin(kafka_bootstrap)
    try:
        contacts = await topics.topic_configs(admin, topics.CONTACTS)
        dead_letters = await topics.topic_configs(admin, topics.dlq(topics.CONTACTS))
    finally:
        await admin.close()
    assert {key: contacts.get(key) for key in topics.COMPACTED_CONFIG} == topics.COMPACTED_CONFIG
    assert contacts["cleanup.policy"] == "compact"
    hours = {
        key: int(contacts[key]) / 3_600_000 for key in ("segment.ms", "max.compaction.lag.ms", "delete.retention.ms")
    }
    assert all(0 < h <= 12 for h in hours.values()), hours
    assert float(contacts["min.cleanup.dirty.ratio"]) < 0.5
    assert dead_letters.get("cleanup.policy", "delete") == "delete"


async def test_an_older_compacted_topic_gets_the_new_settings(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"fmf.test-contacts-{uuid.uuid4().hex[:8]}"
    admin = await topics.connect_admin(kafka_bootstrap)
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs={"cleanup.policy": "compact"})])
        monkeypatch.setattr(topics, "COMPACTED", frozenset({name}))
        await topics._align_configs(admin, [name])
        configs = await topics.topic_configs(admin, name)
        await admin.delete_topics([name])
    finally:
        await admin.close()
    if {key: configs.get(key) for key in topics.COMPACTED_CONFIG} != topics.COMPACTED_CONFIG:
        assert "could not check the topic's settings" in caplog.text  # a broker without AlterConfigs
        assert configs.get("cleanup.policy") == "compact"
