"""Kafka handlers of recognition: thin. Each decodes nothing itself (the runtime did), calls the use case, and turns
a refusal into a dead letter with its reason."""

from __future__ import annotations

from creditflow.events import (
    ArticulationAgreementPublished,
    CredentialAwarded,
    CredentialRevoked,
    Event,
    InstitutionRegistered,
    ProgrammePublished,
    RecognitionAppealed,
    RecognitionPolicyPublished,
    RecognitionRequested,
)
from creditflow.events.topics import CREDENTIALS, INSTITUTIONS, PROGRAMMES, RECOGNITION_RULES, RECOGNITIONS
from creditflow.events.permissions import INBOUND_PATTERN
from creditflow.runtime.kafka import Delivery, Handler, Rejected, on_inbound
from faststream.kafka import KafkaBroker

from .procedure import CaseError
from .service import Recognition

LEARNER_TOPICS = (CREDENTIALS.name, RECOGNITIONS.name)
REGISTRY_TOPICS = (INSTITUTIONS.name, PROGRAMMES.name, RECOGNITION_RULES.name)

INBOUND = INBOUND_PATTERN
# What institutions publish on their inbound topics that recognition owns: policies, agreements, recognition
# requests and appeals.
INBOUND_EVENTS = (RecognitionPolicyPublished, ArticulationAgreementPublished, RecognitionRequested,
                  RecognitionAppealed)


def on_inbound_event(broker: KafkaBroker) -> Handler:
    """Republishes the institution's policies, agreements, recognition requests and appeals on their canonical
    topics once the topic's institution is the one they claim; the canonical consumers apply them."""
    return on_inbound(broker, INBOUND_EVENTS)


def on_learner_event(recognition: Recognition) -> Handler:
    store = recognition.store

    async def handle(event: Event, delivery: Delivery) -> None:
        try:
            if isinstance(event, RecognitionRequested):
                await recognition.request(event)
            elif isinstance(event, RecognitionAppealed):
                await recognition.appeal(event)
            elif isinstance(event, CredentialAwarded):
                await store.put_award(event)
                await recognition.credential_arrived(event.learner_id)
            elif isinstance(event, CredentialRevoked):
                await store.put_revocation(event)
                await recognition.credential_revoked(event.learner_id, event.data.credential_id, event.data.reason,
                                                     str(event.event_id))
            # Its own file checks, decisions and overdue notices come back on the topic: nothing to do.
        except CaseError as exc:
            raise Rejected(exc.detail) from exc

    return handle


def on_registry_event(recognition: Recognition) -> Handler:
    store = recognition.store

    async def handle(event: Event, delivery: Delivery) -> None:
        if isinstance(event, InstitutionRegistered):
            await store.put_institution(event.data)
            await recognition.registration_arrived()
        elif isinstance(event, ProgrammePublished):
            await store.put_programme(event.data)
        elif isinstance(event, RecognitionPolicyPublished):
            await store.put_policy(event.data)
            await recognition.rules_changed(event.data.institution_id, str(event.event_id))
        elif isinstance(event, ArticulationAgreementPublished):
            await store.put_agreement(event.data)
            await recognition.rules_changed(event.data.institution_id, str(event.event_id))

    return handle
