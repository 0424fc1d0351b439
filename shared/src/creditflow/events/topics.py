"""Kafka topics of the contract: which events travel where, keyed by what, kept how long.

Learner topics are keyed by learner_id, so one learner's events stay in order on one partition. Registry topics are
keyed by the institution (or programme) they describe. Every topic is the record: retention is unlimited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .catalogue import (
    AchievementPublished,
    ArticulationAgreementPublished,
    CredentialAwarded,
    CredentialRevoked,
    InstitutionRegistered,
    LearnerConsentGranted,
    LearnerConsentRevoked,
    LearnerEnrolled,
    ProgrammePublished,
    QualificationCompleted,
    QualificationInvalidated,
    RecognitionAppealed,
    RecognitionDecided,
    RecognitionFileChecked,
    RecognitionOverdue,
    RecognitionPolicyPublished,
    RecognitionRequested,
    StackingProgressUpdated,
    TokenIssued,
    TokenRevoked,
)
from .envelope import Event, LearnerEvent

KEEP_FOREVER: Mapping[str, str] = {"retention.ms": "-1", "retention.bytes": "-1"}


def _learner_key(event: Event) -> str:
    assert isinstance(event, LearnerEvent)
    return event.learner_id


def _institution_key(event: Event) -> str:
    return event.data.institution_id  # type: ignore[attr-defined]


def _programme_key(event: Event) -> str:
    return event.data.programme_id  # type: ignore[attr-defined]


def _token_key(event: Event) -> str:
    return event.data.jti  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Topic:
    name: str
    description: str
    events: tuple[type[Event], ...]
    key_name: str
    key_of: Callable[[Event], str] = field(repr=False)
    partitions: int = 3
    config: Mapping[str, str] = field(default_factory=lambda: dict(KEEP_FOREVER))


INSTITUTIONS = Topic(
    "creditflow.registry.institutions",
    "Institutions joining the network: identity, credit frameworks, quality assurance, public keys.",
    (InstitutionRegistered,),
    "institution_id",
    _institution_key,
)
ACHIEVEMENTS = Topic(
    "creditflow.registry.achievements",
    "What each institution awards: achievement definitions with the EU standard elements.",
    (AchievementPublished,),
    "institution_id",
    _institution_key,
)
PROGRAMMES = Topic(
    "creditflow.registry.programmes",
    "Programmes (stackable qualifications) with modules and stacking rules.",
    (ProgrammePublished,),
    "programme_id",
    _programme_key,
)
RECOGNITION_RULES = Topic(
    "creditflow.registry.recognition-rules",
    "Receiving institutions' recognition policies and articulation agreements.",
    (RecognitionPolicyPublished, ArticulationAgreementPublished),
    "institution_id",
    _institution_key,
)
CREDENTIALS = Topic(
    "creditflow.learner.credentials",
    "Credentials awarded to and revoked from learners.",
    (CredentialAwarded, CredentialRevoked),
    "learner_id",
    _learner_key,
)
RECOGNITIONS = Topic(
    "creditflow.learner.recognitions",
    "Recognition cases: requests, file checks, decisions, appeals and overdue notices.",
    (RecognitionRequested, RecognitionFileChecked, RecognitionDecided, RecognitionAppealed, RecognitionOverdue),
    "learner_id",
    _learner_key,
)
PROGRESS = Topic(
    "creditflow.learner.progress",
    "Enrolments, stacking progress toward programmes, completed and invalidated qualifications.",
    (LearnerEnrolled, StackingProgressUpdated, QualificationCompleted, QualificationInvalidated),
    "learner_id",
    _learner_key,
)
CONSENTS = Topic(
    "creditflow.learner.consents",
    "Learners granting and revoking institutions' access to their record.",
    (LearnerConsentGranted, LearnerConsentRevoked),
    "learner_id",
    _learner_key,
)
# One partition: every service reads the whole registry from offset 0 before it is ready, and revocations are few.
TOKENS = Topic(
    "creditflow.identity.tokens",
    "The token registry (0002): every token the operator created (its claims, never the token) and revocations.",
    (TokenIssued, TokenRevoked),
    "jti",
    _token_key,
    partitions=1,
)

CONTRACT_TOPICS: tuple[Topic, ...] = (
    INSTITUTIONS,
    ACHIEVEMENTS,
    PROGRAMMES,
    RECOGNITION_RULES,
    CREDENTIALS,
    RECOGNITIONS,
    PROGRESS,
    CONSENTS,
    TOKENS,
)

# Where institutions publish credentials they signed themselves. The issuer verifies each one against the keys
# registered to the claimed issuer and forwards it to CREDENTIALS, or dead-letters it with the reason; so what
# reaches the learner topics has always been verified.
INBOUND_CREDENTIALS = Topic(
    "creditflow.inbound.credentials",
    "Credentials signed by institutions themselves, waiting for the issuer's verification.",
    (CredentialAwarded,),
    "learner_id",
    _learner_key,
)

# Records that a consumer could not decode, validate or apply: the original bytes and key, unchanged, with the
# source topic/partition/offset and the reason in headers (the Kafka Connect convention). Kept until an operator
# has dealt with them.
DEAD_LETTER_TOPIC = "creditflow.dead-letter"

_TOPIC_OF: dict[type[Event], Topic] = {cls: topic for topic in CONTRACT_TOPICS for cls in topic.events}


def topic_of(event: Event) -> Topic:
    return _TOPIC_OF[type(event)]
