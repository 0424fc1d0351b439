"""Awarding, as pure functions: data in, events out. Validation, size bands, conversion and signing are added here
(issue: issuer); nothing in this module does I/O or reads a clock."""

from __future__ import annotations

from datetime import datetime

from creditflow.events import Achievement, CredentialAwarded, CredentialAwardedData


def award(
    *,
    credential_id: str,
    learner_id: str,
    achievement: Achievement,
    awarded_at: datetime,
    grade: str | None = None,
    correlation_id: str = "",
) -> CredentialAwarded:
    """The CredentialAwarded event for one learner and one achievement of the awarding institution."""
    return CredentialAwarded(
        producer=achievement.institution_id,
        learner_id=learner_id,
        correlation_id=correlation_id,
        occurred_at=awarded_at,
        data=CredentialAwardedData(
            credential_id=credential_id,
            institution_id=achievement.institution_id,
            achievement=achievement,
            awarded_at=awarded_at,
            grade=grade,
        ),
    )
