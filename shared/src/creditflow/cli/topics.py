"""`creditflow topics describe | tail`: what the topics hold, read as the Kafka admin (runtime.settings.admin_login),
who alone may read every topic (decision 0001)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from creditflow.runtime.settings import KafkaLogin, admin_login
from creditflow.runtime.topics import partitions_of

CLIENT_ID = "creditflow-cli"


async def _partitions(login: KafkaLogin, names: list[str]) -> list[TopicPartition]:
    """Every partition of the named topics (of every topic but Kafka's own when none is named)."""
    admin = AIOKafkaAdminClient(**login.aiokafka(), client_id=CLIENT_ID)
    await admin.start()
    try:
        existing = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
        missing = [n for n in names if n not in existing]
        if missing:
            raise SystemExit(f"creditflow topics: no topic {', '.join(missing)} (`creditflow topics describe` lists "
                             "them all)")
        return await partitions_of(admin, names or existing)
    finally:
        await admin.close()


async def _describe(names: list[str]) -> list[tuple[str, int, int]]:
    login = admin_login(os.environ)
    partitions = await _partitions(login, names)
    consumer = AIOKafkaConsumer(**login.aiokafka(), client_id=CLIENT_ID, enable_auto_commit=False)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    rows: dict[str, list[int]] = {}
    for tp in partitions:
        row = rows.setdefault(tp.topic, [0, 0])
        row[0] += 1
        row[1] += ends[tp] - starts[tp]
    return [(topic, count, records) for topic, (count, records) in sorted(rows.items())]


def describe(names: list[str]) -> int:
    """Each topic (all of them by default) with its partitions and the records it holds."""
    from .output import table

    table(("TOPIC", "PARTITIONS", "RECORDS"), [(t, str(p), str(r)) for t, p, r in asyncio.run(_describe(names))])
    return 0


def as_json(record: ConsumerRecord) -> dict[str, Any]:
    """A record as one JSON object: where it is, its key and headers, and its value (parsed when it is JSON)."""
    value: Any = record.value.decode(errors="replace") if record.value is not None else None
    try:
        value = json.loads(value) if value is not None else None
    except ValueError:
        pass  # not JSON (a dead letter may hold any bytes): shown as text
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset,
            "timestamp": record.timestamp, "key": record.key.decode(errors="replace") if record.key else None,
            "headers": {k: v.decode(errors="replace") for k, v in record.headers or ()}, "value": value}


async def _tail(name: str, count: int, follow: bool) -> None:
    login = admin_login(os.environ)
    partitions = await _partitions(login, [name])
    consumer = AIOKafkaConsumer(**login.aiokafka(), client_id=CLIENT_ID, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        starts, ends = await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
        for tp in partitions:  # the last `count` of each partition hold the last `count` of the topic
            consumer.seek(tp, max(starts[tp], ends[tp] - count))
        last: list[ConsumerRecord] = []
        while not all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                last.extend(batch)
        for record in sorted(last, key=lambda r: (r.timestamp, r.partition, r.offset))[-count:] if count else []:
            print(json.dumps(as_json(record)), flush=True)
        while follow:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                for record in batch:
                    print(json.dumps(as_json(record)), flush=True)
    finally:
        await consumer.stop()


def tail(name: str, count: int, follow: bool) -> int:
    """The topic's last `count` records as JSON lines, oldest first; with follow, every new one as it arrives."""
    try:
        asyncio.run(_tail(name, count, follow))
    except KeyboardInterrupt:
        print("", file=sys.stderr)
    return 0

