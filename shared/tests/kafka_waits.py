"""Waiting on what reached the real broker without a time window: read a topic up to the end it has now, start a
consumer group after everything already on its topics, wait for a dead letter, wait for a group's committed offset
to pass a record. Every wait is on a condition, with a bound that only a failure reaches. They log in as the given
principal, usually the admin (the super user reads every topic and may commit for any group)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from creditflow.events import DEAD_LETTER_TOPIC, Event, encode, topic_of
from creditflow.runtime.kafka import Handler, make_broker, subscribe
from creditflow.runtime.settings import KafkaLogin, Settings
from creditflow.runtime.topics import partitions_of

BOUND_S = 30.0  # a wait that reaches this has failed; nothing passes by waiting it out


async def _partitions(login: KafkaLogin, topics: Iterable[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**login.aiokafka())
    await admin.start()
    try:
        return await partitions_of(admin, list(topics))
    finally:
        await admin.close()


async def written(login: KafkaLogin, topic: str, key: str) -> list[ConsumerRecord]:
    """Every record with this key that the topic holds now, in order. What an awaited publish wrote is there (the
    producer waited for the broker's acknowledgement); the read stops at the topic's current end, so nothing that
    should not exist is waited for, and nothing is missed for lack of waiting."""
    partitions = await _partitions(login, [topic])
    consumer = AIOKafkaConsumer(**login.aiokafka(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord] = []
        async with asyncio.timeout(BOUND_S):
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                batch = await consumer.getmany(timeout_ms=200)
                found += [r for tp, rs in batch.items() for r in rs if r.key == key.encode() and r.offset < ends[tp]]
    finally:
        await consumer.stop()
    return sorted(found, key=lambda r: (r.partition, r.offset))


async def until_written(login: KafkaLogin, topic: str, key: str, holds: Callable[[list[ConsumerRecord]], bool]
                        ) -> list[ConsumerRecord]:
    """The records with this key, once `holds(records)`: for what a service publishes asynchronously."""
    async with asyncio.timeout(BOUND_S):
        while not holds(found := await written(login, topic, key)):
            await asyncio.sleep(0.1)
    return found


async def dead_letter(login: KafkaLogin, key: str, group_id: str) -> ConsumerRecord:
    """The dead letter that consumer group `group_id` wrote for a record with this key (other consumers of the same
    topic may dead-letter the record too), once it is there."""

    def mine(records: list[ConsumerRecord]) -> list[ConsumerRecord]:
        return [r for r in records if dict(r.headers).get("dlq.consumer.group") == group_id.encode()]

    [letter] = mine(await until_written(login, DEAD_LETTER_TOPIC, key, lambda rs: bool(mine(rs))))
    return letter


async def end_offsets(login: KafkaLogin) -> dict[TopicPartition, int]:
    """The end of every partition of every topic but the broker's own (`__consumer_offsets`, which consumer groups
    write): what a request that must publish nothing leaves as it found."""
    admin = AIOKafkaAdminClient(**login.aiokafka())
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
    finally:
        await admin.close()
    partitions = await _partitions(login, topics)
    consumer = AIOKafkaConsumer(**login.aiokafka(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def start_after_end(login: KafkaLogin, topics: Iterable[str], group_id: str) -> None:
    """Commit `group_id`'s offsets at the current end of `topics`, so a consumer of that group reads only what is
    published from now on, not what earlier tests left on the shared topics."""
    partitions = await _partitions(login, topics)
    consumer = AIOKafkaConsumer(**login.aiokafka(), group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.commit(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def committed_past(login: KafkaLogin, group_id: str, record: ConsumerRecord | tuple[str, int, int]) -> None:
    """Wait until `group_id` committed an offset beyond `record` (topic, partition, offset): its consumer has
    handled the record and everything before it on that partition."""
    topic, partition, offset = (record.topic, record.partition, record.offset) if isinstance(
        record, ConsumerRecord) else record
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**login.aiokafka(), group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        async with asyncio.timeout(BOUND_S):
            while ((await consumer.committed(tp)) or -1) <= offset:
                await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


@asynccontextmanager
async def consuming(settings: Settings, admin: KafkaLogin, topics: Iterable[str], handle: Handler
                    ) -> AsyncIterator[str]:
    """`handle` behind the runtime's real consumer (decoding, dead letters, commit after success) in a new group
    that starts after what the topics hold now; yields the group id, which the group's dead letters name."""
    group_id = f"{settings.group_id}.{uuid.uuid4().hex[:8]}"
    topics = list(topics)
    await start_after_end(admin, topics, group_id)
    broker = make_broker(settings)
    subscribe(broker, topics, group_id, handle)
    await broker.start()
    try:
        yield group_id
    finally:
        await broker.stop()


async def delivered(settings: Settings, admin: KafkaLogin, topics: Iterable[str], handle: Handler,
                    *events: Event) -> str:
    """Publish `events` to their contract topics (as the admin, who may write any), and return once a real consumer
    running `handle` has committed past each of them (handled, or dead-lettered); returns its group."""
    async with consuming(settings, admin, topics, handle) as group_id:
        producer = AIOKafkaProducer(**admin.aiokafka(), acks="all")
        await producer.start()
        try:
            sent = [await producer.send_and_wait(topic_of(e).name, encode(e), key=topic_of(e).key_of(e).encode())
                    for e in events]
        finally:
            await producer.stop()
        for metadata in sent:
            await committed_past(admin, group_id,
                                 (metadata.topic, metadata.partition, metadata.offset))
    return group_id
