"""Writing and reading topics directly with aiokafka, outside a service's broker: for the token registry and the
operator's and integrators' command line. Reads need no consumer group: they read from offset 0 to where each
partition ended when the read started, and commit nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from creditflow.events import Event, encode

from .settings import KafkaLogin
from .topics import partitions_of


def headers_of(event: Event) -> dict[str, str]:
    """The headers every creditflow record carries, so a reader can route it without decoding the value."""
    return {
        "event_type": event.event_type,
        "event_id": str(event.event_id),
        "correlation_id": event.correlation_id,
    }


async def produce(login: KafkaLogin, records: Iterable[tuple[str, str, Event]], client_id: str) -> int:
    """Write each (topic, key, event), in order; returns once every in-sync replica has them all."""
    producer = AIOKafkaProducer(**login.aiokafka(), client_id=client_id, acks="all", enable_idempotence=True)
    written = 0
    try:
        await producer.start()
        for topic, key, event in records:
            await producer.send_and_wait(topic, encode(event), key=key.encode(),
                                         headers=[(k, v.encode()) for k, v in headers_of(event).items()])
            written += 1
    finally:
        await producer.stop()
    return written


async def existing_partitions(login: KafkaLogin, topics: list[str], client_id: str) -> list[TopicPartition]:
    """Every partition of those of `topics` that exist (a missing topic has none)."""
    admin = AIOKafkaAdminClient(**login.aiokafka(), client_id=client_id)
    await admin.start()
    try:
        known = set(await admin.list_topics())
        return await partitions_of(admin, [t for t in topics if t in known]) if known & set(topics) else []
    finally:
        await admin.close()


@asynccontextmanager
async def from_the_start(login: KafkaLogin, partitions: list[TopicPartition],
                         client_id: str) -> AsyncIterator[tuple[AIOKafkaConsumer, dict[TopicPartition, int]]]:
    """A consumer at offset 0 of `partitions`, and their end offsets when it started."""
    consumer = AIOKafkaConsumer(**login.aiokafka(), client_id=client_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield consumer, await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return all([await consumer.position(tp) >= end for tp, end in ends.items()])


async def read_all(login: KafkaLogin, topics: list[str], client_id: str) -> list[ConsumerRecord]:
    """Every record on the existing ones of `topics` now, in order within each partition."""
    partitions = await existing_partitions(login, topics, client_id)
    if not partitions:
        return []
    records: list[ConsumerRecord] = []
    async with from_the_start(login, partitions, client_id) as (consumer, ends):
        while not await caught_up(consumer, ends):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
    return records
