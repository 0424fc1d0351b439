"""Kafka handlers of learner-record: learner events in batches (one bulk write per batch), registrations one by one."""

from __future__ import annotations

from datetime import UTC, datetime

from creditflow.events import Event, InstitutionRegistered
from creditflow.events.topics import CONSENTS, CREDENTIALS, INSTITUTIONS, PROGRESS, RECOGNITIONS
from creditflow.runtime.kafka import BatchHandler, Delivery, Handler

from .checks import verdicts_off_loop
from .store import InstitutionDirectory, RecordStore

LEARNER_TOPICS = (CREDENTIALS.name, RECOGNITIONS.name, PROGRESS.name, CONSENTS.name)
REGISTRY_TOPICS = (INSTITUTIONS.name,)


def on_learner_events(store: RecordStore, directory: InstitutionDirectory) -> BatchHandler:
    """Every award's credential is verified here, before the fold, whoever wrote the topic."""

    async def handle(events: list[tuple[Event, Delivery]]) -> list[tuple[Delivery, str]]:
        found = await verdicts_off_loop([event for event, _ in events], directory.key_resolver(), datetime.now(UTC))
        await store.apply_batch(events, found)
        return []

    return handle


def on_registration(directory: InstitutionDirectory) -> Handler:
    async def handle(event: Event, delivery: Delivery) -> None:
        if isinstance(event, InstitutionRegistered):
            await directory.apply(event)

    return handle
