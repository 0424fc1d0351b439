"""The Comprehensive Learner Record as a pure fold on plain data: `apply(event, record) -> record`.

A record is the plain, JSON-compatible dict that MongoDB stores and the API serves (its shape is `LearnerRecord`
below). Folding a batch into a stored record and serving one therefore never re-validate the whole document: only the
entry an event adds is built, and validated, by its model, from an event that was validated on arrival.

The fold is idempotent and commutative: every entry carries the marker of the event that set it (its `event_id` and
`occurred_at`; the later fact wins, ties broken by event_id), and lists are kept sorted by id. So the same event
twice, events in any order, a replay and a live consumer writing at once all end in the same record, and the
document stays bounded (no list of applied event ids). The fold never changes a dict it was given: it returns new
ones where something changed, so the caller can compare before and after.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from typing import Any, Literal

from pydantic import BaseModel, Field

from creditflow.credentials import contexts, jose
from creditflow.credentials.subjects import learner_subject_id
from creditflow.events import (
    Actor,
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

Record = dict[str, Any]
Entry = dict[str, Any]


class Marker(BaseModel):
    """Which event set an entry: the later fact wins, whatever order the events arrive in."""

    occurred_at: datetime
    event_id: str


class Revocation(BaseModel):
    reason: str
    marker: Marker


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
    # learner-record checks every credential itself (see Verdict); an award without one is unsigned.
    verification: Literal["verified", "unverified", "unsigned"] = "unverified"
    verification_reasons: list[str] = Field(default_factory=list, description="Why a credential is unverified.")
    credential: dict | None = Field(default=None, description="The signed credential, as issued.")
    built_from: list[str] = Field(default_factory=list, description="For a stacked qualification: its credentials.")
    marker: Marker


class PresentedAchievement(AchievementEntry):
    """An achievement as the API serves it: `status` is derived from `revocation` and not stored."""

    status: Literal["valid", "revoked"]


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
    evidence: str | None = Field(default=None, description="What the learner gave the institution that recorded it.")
    actor: Actor | None = Field(default=None, description="The registrar who recorded it, from their token.")
    marker: Marker


class LearnerRecord(BaseModel):
    """The shape of a stored record."""

    learner_id: str
    achievements: list[AchievementEntry] = Field(default_factory=list)
    # A revocation seen before its award, kept until the award arrives.
    pending_revocations: dict[str, Revocation] = Field(default_factory=dict)
    recognition_requests: list[RequestEntry] = Field(default_factory=list)
    recognitions: list[RecognitionEntry] = Field(default_factory=list)
    progress: list[ProgressEntry] = Field(default_factory=list)
    qualifications: list[QualificationEntry] = Field(default_factory=list)
    consents: list[ConsentEntry] = Field(default_factory=list)


class PresentedRecord(LearnerRecord):
    """A record as the API serves it."""

    achievements: list[PresentedAchievement] = Field(default_factory=list)


def empty(learner_id: str) -> Record:
    return LearnerRecord(learner_id=learner_id).model_dump(mode="json")


def _entry(model: BaseModel) -> Entry:
    return model.model_dump(mode="json")


def _marker(event: Event) -> Entry:
    return _entry(Marker(occurred_at=event.occurred_at, event_id=str(event.event_id)))


def _order(marker: Entry) -> tuple[datetime, str]:
    return datetime.fromisoformat(marker["occurred_at"]), marker["event_id"]


def _supersedes(new: Entry, old: Entry | None) -> bool:
    return old is None or _order(new["marker"]) > _order(old["marker"])


def _earliest(a: Entry | None, b: Entry | None) -> Entry | None:
    """A credential is revoked from its first revocation on, whichever arrives first."""
    if a is None or b is None:
        return a or b
    return a if _supersedes(b, a) else b


# Sections are lists sorted by their key, so an entry is found by bisection: a learner with thousands of credentials
# costs a few comparisons per event, not a pass over all of them.
def _position(entries: list[Entry], key: str, value: str) -> int:
    return bisect_left(entries, value, key=lambda e: e[key])


def _find(entries: list[Entry], key: str, value: str) -> Entry | None:
    i = _position(entries, key, value)
    return entries[i] if i < len(entries) and entries[i][key] == value else None


def _put(entries: list[Entry], entry: Entry, key: str) -> list[Entry]:
    """A new list with `entry` in place of the one with the same key, or inserted in key order."""
    i = _position(entries, key, entry[key])
    replaced = i < len(entries) and entries[i][key] == entry[key]
    return [*entries[:i], entry, *entries[i + 1 if replaced else i:]]


def _upsert(record: Record, section: str, entry: Entry, key: str) -> Record:
    """The record with `entry` in its section, unless an entry with the same key was set by a later event."""
    if not _supersedes(entry, _find(record[section], key, entry[key])):
        return record
    return {**record, section: _put(record[section], entry, key)}


@dataclass(frozen=True)
class Verdict:
    """What the handler found when it verified an award's credential, before the fold: the fold takes it as data
    and stays pure (no keys, no clock, no I/O)."""

    verified: bool
    reasons: tuple[str, ...] = ()


NOT_CHECKED = Verdict(False, ("the credential was not verified",))


def fold(event: Event, record: Record, verdict: Verdict | None = None) -> Record:
    """`apply`, with the verdict on an award's credential (an award folded without one is shown unverified)."""
    return award(event, record, verdict or NOT_CHECKED) if isinstance(event, CredentialAwarded) \
        else apply(event, record)


