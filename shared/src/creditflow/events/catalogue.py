"""Every event of the creditflow mission, with its payload.

Registry facts (institutions, achievements, programmes, policies, agreements) are keyed by the institution or
programme; learner facts (credentials, recognitions, progress, consent) by `learner_id`. See `topics.py`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from .envelope import ContractModel, Event, Identifier, LearnerEvent, UtcDatetime
from .values import (
    Achievement,
    CountryCode,
    CreditFramework,
    CreditValue,
    EctsConversion,
    LearningOutcome,
    Level,
    PublicKey,
    QualityAssurance,
    Share,
    ShortText,
    SizeClassification,
    Text,
)

# ------------------------------------------------------------------------------------------------ issuer: registry


class InstitutionRegisteredData(ContractModel):
    institution_id: Identifier
    name: ShortText
    country: CountryCode = Field(description="ISO 3166-1 alpha-2 country of the awarding body.")
    credit_frameworks: list[CreditFramework] = Field(min_length=1)
    quality_assurance: list[QualityAssurance] = Field(default_factory=list)
    public_keys: list[PublicKey] = Field(default_factory=list)
    issuer_id: str | None = Field(
        default=None,
        max_length=500,
        description="The `issuer.id` of the institution's credentials; a key's JWS kid is `<issuer_id>#<key_id>`.",
    )


class InstitutionRegistered(Event):
    """An institution joined the network, or republished its registration (keys rotated, QA renewed)."""

    event_type: Literal["creditflow.issuer.institution.registered.v1"] = "creditflow.issuer.institution.registered.v1"
    data: InstitutionRegisteredData


class AchievementPublished(Event):
    """An institution published what it awards (a credential specification)."""

    event_type: Literal["creditflow.issuer.achievement.published.v1"] = "creditflow.issuer.achievement.published.v1"
    data: Achievement


# ------------------------------------------------------------------------------------------------ issuer: learner


class CredentialAwardedData(ContractModel):
    credential_id: Identifier
    institution_id: Identifier
    achievement: Achievement = Field(description="The achievement as it stood when awarded.")
    awarded_at: UtcDatetime
    grade: ShortText | None = None
    credit_conversions: list[EctsConversion] = Field(default_factory=list)
    size: SizeClassification | None = None
    credential: dict[str, Any] | None = Field(
        default=None, description="The signed Open Badges 3.0 AchievementCredential (W3C VC 2.0), as issued."
    )


class CredentialAwarded(LearnerEvent):
    event_type: Literal["creditflow.issuer.credential.awarded.v1"] = "creditflow.issuer.credential.awarded.v1"
    data: CredentialAwardedData


class CredentialRevokedData(ContractModel):
    credential_id: Identifier
    institution_id: Identifier
    reason: Text


class CredentialRevoked(LearnerEvent):
    event_type: Literal["creditflow.issuer.credential.revoked.v1"] = "creditflow.issuer.credential.revoked.v1"
    data: CredentialRevokedData


# ------------------------------------------------------------------------------------------------ stacking


class Module(ContractModel):
    """A unit of a programme that credits can be recognised or stacked into."""

    module_id: Identifier
    title: ShortText
    credits: CreditValue
    level: Level | None = None
    field_of_study: str | None = None
    learning_outcomes: list[LearningOutcome] = Field(default_factory=list)


class Requirement(ContractModel):
    """One rule of a programme: a required component, or an elective group of at least N credits or K items."""

    requirement_id: Identifier
    kind: Literal["required", "elective"]
    options: list[Identifier] = Field(min_length=1, description="module_ids or achievement_ids that satisfy it.")
    min_credits: float | None = Field(default=None, gt=0)
    min_items: int | None = Field(default=None, ge=1)


class ProgrammePublishedData(ContractModel):
    programme_id: Identifier
    institution_id: Identifier
    version: int = Field(ge=1)
    effective_from: date = Field(description="Applies to learners who start on or after this date.")
    title: ShortText
    total_credits: CreditValue
    min_level: Level | None = None
    modules: list[Module] = Field(default_factory=list)
    requirements: list[Requirement] = Field(default_factory=list)
    max_micro_credential_share: Share | None = None
    max_recognised_share: Share | None = None
    recency_years: int | None = Field(default=None, ge=1)
    min_grade: ShortText | None = None
    award_mode: Literal["automatic", "registrar"] = "registrar"


class ProgrammePublished(Event):
    event_type: Literal["creditflow.stacking.programme.published.v1"] = "creditflow.stacking.programme.published.v1"
    data: ProgrammePublishedData


class CreditAllocation(ContractModel):
    credential_id: Identifier
    requirement_id: Identifier
    credits: float = Field(ge=0)


class StackingProgressUpdatedData(ContractModel):
    programme_id: Identifier
    institution_id: Identifier
    programme_version: int = Field(ge=1)
    credits_counted: float = Field(ge=0)
    credits_required: float = Field(ge=0)
    satisfied_requirements: list[Identifier] = Field(default_factory=list)
    missing_requirements: list[Identifier] = Field(default_factory=list)
    allocations: list[CreditAllocation] = Field(default_factory=list)


class StackingProgressUpdated(LearnerEvent):
    event_type: Literal["creditflow.stacking.progress.updated.v1"] = "creditflow.stacking.progress.updated.v1"
    data: StackingProgressUpdatedData


class QualificationCompletedData(ContractModel):
    programme_id: Identifier
    institution_id: Identifier
    programme_version: int = Field(ge=1)
    credential_ids: list[Identifier] = Field(min_length=1, description="The credentials the qualification is built from.")


class QualificationCompleted(LearnerEvent):
    event_type: Literal["creditflow.stacking.qualification.completed.v1"] = (
        "creditflow.stacking.qualification.completed.v1"
    )
    data: QualificationCompletedData


# ------------------------------------------------------------------------------------------------ recognition


class RecognitionPolicyPublishedData(ContractModel):
    institution_id: Identifier
    version: int = Field(ge=1)
    effective_from: date
    accepted_qa_bodies: list[ShortText] = Field(default_factory=list)
    min_level: Level | None = None
    conversion: Literal["hours", "convention"] = "convention"
    recency_years: int | None = Field(default=None, ge=1)
    min_grade: ShortText | None = None
    max_recognised_share: Share | None = None
    outcome_overlap_threshold: Share = 0.6
    automatic_decisions: bool = True


class RecognitionPolicyPublished(Event):
    event_type: Literal["creditflow.recognition.policy.published.v1"] = "creditflow.recognition.policy.published.v1"
    data: RecognitionPolicyPublishedData


class ArticulationAgreementPublishedData(ContractModel):
    agreement_id: Identifier
    institution_id: Identifier = Field(description="The receiving institution.")
    source_institution_id: Identifier
    source_achievement_id: Identifier
    programme_id: Identifier
    module_id: Identifier
    credits: CreditValue
    effective_from: date
    effective_until: date | None = None


class ArticulationAgreementPublished(Event):
    event_type: Literal["creditflow.recognition.agreement.published.v1"] = (
        "creditflow.recognition.agreement.published.v1"
    )
    data: ArticulationAgreementPublishedData


class RecognitionRequestedData(ContractModel):
    case_id: Identifier
    institution_id: Identifier = Field(description="The receiving institution asked to recognise the credits.")
    programme_id: Identifier
    module_ids: list[Identifier] = Field(default_factory=list, description="Target modules or credit slots.")
    credential_ids: list[Identifier] = Field(default_factory=list)
    external_credentials: list[dict[str, Any]] = Field(
        default_factory=list, description="Signed credentials from outside creditflow, as the learner holds them."
    )


class RecognitionRequested(LearnerEvent):
    event_type: Literal["creditflow.recognition.case.requested.v1"] = "creditflow.recognition.case.requested.v1"
    data: RecognitionRequestedData


class ElementFinding(ContractModel):
    """One of the five Lisbon elements (or a policy check), compared: finding, evidence and rule."""

    element: ShortText
    finding: Literal["comparable", "substantial-difference", "not-assessed", "passed", "failed"]
    evidence: Text
    rule: ShortText


class RecognisedCredit(ContractModel):
    module_id: Identifier
    credits: CreditValue
    credential_ids: list[Identifier] = Field(min_length=1)


class RecognitionDecidedData(ContractModel):
    case_id: Identifier
    decision_id: Identifier
    institution_id: Identifier
    programme_id: Identifier
    outcome: Literal["granted", "partial", "conditional", "denied", "referred", "invalidated"]
    recognised: list[RecognisedCredit] = Field(default_factory=list)
    findings: list[ElementFinding] = Field(default_factory=list)
    reasons: list[Text] = Field(default_factory=list)
    conditions: list[Text] = Field(default_factory=list)
    decided_by: ShortText = Field(description="'automatic', or the registrar who decided.")
    supersedes: Identifier | None = Field(default=None, description="decision_id this decision replaces.")


class RecognitionDecided(LearnerEvent):
    event_type: Literal["creditflow.recognition.case.decided.v1"] = "creditflow.recognition.case.decided.v1"
    data: RecognitionDecidedData


# ------------------------------------------------------------------------------------------------ learner consent


class LearnerConsentData(ContractModel):
    institution_id: Identifier = Field(description="The institution whose registrars may (no longer) see the record.")
    valid_until: UtcDatetime | None = None


class LearnerConsentGranted(LearnerEvent):
    event_type: Literal["creditflow.learner_record.consent.granted.v1"] = (
        "creditflow.learner_record.consent.granted.v1"
    )
    data: LearnerConsentData


class LearnerConsentRevoked(LearnerEvent):
    event_type: Literal["creditflow.learner_record.consent.revoked.v1"] = (
        "creditflow.learner_record.consent.revoked.v1"
    )
    data: LearnerConsentData


EVENT_CLASSES: tuple[type[Event], ...] = (
    InstitutionRegistered,
    AchievementPublished,
    CredentialAwarded,
    CredentialRevoked,
    ProgrammePublished,
    StackingProgressUpdated,
    QualificationCompleted,
    RecognitionPolicyPublished,
    ArticulationAgreementPublished,
    RecognitionRequested,
    RecognitionDecided,
    LearnerConsentGranted,
    LearnerConsentRevoked,
)

AnyEvent = Annotated[
    InstitutionRegistered
    | AchievementPublished
    | CredentialAwarded
    | CredentialRevoked
    | ProgrammePublished
    | StackingProgressUpdated
    | QualificationCompleted
    | RecognitionPolicyPublished
    | ArticulationAgreementPublished
    | RecognitionRequested
    | RecognitionDecided
    | LearnerConsentGranted
    | LearnerConsentRevoked,
    Field(discriminator="event_type"),
]
