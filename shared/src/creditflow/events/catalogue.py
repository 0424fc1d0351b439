"""Every event of the creditflow mission, with its payload.

Registry facts (institutions, achievements, programmes, policies, agreements) are keyed by the institution or
programme; learner facts (credentials, recognitions, progress, consent) by `learner_id`. See `topics.py`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from .envelope import Actor, ContractModel, Event, Identifier, LearnerEvent, UtcDatetime
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
        default=None,
        description="The signed Open Badges 3.0 AchievementCredential (W3C VC 2.0), as issued: since #13 a JSON "
        "object with an embedded Data Integrity proof (eddsa-rdfc-2022); before, a VC-JOSE "
        "EnvelopedVerifiableCredential. Consumers accept both (creditflow.credentials.verify).",
    )
    built_from: list[Identifier] = Field(
        default_factory=list,
        description="For a stacked qualification: the credential_ids it was built from (CLR `isPartOf` sources).",
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
    recognised_grade_required: bool = Field(
        default=False,
        description="True: credit recognised without a grade ('pass') does not meet min_grade; by default it does.",
    )
    award_mode: Literal["automatic", "registrar"] = Field(
        default="registrar",
        description="automatic: the issuer awards the qualification on completion; registrar: a registrar confirms.",
    )
    achievement_id: Identifier | None = Field(
        default=None,
        description="The achievement awarded on completion, as the institution published it at the issuer.",
    )


class ProgrammePublished(Event):
    event_type: Literal["creditflow.stacking.programme.published.v1"] = "creditflow.stacking.programme.published.v1"
    data: ProgrammePublishedData


class CreditAllocation(ContractModel):
    credential_id: Identifier
    requirement_id: Identifier
    credits: float = Field(ge=0)
    source: Literal["credential", "recognition"] = Field(
        default="credential", description="A credential held, or credits recognised by a recognition decision."
    )
    micro_credential: bool = False


class Exclusion(ContractModel):
    """A credential (or recognised credit) that does not count toward a programme, and why."""

    credential_id: Identifier
    reason: Text


class StackingProgressUpdatedData(ContractModel):
    programme_id: Identifier
    institution_id: Identifier
    programme_version: int = Field(ge=1)
    credits_counted: float = Field(ge=0)
    credits_required: float = Field(ge=0)
    satisfied_requirements: list[Identifier] = Field(default_factory=list)
    missing_requirements: list[Identifier] = Field(default_factory=list)
    allocations: list[CreditAllocation] = Field(default_factory=list)
    not_counted: list[Exclusion] = Field(default_factory=list)
    complete: bool = False


class StackingProgressUpdated(LearnerEvent):
    event_type: Literal["creditflow.stacking.progress.updated.v1"] = "creditflow.stacking.progress.updated.v1"
    data: StackingProgressUpdatedData


class QualificationCompletedData(ContractModel):
    programme_id: Identifier
    institution_id: Identifier
    programme_version: int = Field(ge=1)
    credential_ids: list[Identifier] = Field(min_length=1, description="The credentials the qualification is built from.")
    award_mode: Literal["automatic", "registrar"] = "registrar"
    achievement_id: Identifier | None = Field(default=None, description="The qualification's achievement, if any.")


class QualificationCompleted(LearnerEvent):
    event_type: Literal["creditflow.stacking.qualification.completed.v1"] = (
        "creditflow.stacking.qualification.completed.v1"
    )
    data: QualificationCompletedData


class QualificationInvalidatedData(ContractModel):
    programme_id: Identifier
    institution_id: Identifier
    programme_version: int = Field(ge=1)
    credential_ids: list[Identifier] = Field(description="The credentials the completed qualification was built from.")
    lost: list[Identifier] = Field(min_length=1, description="Credentials (or recognitions) that no longer count.")
    reason: Text


class QualificationInvalidated(LearnerEvent):
    """A completed qualification no longer holds: a credential it was built from was revoked, or a recognition it
    relied on was invalidated. Never silently kept."""

    event_type: Literal["creditflow.stacking.qualification.invalidated.v1"] = (
        "creditflow.stacking.qualification.invalidated.v1"
    )
    data: QualificationInvalidatedData


class LearnerEnrolledData(ContractModel):
    programme_id: Identifier
    institution_id: Identifier
    started_on: date = Field(description="Selects the programme version that applies to this learner.")


class LearnerEnrolled(LearnerEvent):
    """A learner started a programme (a stackable qualification) at an institution."""

    event_type: Literal["creditflow.stacking.learner.enrolled.v1"] = "creditflow.stacking.learner.enrolled.v1"
    data: LearnerEnrolledData


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
    grading_table: dict[ShortText, ShortText] = Field(
        default_factory=dict,
        description="A credential's grade (as written, case-insensitive) -> the grade this institution records for "
        "a module recognised on it. Empty: modules are recognised without grades, as 'pass'.",
    )
    max_recognised_share: Share | None = None
    outcome_overlap_threshold: Share = Field(
        default=0.6, description="Share of a module's outcomes the offered credentials must cover."
    )
    automatic_decisions: bool = Field(default=True, description="False: every case goes to a registrar.")
    level_difference: Literal["partial", "denied"] = Field(
        default="partial",
        description="A level below the module's (but not below min_level): credits as electives, or refusal.",
    )


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
    module_id: Identifier | None = Field(default=None, description="The target module the finding is about.")
    credential_ids: list[Identifier] = Field(default_factory=list, description="The credentials compared.")


class RecognisedCredit(ContractModel):
    module_id: Identifier
    credits: CreditValue
    credential_ids: list[Identifier] = Field(min_length=1)
    basis: Literal["equivalence", "elective"] = Field(
        default="equivalence",
        description="equivalence: the module is exempted; elective: the credits count toward the programme only.",
    )
    grade: ShortText | None = Field(
        default=None,
        description="The grade as recognised: the credential's grade converted by the receiving policy's "
        "grading_table, or 'pass' when the policy recognises without grades. Absent on decisions made before #15.",
    )


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
    stage: Literal["first-instance", "review", "invalidation", "re-evaluation"] = "first-instance"
    credential_ids: list[Identifier] = Field(default_factory=list, description="The credentials the decision relies on.")
    agreement_ids: list[Identifier] = Field(default_factory=list, description="Articulation agreements applied.")
    precedent_ids: list[Identifier] = Field(default_factory=list, description="Earlier decisions followed.")
    policy_version: int | None = None


class RecognitionDecided(LearnerEvent):
    event_type: Literal["creditflow.recognition.case.decided.v1"] = "creditflow.recognition.case.decided.v1"
    data: RecognitionDecidedData


class RecognitionFileCheckedData(ContractModel):
    case_id: Identifier
    institution_id: Identifier
    programme_id: Identifier
    complete: bool
    missing: list[Text] = Field(default_factory=list, description="What the file still lacks, one item each.")
    decision_due: UtcDatetime | None = Field(
        default=None, description="Four months from the complete file (Lisbon Recognition Convention)."
    )


class RecognitionFileChecked(LearnerEvent):
    """A request was received and its file checked: complete (the clock starts), or what is missing."""

    event_type: Literal["creditflow.recognition.case.file-checked.v1"] = "creditflow.recognition.case.file-checked.v1"
    data: RecognitionFileCheckedData


class RecognitionAppealedData(ContractModel):
    case_id: Identifier
    institution_id: Identifier
    decision_id: Identifier = Field(description="The decision appealed against; each may be appealed once.")
    grounds: Text


class RecognitionAppealed(LearnerEvent):
    """The learner appealed a decision; the case reopens for a registrar's review."""

    event_type: Literal["creditflow.recognition.case.appealed.v1"] = "creditflow.recognition.case.appealed.v1"
    data: RecognitionAppealedData