def reverified(record: Record, verdicts: dict[str, tuple[Any, Verdict]]) -> Record:
    """The record with each unverified credential judged again (by credential_id: the credential judged and the
    verdict), as when its issuer's key registration arrives after it. An entry whose credential has changed since
    is left as it is: its own award brought its own verdict."""
    achievements = record["achievements"]
    for credential_id, (credential, verdict) in verdicts.items():
        entry = _find(achievements, "credential_id", credential_id)
        if entry is None or entry["verification"] != "unverified" or entry["credential"] != credential:
            continue
        judged = {**entry, "verification": "verified" if verdict.verified else "unverified",
                  "verification_reasons": [] if verdict.verified else list(verdict.reasons)}
        achievements = _put(achievements, judged, "credential_id")
    return record if achievements is record["achievements"] else {**record, "achievements": achievements}


@singledispatch
def apply(event: Event, record: Record) -> Record:
    """Events the record does not use leave it unchanged."""
    return record


def _with_achievement(record: Record, entry: Entry) -> Record:
    changed = {"achievements": _put(record["achievements"], entry, "credential_id")}
    if entry["credential_id"] in record["pending_revocations"]:
        changed["pending_revocations"] = {k: v for k, v in record["pending_revocations"].items()
                                          if k != entry["credential_id"]}
    return {**record, **changed}


@apply.register
def _(event: CredentialAwarded, record: Record) -> Record:
    return award(event, record, NOT_CHECKED)


def award(event: CredentialAwarded, record: Record, verdict: Verdict) -> Record:
    data, achievement = event.data, event.data.achievement
    existing = _find(record["achievements"], "credential_id", data.credential_id)
    candidate = _entry(AchievementEntry(
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
        verification="unsigned" if not data.credential else "verified" if verdict.verified else "unverified",
        verification_reasons=list(verdict.reasons) if data.credential and not verdict.verified else [],
        credential=data.credential,
        built_from=sorted(data.built_from),
        marker=_marker(event),
    ))
    # The latest award's content wins; the earliest revocation wins; an award never un-revokes.
    base = candidate if _supersedes(candidate, existing) else existing
    revocation = _earliest(existing["revocation"] if existing else None,
                           record["pending_revocations"].get(data.credential_id))
    entry = base if base["revocation"] == revocation else {**base, "revocation": revocation}
    if entry == existing and data.credential_id not in record["pending_revocations"]:
        return record
    return _with_achievement(record, entry)


@apply.register
def _(event: CredentialRevoked, record: Record) -> Record:
    revocation = _entry(Revocation(reason=event.data.reason, marker=_marker(event)))
    credential_id = event.data.credential_id
    existing = _find(record["achievements"], "credential_id", credential_id)
    if existing is None:
        held = _earliest(record["pending_revocations"].get(credential_id), revocation)
        return {**record, "pending_revocations": {**record["pending_revocations"], credential_id: held}}
    earliest = _earliest(existing["revocation"], revocation)
    if earliest == existing["revocation"]:
        return record
    return _with_achievement(record, {**existing, "revocation": earliest})


@apply.register
def _(event: RecognitionRequested, record: Record) -> Record:
    data = event.data
    entry = RequestEntry(case_id=data.case_id, institution_id=data.institution_id, programme_id=data.programme_id,
                         credential_ids=sorted(data.credential_ids), marker=_marker(event))
    return _upsert(record, "recognition_requests", _entry(entry), "case_id")


