"""Prometheus text exposition of what an operator watches: consumer lag per partition and dead letters."""

from __future__ import annotations

import re

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from creditflow.events import DEAD_LETTER_TOPIC

from .clock import OperatorClock
from .kafka import DEAD_LETTERS_WRITTEN
from .settings import KafkaLogin
from .topics import partitions_of


def _labels(**values: object) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in values.items()) + "}"


async def exposition(login: KafkaLogin, subscriptions: dict[str, tuple[str, ...] | str],
                     held: dict[str, set[TopicPartition]] | None = None) -> str:
    """Lag = end offset - committed offset, for every partition of every topic each consumer group reads (a group
    subscribed by pattern reads the topics that match it now); and the same for the partitions this instance holds
    (`held`, per group), which is its share of the group's work when several instances run."""
    held = held or {}
    mine: list[str] = []
    admin = AIOKafkaAdminClient(**login.aiokafka())
    consumer = AIOKafkaConsumer(**login.aiokafka(), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    lines = [
        "# HELP creditflow_consumer_lag Records not yet processed by the consumer group, per partition.",
        "# TYPE creditflow_consumer_lag gauge",
    ]
    try:
        for group, subscribed in sorted(subscriptions.items()):
            topics = subscribed if isinstance(subscribed, tuple) else [
                t for t in await admin.list_topics() if re.match(subscribed, t)]
            committed = await admin.list_consumer_group_offsets(group)
            partitions = await partitions_of(admin, list(topics))
            ends = await consumer.end_offsets(partitions) if partitions else {}
            for tp in partitions:
                done = committed.get(tp)
                lag = ends[tp] - (done.offset if done is not None and done.offset >= 0 else 0)
                labels = _labels(group=group, topic=tp.topic, partition=tp.partition)
                lines.append(f"creditflow_consumer_lag{labels} {lag}")
                if tp in held.get(group, ()):
                    mine.append(f"creditflow_instance_lag{labels} {lag}")
            mine.append(f"creditflow_instance_partitions{_labels(group=group)} "
                        f"{len(held.get(group, set()) & set(partitions))}")
        dlq = await partitions_of(admin, [DEAD_LETTER_TOPIC])
        stored = sum((await consumer.end_offsets(dlq)).values()) if dlq else 0
    finally:
        await consumer.stop()
        await admin.close()
    lines += [
        "# HELP creditflow_instance_lag Records not yet processed on the partitions this instance holds now.",
        "# TYPE creditflow_instance_lag gauge",
        *(line for line in mine if line.startswith("creditflow_instance_lag")),
        "# HELP creditflow_instance_partitions Partitions of the consumer group this instance holds now.",
        "# TYPE creditflow_instance_partitions gauge",
        *(line for line in mine if line.startswith("creditflow_instance_partitions")),
        "# HELP creditflow_dead_letters_written_total Records this process sent to the dead-letter topic.",
        "# TYPE creditflow_dead_letters_written_total counter",
        *(f"creditflow_dead_letters_written_total{_labels(group=g)} {DEAD_LETTERS_WRITTEN[g]}"
          for g in sorted(subscriptions)),
        "# HELP creditflow_dead_letter_topic_records Records in the dead-letter topic, from every service.",
        "# TYPE creditflow_dead_letter_topic_records gauge",
        f"creditflow_dead_letter_topic_records {stored}",
    ]
    return "\n".join(lines) + "\n"


def clock_exposition(environment: str, clock: OperatorClock) -> str:
    """How far the operator clock of a service whose rules depend on time is moved (0: real time)."""
    return "\n".join([
        "# HELP creditflow_clock_offset_seconds How far this service's clock is moved from the real time (0: not).",
        "# TYPE creditflow_clock_offset_seconds gauge",
        f"creditflow_clock_offset_seconds{_labels(environment=environment)} {int(clock.offset().total_seconds())}",
    ]) + "\n"