class RecognitionOverdueData(ContractModel):
    case_id: Identifier
    institution_id: Identifier
    decision_due: UtcDatetime
    waiting_for: ShortText = Field(description="What the case waits for, e.g. 'a registrar's decision'.")


class RecognitionOverdue(LearnerEvent):
    """A case passed its decision date without a decision."""

    event_type: Literal["creditflow.recognition.case.overdue.v1"] = "creditflow.recognition.case.overdue.v1"
    data: RecognitionOverdueData


# ------------------------------------------------------------------------------------------------ learner consent


class LearnerConsentData(ContractModel):
    institution_id: Identifier = Field(description="The institution whose registrars may (no longer) see the record.")
    valid_until: UtcDatetime | None = None
    evidence: Text | None = Field(
        default=None, description="What the learner gave the institution that recorded the consent for them."
    )


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


# ------------------------------------------------------------------------------------------------ identity (0002)

Role = Literal["operator", "registrar", "issuer-integration", "reviewer"]


class TokenIssuedData(ContractModel):
    """Every claim of a token the operator created; never the token itself, which only its holder has."""

    jti: Identifier = Field(description="The token's unique id: the handle for listing and revocation.")
    iss: ShortText = Field(description="Who signed it: `creditflow`.")
    sub: ShortText = Field(description="The person, or an integration's name.")
    name: ShortText = Field(description="Display name, for audit trails and the console.")
    inst: Identifier | None = Field(description="The institution the holder acts for; null only for the operator.")
    roles: list[Role] = Field(min_length=1)
    iat: UtcDatetime = Field(description="Issued at.")
    exp: UtcDatetime = Field(description="Expires at.")


class TokenIssued(Event):
    """The operator created a token (docs/decisions/0002)."""

    event_type: Literal["creditflow.identity.token.issued.v1"] = "creditflow.identity.token.issued.v1"
    data: TokenIssuedData


class TokenRevokedData(ContractModel):
    jti: Identifier = Field(description="The revoked token's id.")
    reason: Text


class TokenRevoked(Event):
    """A token is revoked: every service refuses it from the moment it reads this event."""

    event_type: Literal["creditflow.identity.token.revoked.v1"] = "creditflow.identity.token.revoked.v1"
    data: TokenRevokedData
    actor: Actor = Field(description="Who revoked the token.")


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
    RecognitionFileChecked,
    RecognitionAppealed,
    RecognitionOverdue,
    QualificationInvalidated,
    LearnerEnrolled,
    TokenIssued,
    TokenRevoked,
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
    | LearnerConsentRevoked
    | RecognitionFileChecked
    | RecognitionAppealed
    | RecognitionOverdue
    | QualificationInvalidated
    | LearnerEnrolled
    | TokenIssued
    | TokenRevoked,
    Field(discriminator="event_type"),
]
