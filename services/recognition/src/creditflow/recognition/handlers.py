"""Kafka handlers of recognition. The walking skeleton logs what arrives; the recognition issue fills in the decisions."""

from __future__ import annotations

import structlog

from creditflow.events import Event
from creditflow.events.topics import RECOGNITIONS, RECOGNITION_RULES, PROGRAMMES, CREDENTIALS
from creditflow.runtime.kafka import Delivery

TOPICS = tuple(t.name for t in (RECOGNITIONS, RECOGNITION_RULES, PROGRAMMES, CREDENTIALS))

log = structlog.get_logger("creditflow.recognition")


async def on_event(event: Event, delivery: Delivery) -> None:
    log.info("event received", topic=delivery.topic, partition=delivery.partition, offset=delivery.offset)
