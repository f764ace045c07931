"""Rewinding a consumer group (the operator's `fmf replay`) against the real broker."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from deploy.offsets import rewind
from shared.topics import connect_admin

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_rewind_moves_a_group_back_to_the_beginning(kafka_bootstrap: str) -> None:
    topic, group = f"test.rewind.{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = await connect_admin(kafka_bootstrap)
    await admin.create_topics([NewTopic(topic, 2, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    for i in range(10):
        await producer.send_and_wait(topic, b"x", key=str(i).encode())
    await producer.stop()
    parts = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    consumer.assign(parts)
    ends = await consumer.end_offsets(parts)
    await consumer.commit(ends)  # the group has read everything
    assert [await consumer.committed(tp) for tp in parts] == [ends[tp] for tp in parts]
    await consumer.stop()

    assert await rewind(kafka_bootstrap, group, (topic,), patience_s=30) == 2

    check = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await check.start()
    check.assign(parts)
    try:
        beginning = await check.beginning_offsets(parts)
        assert [await check.committed(tp) for tp in parts] == [beginning[tp] for tp in parts]
    finally:
        await check.stop()
