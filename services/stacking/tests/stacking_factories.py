"""Programmes and awards for stacking's tests: a data-science certificate and credentials from a MOOC provider."""

import uuid
from datetime import UTC, date, datetime, timedelta

from contract_factories import achievement
from creditflow.events import CredentialAwarded, CredentialAwardedData, CreditValue, ProgrammePublishedData, Requirement

NOW = datetime(2026, 9, 1, tzinfo=UTC)
HOME = "uni-tartu"


def programme(**overrides) -> ProgrammePublishedData:
    """cert-ds: ach-python required and two electives of ach-stats, ach-viz, mod-ml; 15 ECTS; awarded automatically."""
    fields = dict(programme_id="cert-ds", institution_id=HOME, version=1, effective_from=date(2025, 1, 1),
                  title="Certificate in Data Science", total_credits=CreditValue(value=15, framework="ects"),
                  requirements=[Requirement(requirement_id="core", kind="required", options=["ach-python"]),
                                Requirement(requirement_id="electives", kind="elective",
                                            options=["ach-stats", "ach-viz", "mod-ml"], min_items=2)],
                  max_recognised_share=0.4, achievement_id="ach-cert-ds", award_mode="automatic")
    return ProgrammePublishedData(**{**fields, **overrides})


def award(learner: str, achievement_id: str, credits: float = 5, institution_id: str = "mooc-x",
          awarded_at: datetime = NOW - timedelta(days=30), credential_id: str | None = None,
          grade: str | None = "B") -> CredentialAwarded:
    return CredentialAwarded(producer=institution_id, learner_id=learner, data=CredentialAwardedData(
        credential_id=credential_id or f"urn:uuid:{uuid.uuid4()}", institution_id=institution_id,
        achievement=achievement(achievement_id=achievement_id, institution_id=institution_id, workload_hours=None,
                                credits=CreditValue(value=credits, framework="ects")),
        awarded_at=awarded_at, grade=grade))