@apply.register
def _(event: RecognitionDecided, record: Record) -> Record:
    data = event.data
    entry = RecognitionEntry(
        case_id=data.case_id, institution_id=data.institution_id, programme_id=data.programme_id,
        outcome=data.outcome, decision_id=data.decision_id, recognised=data.recognised, reasons=data.reasons,
        conditions=data.conditions, decided_by=data.decided_by, marker=_marker(event),
    )
    return _upsert(record, "recognitions", _entry(entry), "case_id")


@apply.register
def _(event: StackingProgressUpdated, record: Record) -> Record:
    data = event.data
    entry = ProgressEntry(
        programme_id=data.programme_id, institution_id=data.institution_id,
        programme_version=data.programme_version, credits_counted=data.credits_counted,
        credits_required=data.credits_required, satisfied_requirements=data.satisfied_requirements,
        missing_requirements=data.missing_requirements,
        credential_ids=sorted({a.credential_id for a in data.allocations}), marker=_marker(event),
    )
    return _upsert(record, "progress", _entry(entry), "programme_id")


@apply.register
def _(event: QualificationCompleted, record: Record) -> Record:
    data = event.data
    entry = QualificationEntry(programme_id=data.programme_id, institution_id=data.institution_id,
                               credential_ids=sorted(data.credential_ids), marker=_marker(event))
    return _upsert(record, "qualifications", _entry(entry), "programme_id")


@apply.register
def _(event: QualificationInvalidated, record: Record) -> Record:
    data = event.data
    entry = QualificationEntry(programme_id=data.programme_id, institution_id=data.institution_id,
                               credential_ids=sorted(data.credential_ids), status="invalidated", reason=data.reason,
                               marker=_marker(event))
    return _upsert(record, "qualifications", _entry(entry), "programme_id")


def _consent(event: LearnerConsentGranted | LearnerConsentRevoked, record: Record, granted: bool) -> Record:
    entry = ConsentEntry(institution_id=event.data.institution_id, granted=granted,
                         valid_until=event.data.valid_until if granted else None, evidence=event.data.evidence,
                         actor=event.actor, marker=_marker(event))
    return _upsert(record, "consents", _entry(entry), "institution_id")


@apply.register
def _(event: LearnerConsentGranted, record: Record) -> Record:
    return _consent(event, record, granted=True)


@apply.register
def _(event: LearnerConsentRevoked, record: Record) -> Record:
    return _consent(event, record, granted=False)


# ------------------------------------------------------------------------------------------------ who sees what


def has_consent(record: Record, institution_id: str, now: datetime) -> bool:
    return any(c["institution_id"] == institution_id and c["granted"]
               and (c["valid_until"] is None or now < datetime.fromisoformat(c["valid_until"]))
               for c in record["consents"])


def view(record: Record, institution_id: str, now: datetime) -> tuple[Record, bool] | None:
    """What a registrar of `institution_id` may see of the record, and whether that is only part of it.

    The learner's consent shows the whole record. Without it, an institution sees the record only when the learner
    holds one of its credentials or asked it for recognition, and then only what concerns it: its own credentials,
    the credentials offered to it, its decisions and its programmes. Anything else is None: not even existence is
    revealed."""
    if has_consent(record, institution_id, now):
        return record, False
    own = {a["credential_id"] for a in record["achievements"] if a["institution_id"] == institution_id}
    requests = [r for r in record["recognition_requests"] if r["institution_id"] == institution_id]
    if not own and not requests:
        return None
    shown = own | {c for r in requests for c in r["credential_ids"]}
    visible = {
        **record,
        "achievements": [a for a in record["achievements"] if a["credential_id"] in shown],
        "pending_revocations": {},
        "recognition_requests": requests,
        "recognitions": [r for r in record["recognitions"] if r["institution_id"] == institution_id],
        "progress": [p for p in record["progress"] if p["institution_id"] == institution_id],
        "qualifications": [q for q in record["qualifications"] if q["institution_id"] == institution_id],
        "consents": [],
    }
    return visible, visible != record


def status(achievement: Entry) -> Literal["valid", "revoked"]:
    return "revoked" if achievement["revocation"] else "valid"


def presented(record: Record) -> Record:
    """The record as the API serves it (`PresentedRecord`): each achievement with its status."""
    return {**record, "achievements": [{**a, "status": status(a)} for a in record["achievements"]]}


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


