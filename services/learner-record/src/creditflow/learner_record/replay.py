"""`creditflow replay`: rebuild the learner records from offset 0 of every learner topic.

The rebuild goes into a fresh collection while the live service keeps serving the old one. When the rebuild has
caught up, the live consumer is told to write to both; the rebuild then reads up to the new end of the topics and
the active pointer switches. The fold is idempotent and commutative, so events applied by both writers in the
overlap change nothing, and none is missed.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from tqdm import tqdm

from creditflow.events import UndecodableEvent, decode
from creditflow.runtime.kafka import Delivery
from creditflow.runtime.mongo import mongo_client
from creditflow.runtime.settings import Settings
from creditflow.runtime.topics import partitions_of

from .handlers import LEARNER_TOPICS
from .checks import screened, verdicts
from .store import POINTER, InstitutionDirectory, RecordStore

BATCH = 2000


async def _read_until(consumer: AIOKafkaConsumer, store: RecordStore, directory: InstitutionDirectory, target: str,
                      ends: dict[TopicPartition, int], progress: tqdm) -> tuple[int, int]:
    """Fold every record up to `ends` into `target`; returns (events applied, records skipped as undecodable)."""
    applied = skipped = 0
    while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
        batch = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
        events = []
        for tp, records in batch.items():
            for record in records:
                if record.offset >= ends[tp]:
                    continue
                try:
                    events.append((decode(record.value), Delivery.of(record)))
                except UndecodableEvent:
                    skipped += 1  # the live consumer dead-lettered it when it first arrived
        events, refused = screened(events)  # the live consumer dead-lettered these
        skipped += len(refused)
        if events:
            # A replay verifies every credential again, with the keys registered now (retired keys keep their
            # windows), as the live consumer did.
            found = await verdicts([event for event, _ in events], directory.key_resolver(), datetime.now(UTC))
            await store.apply_batch(events, found, targets=[target])
        applied += len(events)
        progress.update(sum(len(records) for records in batch.values()))
    return applied, skipped


async def replay(settings: Settings, quiet: bool = False) -> dict[str, object]:
    client = mongo_client(settings)
    store = RecordStore(client[settings.mongodb_database])
    directory = InstitutionDirectory(client[settings.mongodb_database])
    target = f"learner_records_{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    admin = AIOKafkaAdminClient(**settings.kafka_login.aiokafka())
    await admin.start()
    try:
        partitions = await partitions_of(admin, list(LEARNER_TOPICS))
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(**settings.kafka_login.aiokafka(), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    started = time.perf_counter()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        first_ends = await consumer.end_offsets(partitions)
        begins = await consumer.beginning_offsets(partitions)
        total = sum(first_ends[tp] - begins[tp] for tp in partitions)
        with tqdm(total=total, unit="event", desc=f"replaying into {target}", disable=quiet, file=sys.stderr) as bar:
            applied, skipped = await _read_until(consumer, store, directory, target, first_ends, bar)
            active, _ = await store.collections()
            await store.meta.update_one({"_id": POINTER}, {"$set": {"active": active, "next": target}}, upsert=True)
            final_ends = await consumer.end_offsets(partitions)
            bar.total = total + sum(final_ends[tp] - first_ends[tp] for tp in partitions)
            more, more_skipped = await _read_until(consumer, store, directory, target, final_ends, bar)
        await store.meta.update_one({"_id": POINTER}, {"$set": {"active": target, "next": None}})
    finally:
        await consumer.stop()
        await client.close()
    seconds = time.perf_counter() - started
    events = applied + more
    return {"collection": target, "previous": active, "events": events, "skipped": skipped + more_skipped,
            "seconds": round(seconds, 2), "events_per_second": round(events / seconds) if seconds else events}
