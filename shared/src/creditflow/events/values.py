"""Value objects shared by several events: credits, levels, outcomes, quality assurance, keys."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .envelope import ContractModel, Identifier, UtcDatetime

Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class CreditFramework(StrEnum):
    """Credit systems creditflow understands (domain brief, section 3)."""

    ECTS = "ects"  # Europe: 25-30 h per credit, 60 a year
    UK_CATS = "uk-cats"  # England, Wales, NI: 10 notional h, 120 a year
    SCQF = "scqf"  # Scotland: 10 notional h, 120 a year
    NZQF = "nzqf"  # New Zealand: 10 notional h, 120 a year
    US_SEMESTER = "us-semester"  # US semester credit hour: about 45 h, 30 a year
    AQF_HOURS = "aqf-hours"  # Australia: volume of learning in hours (1 year = 1,200 h)


class CreditValue(ContractModel):
    value: float = Field(gt=0, le=1000, description="Credits in `framework`'s unit (hours for aqf-hours).")
    framework: CreditFramework


class EctsConversion(ContractModel):
    """A credit figure converted to ECTS, with the rule that produced it: conversion is policy, not arithmetic."""

    ects: float = Field(ge=0)
    method: Literal["hours", "convention", "identity"]
    rule: ShortText = Field(description="Human-readable rule, e.g. '2 UK/SCQF/NZ credits = 1 ECTS (convention)'.")


class Level(ContractModel):
    eqf: int | None = Field(default=None, ge=1, le=8, description="European Qualifications Framework level.")
    national_framework: ShortText | None = Field(default=None, description="e.g. NZQF, SCQF, FHEQ.")
    national_level: int | None = Field(default=None, ge=1, le=12)


class Alignment(ContractModel):
    """A link from an outcome to a skill or competency framework entry (ESCO, O*NET, a national register)."""

    target_url: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    target_name: ShortText | None = None
    framework: ShortText | None = Field(default=None, description="e.g. ESCO")


class LearningOutcome(ContractModel):
    statement: Text
    alignments: list[Alignment] = Field(default_factory=list)


class AssessmentType(StrEnum):
    EXAM = "exam"
    PROJECT = "project"
    PORTFOLIO = "portfolio"
    PRACTICAL = "practical"
    ORAL = "oral"
    COURSEWORK = "coursework"
    MIXED = "mixed"
    # Awarded for attending, not for assessed attainment: recognition must be able to tell the difference.
    PARTICIPATION_ONLY = "participation-only"


class ParticipationForm(StrEnum):
    ONLINE = "online"
    ONSITE = "onsite"
    BLENDED = "blended"
    WORK_BASED = "work-based"
    VOLUNTEERING = "volunteering"


class QualityAssurance(ContractModel):
    """An institution's quality-assurance status: who assures it, for what, and when."""

    body: ShortText = Field(description="Accrediting or QA body, e.g. an EQAR-registered agency.")
    scope: ShortText = Field(description="What the QA covers, e.g. 'institutional' or a programme.")
    valid_from: date
    valid_until: date | None = None


class PublicKey(ContractModel):
    """An institution's public signing key. Private keys never travel in events."""

    key_id: Identifier
    algorithm: Literal["Ed25519", "P-256"] = Field(
        default="Ed25519",
        description="Ed25519 signs Data Integrity proofs (and legacy VC-JOSE); P-256 signs the Open Badges 3.0 JWT "
        "form (ES256). Each kind rotates on its own.",
    )
    public_key_multibase: Annotated[str, StringConstraints(pattern=r"^z[1-9A-HJ-NP-Za-km-z]+$")] = Field(
        description="Multibase (base58-btc) Multikey: an Ed25519 key with the multicodec prefix 0xed01, or a "
        "compressed P-256 key with the prefix 0x1200."
    )
    valid_from: UtcDatetime
    retired_at: UtcDatetime | None = Field(
        default=None, description="After this time the key signs nothing new; it still verifies what it signed."
    )


class Achievement(ContractModel):
    """What an institution awards (a credential specification), with the EU 2022 Annex I elements."""

    achievement_id: Identifier
    institution_id: Identifier
    title: ShortText
    description: Text | None = None
    achievement_type: ShortText = Field(default="MicroCredential", description="Open Badges 3.0 achievementType.")
    learning_outcomes: list[LearningOutcome] = Field(default_factory=list)
    workload_hours: float | None = Field(default=None, gt=0, le=10000, description="Notional workload in hours.")
    credits: CreditValue | None = None
    level: Level | None = None
    field_of_study: Annotated[str, StringConstraints(pattern=r"^\d{2,4}$")] | None = Field(
        default=None, description="ISCED-F 2013 code (broad, narrow or detailed field)."
    )
    assessment_type: AssessmentType | None = None
    participation_form: ParticipationForm | None = None
    quality_assurance_type: ShortText | None = None
    prerequisites: list[ShortText] = Field(default_factory=list)
    part_of: list[Identifier] = Field(default_factory=list, description="programme_ids this achievement stacks into.")


class SizeBandCheck(ContractModel):
    """One framework band checked against the award: whether it fits and, if not, the figure outside the bounds."""

    framework: ShortText = Field(description="The framework band, e.g. 'NZQA micro-credential'.")
    band: Literal["nano", "micro"]
    lower: float
    upper: float
    unit: ShortText = Field(description="What the bounds count: credits, h, ECTS or EQF level.")
    figure: float | None = Field(description="The award's figure in `unit`; null when the award states none.")
    fits: bool
    explanation: ShortText


class SizeClassification(ContractModel):
    """Size band of an award under a named framework rule, and every framework band it was checked against."""

    band: Literal["nano", "micro", "larger"]
    rule: ShortText = Field(description="The rule that applied, e.g. 'NZQA micro-credential: 5-40 credits'.")
    checks: list[SizeBandCheck] = Field(
        default_factory=list, description="Each framework band checked: NZQA, the CMF (hours, ECTS, EQF level), nano."
    )
