"""Reading what actually reached the real broker, for tests."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord


async def records(bootstrap: str, topic: str, key: str, *, at_least: int = 1, settle_s: float = 1.0,
                  timeout_s: float = 20.0) -> list[ConsumerRecord]:
    """Every record with this key on the topic, read from the start: waits until `at_least` arrived, then a further
    `settle_s` so that a duplicate that should not exist has had time to show up."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(found) < at_least:
                batch = await consumer.getmany(timeout_ms=200)
                found += [r for rs in batch.values() for r in rs if r.key == key.encode()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settle_s
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            found += [r for rs in batch.values() for r in rs if r.key == key.encode()]
    finally:
        await consumer.stop()
    return found
