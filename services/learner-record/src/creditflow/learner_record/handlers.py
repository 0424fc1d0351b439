"""Kafka handlers of learner-record: learner events in batches (one bulk write per batch), registrations one by one."""

from __future__ import annotations

from creditflow.events import Event, InstitutionRegistered
from creditflow.events.topics import CONSENTS, CREDENTIALS, INSTITUTIONS, PROGRESS, RECOGNITIONS
from creditflow.runtime.kafka import BatchHandler, Delivery, Handler

from .store import InstitutionDirectory, RecordStore

LEARNER_TOPICS = (CREDENTIALS.name, RECOGNITIONS.name, PROGRESS.name, CONSENTS.name)
REGISTRY_TOPICS = (INSTITUTIONS.name,)


def on_learner_events(store: RecordStore) -> BatchHandler:
    async def handle(events: list[tuple[Event, Delivery]]) -> list[tuple[Delivery, str]]:
        await store.apply_batch(events)
        return []

    return handle


def on_registration(directory: InstitutionDirectory) -> Handler:
    async def handle(event: Event, delivery: Delivery) -> None:
        if isinstance(event, InstitutionRegistered):
            await directory.apply(event)

    return handle
