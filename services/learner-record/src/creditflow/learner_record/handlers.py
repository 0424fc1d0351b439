"""Kafka handlers of learner-record: learner events in batches (one bulk write per batch), registrations one by one."""

from __future__ import annotations

from datetime import UTC, datetime

from creditflow.events import Event, InstitutionRegistered
from creditflow.events.topics import CONSENTS, CREDENTIALS, INSTITUTIONS, PROGRESS, RECOGNITIONS
from creditflow.runtime.kafka import BatchHandler, Delivery, Handler

from .checks import screened, unverified_verdicts, verdicts_off_loop
from .store import InstitutionDirectory, RecordStore

LEARNER_TOPICS = (CREDENTIALS.name, RECOGNITIONS.name, PROGRESS.name, CONSENTS.name)
REGISTRY_TOPICS = (INSTITUTIONS.name,)


def on_learner_events(store: RecordStore, directory: InstitutionDirectory) -> BatchHandler:
    """Every award's credential is verified and every consent checked here, before the fold, whoever wrote the
    topic; refused consents are dead-lettered."""

    async def handle(events: list[tuple[Event, Delivery]]) -> list[tuple[Delivery, str]]:
        accepted, refused = screened(events)
        found = await verdicts_off_loop([event for event, _ in accepted], directory.key_resolver(),
                                        datetime.now(UTC))
        await store.apply_batch(accepted, found)
        return refused

    return handle


def on_registration(store: RecordStore, directory: InstitutionDirectory) -> Handler:
    """Keep each institution's registration; then judge again its credentials shown unverified, for an award may
    have arrived before its issuer's key was registered (the topics are read independently)."""

    async def handle(event: Event, delivery: Delivery) -> None:
        if not isinstance(event, InstitutionRegistered):
            return
        await directory.apply(event)
        resolve_key, now, institution_id = directory.key_resolver(), datetime.now(UTC), event.data.institution_id
        await store.rejudge(institution_id, lambda record: unverified_verdicts(record, institution_id, resolve_key,
                                                                                now))

    return handle
