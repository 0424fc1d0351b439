"""The Comprehensive Learner Record as a pure fold: `apply(event, record) -> record`.

The fold is idempotent and commutative: every entry carries the marker of the event that set it (its `event_id` and
`occurred_at`; the later fact wins, ties broken by event_id), and lists are kept sorted by id. So the same event
twice, events in any order, a replay and a live consumer writing at once all end in the same record, and the
document stays bounded (no list of applied event ids).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import singledispatch
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from creditflow.credentials import contexts, jose
from creditflow.credentials.subjects import learner_subject_id

from creditflow.events import (
    CredentialAwarded,
    CredentialRevoked,
    CreditValue,
    EctsConversion,
    Event,
    LearnerConsentGranted,
    LearnerConsentRevoked,
    Level,
    QualificationCompleted,
    QualificationInvalidated,
    RecognisedCredit,
    RecognitionDecided,
    RecognitionRequested,
    StackingProgressUpdated,
)


class Marker(BaseModel):
    """Which event set an entry: the later fact wins, whatever order the events arrive in."""

    occurred_at: datetime
    event_id: str

    def supersedes(self, other: Marker | None) -> bool:
        return other is None or (self.occurred_at, self.event_id) > (other.occurred_at, other.event_id)


def _marker(event: Event) -> Marker:
    return Marker(occurred_at=event.occurred_at, event_id=str(event.event_id))


class Revocation(BaseModel):
    reason: str
    marker: Marker


def _earliest(a: Revocation | None, b: Revocation | None) -> Revocation | None:
    """A credential is revoked from its first revocation on, whichever arrives first."""
    if a is None or b is None:
        return a or b
    return a if b.marker.supersedes(a.marker) else b


class AchievementEntry(BaseModel):
    credential_id: str
    institution_id: str
    achievement_id: str
    title: str
    achievement_type: str
    credits: CreditValue | None = None
    ects: list[EctsConversion] = Field(default_factory=list)
    level: Level | None = None
    field_of_study: str | None = None
    assessment_type: str | None = None
    awarded_at: datetime
    grade: str | None = None
    part_of: list[str] = Field(default_factory=list)
    revocation: Revocation | None = None
    # The learner topics carry only credentials the issuer signed or verified; an award without one is unsigned.
    verification: Literal["verified", "unsigned"] = "verified"
    credential: dict | None = Field(default=None, description="The signed credential, as issued.")
    built_from: list[str] = Field(default_factory=list, description="For a stacked qualification: its credentials.")
    marker: Marker

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Literal["valid", "revoked"]:
        return "revoked" if self.revocation else "valid"


class RecognitionEntry(BaseModel):
    case_id: str
    institution_id: str
    programme_id: str
    outcome: str
    decision_id: str
    recognised: list[RecognisedCredit] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    decided_by: str
    marker: Marker


class RequestEntry(BaseModel):
    case_id: str
    institution_id: str
    programme_id: str
    credential_ids: list[str] = Field(default_factory=list)
    marker: Marker


class ProgressEntry(BaseModel):
    programme_id: str
    institution_id: str
    programme_version: int
    credits_counted: float
    credits_required: float
    satisfied_requirements: list[str] = Field(default_factory=list)
    missing_requirements: list[str] = Field(default_factory=list)
    credential_ids: list[str] = Field(default_factory=list)
    marker: Marker


class QualificationEntry(BaseModel):
    programme_id: str
    institution_id: str
    credential_ids: list[str]
    status: Literal["completed", "invalidated"] = "completed"
    reason: str | None = Field(default=None, description="Why a completed qualification no longer holds.")
    marker: Marker


class ConsentEntry(BaseModel):
    institution_id: str
    granted: bool
    valid_until: datetime | None = None
    marker: Marker


class LearnerRecord(BaseModel):
    learner_id: str
    achievements: list[AchievementEntry] = Field(default_factory=list)
    # A revocation seen before its award, kept until the award arrives.
    pending_revocations: dict[str, Revocation] = Field(default_factory=dict)
    recognition_requests: list[RequestEntry] = Field(default_factory=list)
    recognitions: list[RecognitionEntry] = Field(default_factory=list)
    progress: list[ProgressEntry] = Field(default_factory=list)
    qualifications: list[QualificationEntry] = Field(default_factory=list)
    consents: list[ConsentEntry] = Field(default_factory=list)

    def achievement(self, credential_id: str) -> AchievementEntry | None:
        return next((a for a in self.achievements if a.credential_id == credential_id), None)


def empty(learner_id: str) -> LearnerRecord:
    return LearnerRecord(learner_id=learner_id)


def _upsert(entries: list, entry: BaseModel, key: str) -> list:
    """Replace the entry with the same key when the new one supersedes it; keep the list sorted by key."""
    existing = next((e for e in entries if getattr(e, key) == getattr(entry, key)), None)
    if existing is not None and not entry.marker.supersedes(existing.marker):  # type: ignore[attr-defined]
        return entries
    others = [e for e in entries if getattr(e, key) != getattr(entry, key)]
    return sorted([*others, entry], key=lambda e: getattr(e, key))


@singledispatch
def apply(event: Event, record: LearnerRecord) -> LearnerRecord:
    """Events the record does not use leave it unchanged."""
    return record


def _with_achievement(record: LearnerRecord, entry: AchievementEntry) -> LearnerRecord:
    others = [a for a in record.achievements if a.credential_id != entry.credential_id]
    pending = {k: v for k, v in record.pending_revocations.items() if k != entry.credential_id}
    achievements = sorted([*others, entry], key=lambda a: a.credential_id)
    return record.model_copy(update={"achievements": achievements, "pending_revocations": pending})


@apply.register
def _(event: CredentialAwarded, record: LearnerRecord) -> LearnerRecord:
    data, achievement = event.data, event.data.achievement
    existing = record.achievement(data.credential_id)
    candidate = AchievementEntry(
        credential_id=data.credential_id,
        institution_id=data.institution_id,
        achievement_id=achievement.achievement_id,
        title=achievement.title,
        achievement_type=achievement.achievement_type,
        credits=achievement.credits,
        ects=data.credit_conversions,
        level=achievement.level,
        field_of_study=achievement.field_of_study,
        assessment_type=achievement.assessment_type,
        awarded_at=data.awarded_at,
        grade=data.grade,
        part_of=sorted(achievement.part_of),
        verification="verified" if data.credential else "unsigned",
        credential=data.credential,
        built_from=sorted(data.built_from),
        marker=_marker(event),
    )
    # The latest award's content wins; the earliest revocation wins; an award never un-revokes.
    base = candidate if existing is None or candidate.marker.supersedes(existing.marker) else existing
    revocation = _earliest(existing.revocation if existing else None, record.pending_revocations.get(data.credential_id))
    return _with_achievement(record, base.model_copy(update={"revocation": revocation}))


@apply.register
def _(event: CredentialRevoked, record: LearnerRecord) -> LearnerRecord:
    revocation = Revocation(reason=event.data.reason, marker=_marker(event))
    existing = record.achievement(event.data.credential_id)
    if existing is None:
        held = _earliest(record.pending_revocations.get(event.data.credential_id), revocation)
        pending = {**record.pending_revocations, event.data.credential_id: held}
        return record.model_copy(update={"pending_revocations": pending})
    return _with_achievement(record, existing.model_copy(update={"revocation": _earliest(existing.revocation,
                                                                                        revocation)}))


@apply.register
def _(event: RecognitionRequested, record: LearnerRecord) -> LearnerRecord:
    data = event.data
    entry = RequestEntry(case_id=data.case_id, institution_id=data.institution_id, programme_id=data.programme_id,
                         credential_ids=sorted(data.credential_ids), marker=_marker(event))
    return record.model_copy(update={"recognition_requests": _upsert(record.recognition_requests, entry, "case_id")})


@apply.register
def _(event: RecognitionDecided, record: LearnerRecord) -> LearnerRecord:
    data = event.data
    entry = RecognitionEntry(
        case_id=data.case_id, institution_id=data.institution_id, programme_id=data.programme_id,
        outcome=data.outcome, decision_id=data.decision_id, recognised=data.recognised, reasons=data.reasons,
        conditions=data.conditions, decided_by=data.decided_by, marker=_marker(event),
    )
    return record.model_copy(update={"recognitions": _upsert(record.recognitions, entry, "case_id")})


@apply.register
def _(event: StackingProgressUpdated, record: LearnerRecord) -> LearnerRecord:
    data = event.data
    entry = ProgressEntry(
        programme_id=data.programme_id, institution_id=data.institution_id,
        programme_version=data.programme_version, credits_counted=data.credits_counted,
        credits_required=data.credits_required, satisfied_requirements=data.satisfied_requirements,
        missing_requirements=data.missing_requirements,
        credential_ids=sorted({a.credential_id for a in data.allocations}), marker=_marker(event),
    )
    return record.model_copy(update={"progress": _upsert(record.progress, entry, "programme_id")})


@apply.register
def _(event: QualificationCompleted, record: LearnerRecord) -> LearnerRecord:
    data = event.data
    entry = QualificationEntry(programme_id=data.programme_id, institution_id=data.institution_id,
                               credential_ids=sorted(data.credential_ids), marker=_marker(event))
    return record.model_copy(update={"qualifications": _upsert(record.qualifications, entry, "programme_id")})


@apply.register
def _(event: QualificationInvalidated, record: LearnerRecord) -> LearnerRecord:
    data = event.data
    entry = QualificationEntry(programme_id=data.programme_id, institution_id=data.institution_id,
                               credential_ids=sorted(data.credential_ids), status="invalidated", reason=data.reason,
                               marker=_marker(event))
    return record.model_copy(update={"qualifications": _upsert(record.qualifications, entry, "programme_id")})


def _consent(event: LearnerConsentGranted | LearnerConsentRevoked, record: LearnerRecord, granted: bool):
    entry = ConsentEntry(institution_id=event.data.institution_id, granted=granted,
                         valid_until=event.data.valid_until if granted else None, marker=_marker(event))
    return record.model_copy(update={"consents": _upsert(record.consents, entry, "institution_id")})


@apply.register
def _(event: LearnerConsentGranted, record: LearnerRecord) -> LearnerRecord:
    return _consent(event, record, granted=True)


@apply.register
def _(event: LearnerConsentRevoked, record: LearnerRecord) -> LearnerRecord:
    return _consent(event, record, granted=False)


# ------------------------------------------------------------------------------------------------ who sees what


def has_consent(record: LearnerRecord, institution_id: str, now: datetime) -> bool:
    return any(c.institution_id == institution_id and c.granted and (c.valid_until is None or now < c.valid_until)
               for c in record.consents)


def view(record: LearnerRecord, institution_id: str, now: datetime) -> tuple[LearnerRecord, bool] | None:
    """What a registrar of `institution_id` may see of the record, and whether that is only part of it.

    The learner's consent shows the whole record. Without it, an institution sees the record only when the learner
    holds one of its credentials or asked it for recognition, and then only what concerns it: its own credentials,
    the credentials offered to it, its decisions and its programmes. Anything else is None: not even existence is
    revealed."""
    if has_consent(record, institution_id, now):
        return record, False
    own = {a.credential_id for a in record.achievements if a.institution_id == institution_id}
    requests = [r for r in record.recognition_requests if r.institution_id == institution_id]
    if not own and not requests:
        return None
    offered = {c for r in requests for c in r.credential_ids}
    visible = record.model_copy(update={
        "achievements": [a for a in record.achievements if a.credential_id in own | offered],
        "pending_revocations": {},
        "recognition_requests": requests,
        "recognitions": [r for r in record.recognitions if r.institution_id == institution_id],
        "progress": [p for p in record.progress if p.institution_id == institution_id],
        "qualifications": [q for q in record.qualifications if q.institution_id == institution_id],
        "consents": [],
    })
    return visible, visible != record


# ------------------------------------------------------------------------------------------------ derived views


class CreditTotal(BaseModel):
    framework: str
    credits: float
    credential_ids: list[str]


class EctsTotal(BaseModel):
    method: str
    ects: float
    credential_ids: list[str]


class CreditTotals(BaseModel):
    """Credits of valid credentials, per original framework and per ECTS conversion method (never mixed)."""

    by_framework: list[CreditTotal]
    ects_by_method: list[EctsTotal]


def credit_totals(record: LearnerRecord) -> CreditTotals:
    by_framework: dict[str, list[tuple[float, str]]] = defaultdict(list)
    by_method: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for a in record.achievements:
        if a.status != "valid":
            continue
        if a.credits is not None:
            by_framework[a.credits.framework].append((a.credits.value, a.credential_id))
        for conversion in a.ects:
            by_method[conversion.method].append((conversion.ects, a.credential_id))
    return CreditTotals(
        by_framework=[CreditTotal(framework=f, credits=round(sum(v for v, _ in items), 2),
                                  credential_ids=[c for _, c in items]) for f, items in sorted(by_framework.items())],
        ects_by_method=[EctsTotal(method=m, ects=round(sum(v for v, _ in items), 2),
                                  credential_ids=[c for _, c in items]) for m, items in sorted(by_method.items())],
    )


class Association(BaseModel):
    """A CLR 2.0 association between two achievements of the record."""

    associationType: Literal["isPartOf", "replacedBy"]
    sourceId: str
    targetId: str


def qualification_id(entry: QualificationEntry) -> str:
    return f"urn:creditflow:qualification:{entry.institution_id}:{entry.programme_id}"


def associations(record: LearnerRecord) -> list[Association]:
    """`isPartOf` from each credential to the stacked qualification it was counted into: the qualification's own
    credential when one was awarded (its `built_from`), else the completed qualification of the record."""
    awarded = [(a.credential_id, c) for a in record.achievements if a.status == "valid" for c in a.built_from]
    covered = {c for _, c in awarded}
    found = [Association(associationType="isPartOf", sourceId=c, targetId=q) for q, c in awarded
             if record.achievement(c) is not None]
    found += [
        Association(associationType="isPartOf", sourceId=credential_id, targetId=qualification_id(q))
        for q in record.qualifications if q.status == "completed"
        for credential_id in q.credential_ids
        if record.achievement(credential_id) is not None and credential_id not in covered
    ]
    return found


def _achievement_iri(entry: AchievementEntry) -> str:
    """The id of the OB 3.0 Achievement inside an entry's credential (what CLR associations link), read from the
    credential as issued: a Data Integrity object, or the payload of a legacy VC-JOSE envelope."""
    issued = entry.credential or {}
    if issued and "proof" not in issued:
        try:
            issued = jose.parse(jose.unwrap(issued))[1]
        except jose.MalformedJws:
            issued = {}
    subject = issued.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    found = achievement.get("id") if isinstance(achievement, dict) else None
    return found or f"urn:creditflow:achievement:{entry.institution_id}:{entry.achievement_id}"


def clr_associations(record: LearnerRecord) -> list[dict]:
    """The record's associations as CLR 2.0 has them: between achievement ids, `type` a string."""
    pairs = {}
    for association in associations(record):
        source = record.achievement(association.sourceId)
        target = record.achievement(association.targetId)
        target_id = _achievement_iri(target) if target is not None else association.targetId
        pairs[(association.associationType, _achievement_iri(source), target_id)] = None
    return [{"type": "Association", "associationType": kind, "sourceId": source, "targetId": target}
            for kind, source, target in pairs]


