"""Builders of recognition cases for tests: a receiving programme with one module, and an offered credential that
matches it well. Each test changes only what it is about."""

from __future__ import annotations

from datetime import UTC, date, datetime

from creditflow.events import (
    Achievement,
    Alignment,
    ArticulationAgreementPublishedData,
    AssessmentType,
    CreditFramework,
    CreditValue,
    EctsConversion,
    LearningOutcome,
    Level,
    Module,
    ParticipationForm,
    ProgrammePublishedData,
    QualityAssurance,
    RecognitionPolicyPublishedData,
)
from creditflow.recognition.domain import Case, Offered

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
RECEIVER = "uni-tartu"
SOURCE = "mooc-x"

OUTCOMES = [
    "Train and evaluate a supervised classifier on tabular data",
    "Explain overfitting and apply cross-validation",
    "Communicate model results to non-specialists",
]


def module(module_id: str = "mod-ml", **overrides: object) -> Module:
    fields = dict(module_id=module_id, title="Machine learning", credits=CreditValue(value=6, framework="ects"),
                  level=Level(eqf=6), field_of_study="0613",
                  learning_outcomes=[LearningOutcome(statement=s) for s in OUTCOMES])
    return Module(**{**fields, **overrides})


def programme(*modules: Module, **overrides: object) -> ProgrammePublishedData:
    fields = dict(programme_id="msc-ds", institution_id=RECEIVER, version=1, effective_from=date(2025, 1, 1),
                  title="MSc Data Science", total_credits=CreditValue(value=120, framework="ects"),
                  modules=list(modules) or [module()])
    return ProgrammePublishedData(**{**fields, **overrides})


def policy(**overrides: object) -> RecognitionPolicyPublishedData:
    fields = dict(institution_id=RECEIVER, version=1, effective_from=date(2025, 1, 1),
                  accepted_qa_bodies=["EKKA", "ENQA member agency"])
    return RecognitionPolicyPublishedData(**{**fields, **overrides})


ACCREDITED = (QualityAssurance(body="ENQA member agency", scope="institutional", valid_from=date(2020, 1, 1)),)


def offered(credential_id: str = "urn:uuid:c1", ects: float = 6, **achievement_overrides: object) -> Offered:
    fields = dict(achievement_id="ach-ml", institution_id=SOURCE, title="Applied machine learning",
                  learning_outcomes=[LearningOutcome(statement=s) for s in OUTCOMES], workload_hours=ects * 25,
                  credits=CreditValue(value=ects, framework=CreditFramework.ECTS), level=Level(eqf=6),
                  field_of_study="0613", assessment_type=AssessmentType.PROJECT,
                  participation_form=ParticipationForm.ONLINE, quality_assurance_type="external")
    achievement = Achievement(**{**fields, **achievement_overrides})
    return Offered(credential_id=credential_id, institution_id=achievement.institution_id, achievement=achievement,
                   awarded_at=datetime(2026, 3, 1, tzinfo=UTC), grade="B",
                   ects=(EctsConversion(ects=ects, method="identity", rule="already ECTS"),),
                   issuer_quality=ACCREDITED)


def case(*credentials: Offered, prog: ProgrammePublishedData | None = None, module_ids=("mod-ml",),
         recognised_before: float = 0.0) -> Case:
    return Case(case_id="case-1", learner_id="learner-1", institution_id=RECEIVER, programme=prog or programme(),
                module_ids=tuple(module_ids), credentials=credentials or (offered(),),
                recognised_before=recognised_before)


def agreement(**overrides: object) -> ArticulationAgreementPublishedData:
    fields = dict(agreement_id="ag-1", institution_id=RECEIVER, source_institution_id=SOURCE,
                  source_achievement_id="ach-ml", programme_id="msc-ds", module_id="mod-ml",
                  credits=CreditValue(value=6, framework="ects"), effective_from=date(2025, 1, 1))
    return ArticulationAgreementPublishedData(**{**fields, **overrides})


def esco(uri: str) -> list[Alignment]:
    return [Alignment(target_url=uri, framework="ESCO")]
