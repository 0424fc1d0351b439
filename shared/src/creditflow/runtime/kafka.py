"""Kafka plumbing with safe defaults: idempotent producer, commit-after-write consumers, dead letters.

Delivery is at-least-once. A consumer's offset is committed only after its handler returned, that is after the write
it made was acknowledged. An event that can never be processed (undecodable, invalid, refused by the domain) goes to
the dead-letter topic with its reason (or, if the broker can never accept that copy, a reference to it) and the
partition keeps flowing; any other failure (a database outage, a broker outage) rewinds to the same record and
retries it, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import structlog
from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)
from creditflow.events import DEAD_LETTER_TOPIC, Event, UndecodableEvent, decode, encode, topic_of
from creditflow.events.permissions import institution_of_inbound
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.security import SASLScram512

from .settings import Settings
from .topic_io import headers_of

log = structlog.get_logger("creditflow.kafka")

RETRY_DELAY_S = 1.0

# Produce errors that say the record itself can never be written (too large, malformed), as opposed to an outage
# that a retry outlives. Retrying these would block the partition for good: a poison pill.
NEVER_WRITABLE = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
)

# Dead letters written by this process, per consumer group: a Prometheus counter (it restarts at zero with the
# process; the dead-letter topic itself keeps every letter).
DEAD_LETTERS_WRITTEN: Counter[str] = Counter()


class Rejected(Exception):
    """The domain refuses this event for good (forged, unknown reference, broken rule): dead-letter it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    """Where a record came from: what apply-once markers and dead letters refer to."""

    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, record: ConsumerRecord) -> Delivery:
        return cls(record.topic, record.partition, record.offset)


Handler = Callable[[Event, Delivery], Awaitable[None]]


def make_broker(settings: Settings) -> KafkaBroker:
    """A broker that logs in as the service's own principal, whose producer waits for all in-sync replicas and
    never writes a record twice on retry."""
    login = settings.kafka_login
    return KafkaBroker(
        # A list: FastStream takes a string as one host, and a cluster's bootstrap names every broker, comma-separated.
        login.bootstrap.split(","),
        security=SASLScram512(login.username, login.secret(), ssl_context=login.ssl_context(),
                              use_ssl=login.security_protocol == "SASL_SSL"),
        metadata_max_age_ms=login.metadata_max_age_ms,
        client_id=f"creditflow-{settings.service}",
        acks="all",
        enable_idempotence=True,
        # Publishing to a topic that is not in the contract is a bug, not a reason to create one.
        allow_auto_create_topics=False,
        logger=logging.getLogger("creditflow.faststream"),
        graceful_timeout=15.0,
    )


async def publish(broker: KafkaBroker, event: Event) -> None:
    """Publish one event to its contract topic, keyed as the contract says; returns once the broker acknowledged."""
    topic = topic_of(event)
    await broker.publish(encode(event), topic=topic.name, key=topic.key_of(event).encode(), headers=headers_of(event))


def _provenance(record: ConsumerRecord, reason: str, group_id: str) -> dict[str, str]:
    return {
        "dlq.reason": reason[:4000],
        "dlq.source.topic": record.topic,
        "dlq.source.partition": str(record.partition),
        "dlq.source.offset": str(record.offset),
        "dlq.consumer.group": group_id,
    }


async def dead_letter(broker: KafkaBroker, record: ConsumerRecord, reason: str, group_id: str) -> None:
    """Send the original bytes and key, unchanged, with where they came from and why they could not be processed.
    If the broker can never accept that letter (the record was just under the size limit and the headers pushed it
    over, say), send a reference to the record instead, so that the partition keeps flowing; the original stays on
    its topic, where an operator reads it by topic, partition and offset."""
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
    headers.update(_provenance(record, reason, group_id))
    try:
        await broker.publish(record.value or b"", topic=DEAD_LETTER_TOPIC, key=record.key, headers=headers)
    except NEVER_WRITABLE as exc:
        await _dead_letter_reference(broker, record, reason, group_id, f"{type(exc).__name__}: {exc}")
    DEAD_LETTERS_WRITTEN[group_id] += 1
    log.warning(
        "event dead-lettered",
        reason=reason,
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )


async def _dead_letter_reference(broker: KafkaBroker, record: ConsumerRecord, reason: str, group_id: str,
                                 produce_error: str) -> None:
    """A small letter saying where the record is and what it was (size, SHA-256 of its value), instead of its bytes.
    Only the dlq.* headers are kept: the original headers may be what made it too large."""
    value = record.value or b""
    reference = {
        "dead_letter": "reference",
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "size": len(value),
        "sha256": hashlib.sha256(value).hexdigest(),
        "reason": reason[:4000],
        "produce_error": produce_error[:1000],
    }
    headers = {**_provenance(record, reason, group_id), "dlq.reference": "true",
               "dlq.produce.error": produce_error[:1000]}
    key = record.key if record.key is not None and len(record.key) <= 1024 else None
    await broker.publish(json.dumps(reference).encode(), topic=DEAD_LETTER_TOPIC, key=key, headers=headers)
    log.warning("record too large to dead-letter as is: dead-lettered a reference", source_topic=record.topic,
                partition=record.partition, offset=record.offset, size=len(value), produce_error=produce_error)