def clr_credential(record: LearnerRecord, partial: bool, *, platform_id: str, clr_id: str,
                   issued_at: datetime) -> dict:
    """The learner's record as a 1EdTech CLR 2.0 ClrCredential (unsigned): the credentials as issued, embedded
    (legacy VC-JOSE ones stay EnvelopedVerifiableCredentials: their proof is the JWS), the completed
    qualifications as achievements, and the associations between achievements."""
    qualifications = [
        {"id": qualification_id(q), "type": ["Achievement"], "achievementType": "Certificate",
         "name": f"{q.programme_id} ({q.institution_id})",
         "description": f"Qualification {q.programme_id} of {q.institution_id}, completed from "
                        f"{len(q.credential_ids)} credentials",
         "criteria": {"narrative": f"Completed from {len(q.credential_ids)} credentials"}}
        for q in record.qualifications if q.status == "completed"
    ]
    return {
        "@context": [contexts.VC2, contexts.CLR2, contexts.OB3, contexts.CREDITFLOW_V1],
        "id": clr_id,
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": f"Comprehensive Learner Record of {record.learner_id}",
        "issuer": {"id": platform_id, "type": ["Profile"], "name": "creditflow learner-record"},
        "validFrom": issued_at.isoformat().replace("+00:00", "Z"),
        "partial": partial,
        "credentialSubject": {
            "id": learner_subject_id(record.learner_id),
            "type": ["ClrSubject"],
            "verifiableCredential": [a.credential for a in record.achievements if a.credential],
            "achievement": qualifications,
            "association": clr_associations(record),
        },
    }
