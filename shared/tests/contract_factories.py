"""Small builders of valid contract objects for tests; each test overrides only what it is about."""

from __future__ import annotations

from datetime import UTC, datetime

from creditflow.events import (
    Achievement,
    AssessmentType,
    CreditFramework,
    CreditValue,
    CredentialAwarded,
    CredentialAwardedData,
    LearningOutcome,
    Level,
    ParticipationForm,
)


def achievement(**overrides: object) -> Achievement:
    fields = dict(
        achievement_id="ach-data-101",
        institution_id="uni-helsinki",
        title="Data literacy",
        learning_outcomes=[LearningOutcome(statement="Explain the limits of a data set")],
        workload_hours=125,
        credits=CreditValue(value=5, framework=CreditFramework.ECTS),
        level=Level(eqf=6),
        field_of_study="0688",
        assessment_type=AssessmentType.EXAM,
        participation_form=ParticipationForm.ONLINE,
        quality_assurance_type="external accreditation",
    )
    return Achievement(**{**fields, **overrides})


def awarded(learner_id: str = "learner-1", credential_id: str = "urn:uuid:c1", **data: object) -> CredentialAwarded:
    ach = data.pop("achievement", None) or achievement()
    return CredentialAwarded(
        producer=ach.institution_id,
        learner_id=learner_id,
        data=CredentialAwardedData(
            credential_id=credential_id,
            institution_id=ach.institution_id,
            achievement=ach,
            awarded_at=datetime(2026, 6, 1, 12, tzinfo=UTC),
            **data,
        ),
    )
