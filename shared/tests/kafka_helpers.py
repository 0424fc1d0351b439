"""Reading what actually reached the real broker, and writing as the principal the ACL table allows, for tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer, ConsumerRecord
from creditflow.events import Event, encode, topic_of
from creditflow.events.permissions import inbound_topic, institution_principal, writer_of
from creditflow.runtime.principals import KafkaAdmin, new_password
from creditflow.runtime.settings import KafkaLogin
from kafka_waits import until_written
from pydantic import SecretStr


async def records(login: KafkaLogin, topic: str, key: str, *, at_least: int = 1) -> list[ConsumerRecord]:
    """Every record with this key on the topic (read as `login`, usually the admin), once `at_least` are there: read
    up to the topic's end at that moment, so a duplicate that an awaited publish wrote is counted too, without
    watching a window of time for it."""
    return await until_written(login, topic, key, lambda found: len(found) >= at_least)


async def send(login: KafkaLogin, topic: str, values: Iterable[tuple[bytes, bytes]]) -> None:
    """Write (key, value) records to a topic as `login`; raises what the broker answers (a refused ACL, say)."""
    producer = AIOKafkaProducer(**login.aiokafka(), acks="all")
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def publish_as_owner(servers, *events: Event) -> None:
    """Publish each event to its contract topic as the one service the ACL table lets write it: for tests about a
    consumer, which need facts on a topic that their own principal may not write."""
    by_writer: dict[str, list[Event]] = {}
    for event in events:  # one producer per writer; each writer's events keep their order
        by_writer.setdefault(writer_of(topic_of(event).name), []).append(event)
    for writer, own in by_writer.items():
        producer = AIOKafkaProducer(**servers.login(writer).aiokafka(), acks="all")
        await producer.start()
        try:
            for event in own:
                topic = topic_of(event)
                await producer.send_and_wait(topic.name, encode(event), key=topic.key_of(event).encode())
        finally:
            await producer.stop()


async def institution_login(servers, institution_id: str) -> KafkaLogin:
    """A new institution principal with its inbound topic and ACLs (what `creditflow kafka-principal create` does),
    and how it logs in."""
    password = new_password()
    await asyncio.to_thread(KafkaAdmin(servers.admin).create_institution, institution_id, password)
    return servers.admin.model_copy(update={"username": institution_principal(institution_id),
                                            "password": SecretStr(password)})


async def publish_inbound(login: KafkaLogin, institution_id: str, *events: Event) -> None:
    """Publish events as an institution does: on its inbound topic, keyed as their contract topic keys them."""
    await send(login, inbound_topic(institution_id),
               [(topic_of(event).key_of(event).encode(), encode(event)) for event in events])
