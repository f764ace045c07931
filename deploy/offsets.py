"""Consumer-group offsets, for the operator's ``fmf replay``. (Dead letters: ``shared/dlq.py``.)"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer


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
