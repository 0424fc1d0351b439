"""Kafka handlers of stacking. The walking skeleton logs what arrives; the stacking issue fills in the decisions."""

from __future__ import annotations

import structlog

from creditflow.events import Event
from creditflow.events.topics import CREDENTIALS, RECOGNITIONS, PROGRAMMES
from creditflow.runtime.kafka import Delivery

TOPICS = tuple(t.name for t in (CREDENTIALS, RECOGNITIONS, PROGRAMMES))

log = structlog.get_logger("creditflow.stacking")


async def on_event(event: Event, delivery: Delivery) -> None:
    log.info("event received", topic=delivery.topic, partition=delivery.partition, offset=delivery.offset)