def credit_totals(record: Record) -> Entry:
    """`CreditTotals` of the record."""
    by_framework: dict[str, list[tuple[float, str]]] = defaultdict(list)
    by_method: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for a in record["achievements"]:
        if a["revocation"]:
            continue
        if a["credits"] is not None:
            by_framework[a["credits"]["framework"]].append((a["credits"]["value"], a["credential_id"]))
        for conversion in a["ects"]:
            by_method[conversion["method"]].append((conversion["ects"], a["credential_id"]))
    return {
        "by_framework": [{"framework": f, "credits": round(sum(v for v, _ in items), 2),
                          "credential_ids": [c for _, c in items]} for f, items in sorted(by_framework.items())],
        "ects_by_method": [{"method": m, "ects": round(sum(v for v, _ in items), 2),
                            "credential_ids": [c for _, c in items]} for m, items in sorted(by_method.items())],
    }


class Association(BaseModel):
    """A CLR 2.0 association between two achievements of the record."""

    associationType: Literal["isPartOf", "replacedBy"]
    sourceId: str
    targetId: str


def qualification_id(entry: Entry) -> str:
    return f"urn:creditflow:qualification:{entry['institution_id']}:{entry['programme_id']}"


def associations(record: Record) -> list[Entry]:
    """`isPartOf` (`Association`) from each credential to the stacked qualification it was counted into: the
    qualification's own credential when one was awarded (its `built_from`), else the completed qualification of the
    record."""
    held = {a["credential_id"] for a in record["achievements"]}
    awarded = [(a["credential_id"], c) for a in record["achievements"] if not a["revocation"] for c in a["built_from"]]
    covered = {c for _, c in awarded}
    found = [_is_part_of(c, q) for q, c in awarded if c in held]
    found += [
        _is_part_of(credential_id, qualification_id(q))
        for q in record["qualifications"] if q["status"] == "completed"
        for credential_id in q["credential_ids"]
        if credential_id in held and credential_id not in covered
    ]
    return found


def _is_part_of(source: str, target: str) -> Entry:
    return {"associationType": "isPartOf", "sourceId": source, "targetId": target}


def _achievement_iri(entry: Entry) -> str:
    """The id of the OB 3.0 Achievement inside an entry's credential (what CLR associations link), read from the
    credential as issued: a Data Integrity object, or the payload of a legacy VC-JOSE envelope."""
    issued = entry["credential"] or {}
    if issued and "proof" not in issued:
        try:
            issued = jose.parse(jose.unwrap(issued))[1]
        except jose.MalformedJws:
            issued = {}
    subject = issued.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    found = achievement.get("id") if isinstance(achievement, dict) else None
    return found or f"urn:creditflow:achievement:{entry['institution_id']}:{entry['achievement_id']}"


def clr_associations(record: Record) -> list[dict]:
    """The record's associations as CLR 2.0 has them: between achievement ids, `type` a string."""
    pairs = {}
    for association in associations(record):
        source = _find(record["achievements"], "credential_id", association["sourceId"])
        target = _find(record["achievements"], "credential_id", association["targetId"])
        target_id = _achievement_iri(target) if target is not None else association["targetId"]
        pairs[(association["associationType"], _achievement_iri(source), target_id)] = None
    return [{"type": "Association", "associationType": kind, "sourceId": source, "targetId": target}
            for kind, source, target in pairs]


def clr_credential(record: Record, partial: bool, *, platform_id: str, clr_id: str, issued_at: datetime) -> dict:
    """The learner's record as a 1EdTech CLR 2.0 ClrCredential (unsigned): the credentials as issued, embedded
    (legacy VC-JOSE ones stay EnvelopedVerifiableCredentials: their proof is the JWS), the completed
    qualifications as achievements, and the associations between achievements."""
    qualifications = [
        {"id": qualification_id(q), "type": ["Achievement"], "achievementType": "Certificate",
         "name": f"{q['programme_id']} ({q['institution_id']})",
         "description": f"Qualification {q['programme_id']} of {q['institution_id']}, completed from "
                        f"{len(q['credential_ids'])} credentials",
         "criteria": {"narrative": f"Completed from {len(q['credential_ids'])} credentials"}}
        for q in record["qualifications"] if q["status"] == "completed"
    ]
    return {
        "@context": [contexts.VC2, contexts.CLR2, contexts.OB3, contexts.CREDITFLOW_V1],
        "id": clr_id,
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": f"Comprehensive Learner Record of {record['learner_id']}",
        "issuer": {"id": platform_id, "type": ["Profile"], "name": "creditflow learner-record"},
        "validFrom": issued_at.isoformat().replace("+00:00", "Z"),
        "partial": partial,
        "credentialSubject": {
            "id": learner_subject_id(record["learner_id"]),
            "type": ["ClrSubject"],
            "verifiableCredential": [a["credential"] for a in record["achievements"] if a["credential"]],
            "achievement": qualifications,
            "association": clr_associations(record),
        },
    }
