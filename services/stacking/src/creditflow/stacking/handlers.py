"""Kafka handlers of stacking: learner events update a learner's progress; programmes are checked and stored."""

from __future__ import annotations

from creditflow.events import (
    CredentialAwarded,
    CredentialRevoked,
    Event,
    LearnerConsentGranted,
    LearnerConsentRevoked,
    LearnerEnrolled,
    ProgrammePublished,
    RecognitionDecided,
)
from creditflow.events.topics import CONSENTS, CREDENTIALS, PROGRAMMES, PROGRESS, RECOGNITIONS
from creditflow.events.permissions import INBOUND_PATTERN, consent_refusal
from creditflow.runtime.kafka import Delivery, Handler, Rejected, on_inbound
from faststream.kafka import KafkaBroker

from .service import Stacking

LEARNER_TOPICS = (CREDENTIALS.name, RECOGNITIONS.name, PROGRESS.name, CONSENTS.name)
REGISTRY_TOPICS = (PROGRAMMES.name,)
FOLDED = (CredentialAwarded, CredentialRevoked, RecognitionDecided, LearnerEnrolled, LearnerConsentGranted,
          LearnerConsentRevoked)

INBOUND = INBOUND_PATTERN
# What institutions publish on their inbound topics that stacking owns: programmes and enrolments.
INBOUND_EVENTS = (ProgrammePublished, LearnerEnrolled)


def on_inbound_event(broker: KafkaBroker) -> Handler:
    """Republishes the institution's programmes and enrolments on their canonical topics once the topic's
    institution is the one they claim; the canonical consumers apply them."""
    return on_inbound(broker, INBOUND_EVENTS)


def on_learner_event(stacking: Stacking) -> Handler:
    async def handle(event: Event, delivery: Delivery) -> None:
        # Requests, file checks, appeals and stacking's own progress events change nothing here.
        if isinstance(event, LearnerEnrolled) and (problem := await stacking.enrolment_problem(event)):
            raise Rejected(problem)
        # A consent ties an institution to the learner's progress: believed only as its one route records it.
        if isinstance(event, LearnerConsentGranted | LearnerConsentRevoked) and (problem := consent_refusal(event)):
            raise Rejected(problem)
        if isinstance(event, FOLDED):
            await stacking.learner_event(event)

    return handle


def on_programme(stacking: Stacking) -> Handler:
    async def handle(event: Event, delivery: Delivery) -> None:
        if isinstance(event, ProgrammePublished):
            problems = await stacking.programme_published(event)
            if problems:
                raise Rejected(f"programme {event.data.programme_id} v{event.data.version} can never be completed: "
                               + "; ".join(problems))

    return handle
