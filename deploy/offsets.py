"""Consumer-group offsets and dead letters, for the operator's replay commands."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.topics import dlq


async def rewind(bootstrap: str, group: str, topic_names: tuple[str, ...], patience_s: float = 60.0) -> int:
    """Commit the beginning of every partition for ``group``; return how many partitions moved."""
    consumer = AIOKafkaConsumer(
        *topic_names,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()  # inside the try: a consumer that could not connect is closed too
        deadline = asyncio.get_running_loop().time() + patience_s
        while not consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"could not join {group}: is the service still running?")
            await consumer.getmany(timeout_ms=500)
        partitions = sorted(consumer.assignment())
        beginning = await consumer.beginning_offsets(partitions)
        await consumer.commit({tp: beginning[tp] for tp in partitions})
        return len(partitions)
    finally:
        await consumer.stop()


async def republish_dead_letters(bootstrap: str, topic: str) -> int:
    """Every message on ``<topic>.dlq`` back to ``topic``, with its key and original headers."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    try:
        await consumer.start()  # inside the try: clients that could not connect are closed too
        await producer.start()
        await consumer.topics()
        partitions = [TopicPartition(dlq(topic), p) for p in sorted(consumer.partitions_for_topic(dlq(topic)) or ())]
        ends = await consumer.end_offsets(partitions)
        wanted = [tp for tp in partitions if ends[tp] > 0]
        if not wanted:
            return 0
        consumer.assign(wanted)
        await consumer.seek_to_beginning(*wanted)
        count, remaining = 0, {tp: ends[tp] for tp in wanted}
        while remaining:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for record in records:
                    headers = [(k, v) for k, v in record.headers if not k.startswith("x-")]
                    await producer.send_and_wait(topic, record.value, key=record.key, headers=headers)
                    count += 1
                    if record.offset + 1 >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
        return count
    finally:
        await producer.stop()
        await consumer.stop()
