"""The learner record as a pure fold: `apply(record, event) -> record`.

Idempotent (the same event twice gives the same record) and order-tolerant (a revocation that arrives before its
award is kept and applied when the award arrives), so a redelivery or a replay always ends in the same record.
"""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch
from typing import Literal

from pydantic import BaseModel, Field

from creditflow.events import CreditValue, CredentialAwarded, CredentialRevoked, EctsConversion, Event, Level


class AchievementEntry(BaseModel):
    credential_id: str
    institution_id: str
    achievement_id: str
    title: str
    credits: CreditValue | None = None
    ects: list[EctsConversion] = Field(default_factory=list)
    level: Level | None = None
    awarded_at: datetime
    status: Literal["valid", "revoked"] = "valid"
    revocation_reason: str | None = None


class LearnerRecord(BaseModel):
    learner_id: str
    achievements: list[AchievementEntry] = Field(default_factory=list)
    # Revocations seen before their award: credential_id -> reason.
    pending_revocations: dict[str, str] = Field(default_factory=dict)

    def achievement(self, credential_id: str) -> AchievementEntry | None:
        return next((a for a in self.achievements if a.credential_id == credential_id), None)


def empty(learner_id: str) -> LearnerRecord:
    return LearnerRecord(learner_id=learner_id)


@singledispatch
def apply(event: Event, record: LearnerRecord) -> LearnerRecord:
    """Events the record does not use leave it unchanged."""
    return record


def _with_entry(record: LearnerRecord, entry: AchievementEntry) -> LearnerRecord:
    others = [a for a in record.achievements if a.credential_id != entry.credential_id]
    achievements = sorted([*others, entry], key=lambda a: a.credential_id)
    return record.model_copy(update={"achievements": achievements})


@apply.register
def _(event: CredentialAwarded, record: LearnerRecord) -> LearnerRecord:
    data = event.data
    reason = record.pending_revocations.get(data.credential_id)
    existing = record.achievement(data.credential_id)
    if existing is not None and existing.status == "revoked":
        reason = existing.revocation_reason
    entry = AchievementEntry(
        credential_id=data.credential_id,
        institution_id=data.institution_id,
        achievement_id=data.achievement.achievement_id,
        title=data.achievement.title,
        credits=data.achievement.credits,
        ects=data.credit_conversions,
        level=data.achievement.level,
        awarded_at=data.awarded_at,
        status="revoked" if reason is not None else "valid",
        revocation_reason=reason,
    )
    pending = {k: v for k, v in record.pending_revocations.items() if k != data.credential_id}
    return _with_entry(record, entry).model_copy(update={"pending_revocations": pending})


@apply.register
def _(event: CredentialRevoked, record: LearnerRecord) -> LearnerRecord:
    data = event.data
    existing = record.achievement(data.credential_id)
    if existing is None:
        pending = {**record.pending_revocations, data.credential_id: data.reason}
        return record.model_copy(update={"pending_revocations": pending})
    revoked = existing.model_copy(update={"status": "revoked", "revocation_reason": data.reason})
    return _with_entry(record, revoked)
