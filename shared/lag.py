"""Consumer lag computed in the app -- the high-water mark minus the group's committed offset -- so it
works on any Kafka-protocol broker (the embedded one cannot list consumer-group offsets by admin API)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared import metrics

log = logging.getLogger(__name__)


async def measure(consumer: AIOKafkaConsumer, topics: tuple[str, ...]) -> dict[str, int]:
    """Lag per topic, summed over its partitions."""
    partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    if not partitions:
        await consumer.topics()  # refresh the metadata once
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    ends = await consumer.end_offsets(partitions)
    lag = dict.fromkeys(topics, 0)
    for tp in partitions:
        committed = await consumer.committed(tp)
        lag[tp.topic] += max(0, ends[tp] - (committed or 0))
    return lag


async def watch(bootstrap: str, group: str, topics: tuple[str, ...], interval_s: float) -> None:
    """Keep ``fmf_consumer_lag{topic,group}`` current. The consumer never joins the group: it only reads."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        while True:
            try:
                for topic, lag in (await measure(consumer, topics)).items():
                    metrics.CONSUMER_LAG.labels(topic=topic, group=group).set(lag)
            except KafkaError as exc:
                log.warning("consumer lag not measured", extra={"error": repr(exc)})
            await asyncio.sleep(interval_s)
    finally:
        await consumer.stop()
