"""Kafka handlers of learner-record: decode (done by the shared consumer), fold, write."""

from __future__ import annotations

from creditflow.events import LearnerEvent
from creditflow.events.topics import CONSENTS, CREDENTIALS, PROGRESS, RECOGNITIONS
from creditflow.runtime.kafka import Delivery, Handler

from .store import RecordStore

TOPICS = (CREDENTIALS.name, RECOGNITIONS.name, PROGRESS.name, CONSENTS.name)


def on_learner_event(store: RecordStore) -> Handler:
    async def handle(event, delivery: Delivery) -> None:
        if isinstance(event, LearnerEvent):
            await store.apply(event.learner_id, event, delivery)

    return handle