class Assignment(ConsumerRebalanceListener):
    """The partitions one consumer of this process holds now, kept across rebalances: what /metrics reports as this
    instance's lag when several instances share a group."""

    def __init__(self) -> None:
        self.partitions: set[TopicPartition] = set()

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.partitions.difference_update(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.partitions.update(assigned)


def subscribe(broker: KafkaBroker, topics: Iterable[str], group_id: str, handle: Handler,
              pattern: str | None = None, assignment: Assignment | None = None) -> None:
    """Register `handle` for every event on `topics` (or on every topic matching the regular expression `pattern`),
    decoded, with dead-lettering and commit-after-success."""

    @broker.subscriber(
        *topics,
        pattern=pattern,
        group_id=group_id,
        listener=assignment,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # The contract's JSON Schemas document the payloads (docs/asyncapi.json); this subscriber reads raw bytes.
        include_in_schema=False,
    )
    async def on_record(message: KafkaMessage) -> None:
        record: ConsumerRecord = message.raw_message  # type: ignore[assignment]
        try:
            event = decode(record.value)
        except UndecodableEvent as exc:
            await dead_letter(broker, record, f"undecodable event: {exc.reason}", group_id)
            return
        with structlog.contextvars.bound_contextvars(
            event_id=str(event.event_id), correlation_id=event.correlation_id, event_type=event.event_type
        ):
            try:
                await handle(event, Delivery.of(record))
            except Rejected as exc:
                await dead_letter(broker, record, exc.reason, group_id)
            except Exception:
                log.exception("handler failed; the record will be retried", topic=record.topic, offset=record.offset)
                # Rewinding happens when this raises; the pause keeps an outage from becoming a busy loop.
                await asyncio.sleep(RETRY_DELAY_S)
                raise


def on_inbound(broker: KafkaBroker, owned: tuple[type[Event], ...],
               check: Callable[[Event], Awaitable[None]] | None = None) -> Handler:
    """Handler of the institutions' inbound topics for the event types one service owns (others are left to their
    owners). Only an institution's own principal may write its inbound topic, so the topic names the sender: a record
    claiming another institution (in its data or as its producer) is refused; one that passes `check` (which raises
    Rejected) is republished, same event_id, on its canonical topic, which only this service may write."""

    async def handle(event: Event, delivery: Delivery) -> None:
        if not isinstance(event, owned):
            return
        sender = institution_of_inbound(delivery.topic)
        for claimed in (event.data.institution_id, event.producer):  # type: ignore[attr-defined]
            if claimed != sender:
                raise Rejected(f"record claims institution {claimed} on the inbound topic of {sender}")
        if check is not None:
            await check(event)
        await publish(broker, event)

    return handle


BatchHandler = Callable[[list[tuple[Event, Delivery]]], Awaitable[list[tuple[Delivery, str]]]]


def subscribe_batch(
    broker: KafkaBroker, topics: Iterable[str], group_id: str, handle: BatchHandler, max_records: int = 500,
    assignment: Assignment | None = None,
) -> None:
    """Register `handle` for batches of up to `max_records` decoded events. Undecodable records are dead-lettered
    here; `handle` returns the (delivery, reason) of events the domain refuses, which are dead-lettered too. The
    offsets of the whole batch are committed only after `handle` returned, that is after its one bulk write; if it
    raises, every partition of the batch is rewound and the batch is delivered again."""

    @broker.subscriber(
        *topics,
        group_id=group_id,
        listener=assignment,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=max_records,
        include_in_schema=False,
    )
    async def on_batch(message: KafkaMessage) -> None:
        batch: tuple[ConsumerRecord, ...] = message.raw_message  # type: ignore[assignment]
        by_delivery: dict[Delivery, ConsumerRecord] = {}
        events: list[tuple[Event, Delivery]] = []
        for record in batch:
            try:
                event = decode(record.value)
            except UndecodableEvent as exc:
                await dead_letter(broker, record, f"undecodable event: {exc.reason}", group_id)
                continue
            delivery = Delivery.of(record)
            by_delivery[delivery] = record
            events.append((event, delivery))
        try:
            refused = await handle(events) if events else []
        except Exception:
            log.exception("batch handler failed; the batch will be retried", records=len(batch))
            await asyncio.sleep(RETRY_DELAY_S)
            raise
        for delivery, reason in refused:
            await dead_letter(broker, by_delivery[delivery], reason, group_id)
