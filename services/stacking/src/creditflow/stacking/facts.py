"""What stacking knows of one learner, as a pure fold, and the events a change in it causes.

The fold is idempotent and order-tolerant: each fact carries the marker of the event that set it (the later fact
wins; the earliest revocation wins). After each change, `progress_events` recomputes the learner's progress toward
each programme and says only what changed: a progress update when the allocation differs from the one published,
a completion the first time every requirement holds, an invalidation when a completed qualification stops holding.
Event ids derive from the learner, the programme and a per-programme sequence, so a retried fold makes the same
events.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from creditflow.events import (
    CredentialAwarded,
    CredentialAwardedData,
    CredentialRevoked,
    Event,
    LearnerConsentGranted,
    LearnerConsentRevoked,
    LearnerEnrolled,
    ProgrammePublishedData,
    QualificationCompleted,
    QualificationCompletedData,
    QualificationInvalidated,
    QualificationInvalidatedData,
    RecognitionDecided,
    RecognitionDecidedData,
    StackingProgressUpdated,
    StackingProgressUpdatedData,
)
from pydantic import BaseModel, Field

from .domain import Item, Progress, allocate, is_micro, lost, version_for

PRODUCER = "creditflow-stacking"
_IDS = uuid.UUID("6d3f1a4e-2b8c-4f0e-9a7d-1c5e8b2f4a90")


class Marker(BaseModel):
    occurred_at: datetime
    event_id: str

    def after(self, other: Marker | None) -> bool:
        return other is None or (self.occurred_at, self.event_id) > (other.occurred_at, other.event_id)


class Held(BaseModel):
    award: CredentialAwardedData | None = None
    marker: Marker | None = None
    revoked: str | None = None
    revoked_marker: Marker | None = None


class Recognition(BaseModel):
    latest: RecognitionDecidedData
    marker: Marker
    granted: RecognitionDecidedData | None = None  # the last decision that recognised credits, for invalidations
    granted_marker: Marker | None = None


class Tie(BaseModel):
    """An institution's tie to the learner: enrolment, consent."""

    value: bool | date
    marker: Marker


class Tracked(BaseModel):
    """Per programme: what was last published, and what a completed qualification was built from."""

    institution_id: str
    published: StackingProgressUpdatedData | None = None
    completed_with: list[str] | None = None
    completed_at: datetime | None = None
    completed_version: int | None = None
    sequence: int = 0


class LearnerFacts(BaseModel):
    learner_id: str
    credentials: dict[str, Held] = Field(default_factory=dict)
    recognitions: dict[str, Recognition] = Field(default_factory=dict)
    enrolments: dict[str, Tie] = Field(default_factory=dict)  # programme_id -> started_on
    consents: dict[str, Tie] = Field(default_factory=dict)  # institution_id -> granted
    programmes: dict[str, Tracked] = Field(default_factory=dict)
    correlation_id: str = ""


def _marker(event: Event) -> Marker:
    return Marker(occurred_at=event.occurred_at, event_id=str(event.event_id))


def apply(facts: LearnerFacts, event: Event) -> LearnerFacts:
    marker = _marker(event)
    update: dict = {"correlation_id": event.correlation_id}
    if isinstance(event, CredentialAwarded):
        held = facts.credentials.get(event.data.credential_id, Held())
        if marker.after(held.marker):
            held = held.model_copy(update={"award": event.data, "marker": marker})
        update["credentials"] = {**facts.credentials, event.data.credential_id: held}
    elif isinstance(event, CredentialRevoked):
        held = facts.credentials.get(event.data.credential_id, Held())
        if held.revoked_marker is None or held.revoked_marker.after(marker):  # the earliest revocation wins
            held = held.model_copy(update={"revoked": event.data.reason, "revoked_marker": marker})
        update["credentials"] = {**facts.credentials, event.data.credential_id: held}
    elif isinstance(event, RecognitionDecided):
        current = facts.recognitions.get(event.data.case_id)
        latest = (event.data, marker) if current is None or marker.after(current.marker) else (current.latest,
                                                                                              current.marker)
        granted = (current.granted, current.granted_marker) if current else (None, None)
        if event.data.recognised and marker.after(granted[1]):
            granted = (event.data, marker)
        recognition = Recognition(latest=latest[0], marker=latest[1], granted=granted[0], granted_marker=granted[1])
        update["recognitions"] = {**facts.recognitions, event.data.case_id: recognition}
    elif isinstance(event, LearnerEnrolled):
        tie = Tie(value=event.data.started_on, marker=marker)
        existing = facts.enrolments.get(event.data.programme_id)
        if existing is None or marker.after(existing.marker):
            update["enrolments"] = {**facts.enrolments, event.data.programme_id: tie}
    elif isinstance(event, LearnerConsentGranted | LearnerConsentRevoked):
        tie = Tie(value=isinstance(event, LearnerConsentGranted), marker=marker)
        existing = facts.consents.get(event.data.institution_id)
        if existing is None or marker.after(existing.marker):
            update["consents"] = {**facts.consents, event.data.institution_id: tie}
    else:
        return facts
    return facts.model_copy(update=update)


# ------------------------------------------------------------------------------------------------ items


def items_for(facts: LearnerFacts, programme: ProgrammePublishedData) -> list[Item]:
    """The learner's credentials, and the credits recognised into this programme, as allocator items."""
    items = []
    for credential_id, held in facts.credentials.items():
        if held.award is None:
            continue
        a = held.award.achievement
        items.append(Item(
            item_id=credential_id, source="credential", options=frozenset({a.achievement_id}), credits=a.credits,
            awarded_at=held.award.awarded_at, eqf=a.level.eqf if a.level else None, grade=held.award.grade,
            micro_credential=is_micro(a.achievement_type, held.award.size.band if held.award.size else None),
            part_of=frozenset(a.part_of), revoked=f"revoked by the issuer: {held.revoked}" if held.revoked else None))
    for recognition in facts.recognitions.values():
        latest, decision = recognition.latest, recognition.granted
        if decision is None or decision.programme_id != programme.programme_id or \
                decision.institution_id != programme.institution_id:
            continue
        if latest.outcome in ("granted", "partial") and latest.recognised:
            decision, revoked = latest, None
        else:
            revoked = f"recognition {decision.decision_id} superseded by {latest.decision_id} ({latest.outcome})"
        for credit in decision.recognised:
            items.append(Item(
                item_id=f"recognition:{decision.decision_id}:{credit.module_id}", source="recognition",
                options=frozenset({credit.module_id}) if credit.basis == "equivalence" else frozenset(),
                credits=credit.credits, awarded_at=recognition.marker.occurred_at, grade=credit.grade,
                credential_ids=tuple(credit.credential_ids), revoked=revoked))
    return items


def relevant_programmes(facts: LearnerFacts) -> set[str]:
    """Programmes the learner is enrolled in or has credits toward by declaration (achievements' part_of,
    recognitions); programmes reached through their requirement options are added by the caller."""
    ids = set(facts.enrolments) | set(facts.programmes)
    ids |= {p for h in facts.credentials.values() if h.award for p in h.award.achievement.part_of}
    ids |= {r.latest.programme_id for r in facts.recognitions.values()}
    return ids


def achievement_ids(facts: LearnerFacts) -> set[str]:
    return {h.award.achievement.achievement_id for h in facts.credentials.values() if h.award}


def reach(facts: LearnerFacts) -> list[str]:
    """Keys of what a newly published programme may concern in this learner: `achievement:<id>` for each
    achievement held, `programme:<id>` for each programme the learner is enrolled in or has credits toward."""
    return sorted({f"achievement:{a}" for a in achievement_ids(facts)}
                  | {f"programme:{p}" for p in relevant_programmes(facts)})


def standing(facts: LearnerFacts, versions: list[ProgrammePublishedData], now: datetime,
             as_completed: bool = True) -> tuple[ProgrammePublishedData, datetime] | None:
    """The programme version the learner is measured against, and as of when.

    A completed qualification stays measured against the version and the moment it was completed: it was earned
    then, so time passing (a recency window) or a later version of the programme never undoes it; only a
    revocation or an invalidated recognition can. Anyone else (and, with `as_completed=False`, a learner whose
    completion has just been invalidated) is measured now, against the version for their start."""
    programme_id = versions[0].programme_id if versions else None
    if programme_id is None:
        return None
    tracked = facts.programmes.get(programme_id)
    if as_completed and tracked and tracked.completed_with is not None and tracked.completed_at is not None:
        pinned = next((v for v in versions if v.version == tracked.completed_version), None)
        if pinned:
            return pinned, tracked.completed_at
    enrolment = facts.enrolments.get(programme_id)
    programme = version_for(versions, enrolment.value if enrolment else None)  # type: ignore[arg-type]
    return (programme, now) if programme else None


def progress(facts: LearnerFacts, versions: list[ProgrammePublishedData], now: datetime,
             as_completed: bool = True) -> Progress | None:
    found = standing(facts, versions, now, as_completed)
    if found is None:
        return None
    programme, at = found
    return allocate(programme, items_for(facts, programme), at)


def _basis(progress: Progress, facts: LearnerFacts) -> list[str]:
    """The credentials behind the allocation: a recognition stands for the credentials it was granted on."""
    items = {i.item_id: i for i in items_for(facts, progress.programme)}
    return sorted({c for a in progress.allocations for c in items[a.credential_id].basis_ids})


def _about(measured: Progress) -> dict:
    programme = measured.programme
    return {"programme_id": programme.programme_id, "institution_id": programme.institution_id,
            "programme_version": programme.version}


def _invalidation(completed_with: list[str], measured: Progress) -> QualificationInvalidatedData:
    gone = lost(completed_with, measured) or completed_with
    reasons = {e.credential_id: e.reason for e in measured.not_counted}
    why = "; ".join(f"{g}: {reasons.get(g, 'no longer counts')}" for g in gone)
    return QualificationInvalidatedData(**_about(measured), credential_ids=completed_with, lost=gone,
                                        reason=f"the qualification no longer holds: {why}"[:2000])


def progress_events(facts: LearnerFacts, programmes: dict[str, list[ProgrammePublishedData]],
                    now: datetime) -> tuple[LearnerFacts, list[Event]]:
    """Recompute progress toward each programme in `programmes` and the events for what changed."""
    events: list[Event] = []
    tracked = dict(facts.programmes)
    for programme_id in sorted(programmes):
        versions = programmes[programme_id]
        current = progress(facts, versions, now)
        if current is None or (not current.allocations and programme_id not in facts.enrolments
                               and programme_id not in tracked):
            continue
        state = tracked.get(programme_id) or Tracked(institution_id=current.programme.institution_id)
        sequence = state.sequence
        found: list[Event] = []

        def envelope(kind: str, programme_id: str = programme_id) -> dict:
            nonlocal sequence
            sequence += 1
            return {"event_id": uuid.uuid5(_IDS, f"{facts.learner_id}\x1f{programme_id}\x1f{kind}\x1f{sequence}"),
                    "producer": PRODUCER, "learner_id": facts.learner_id, "occurred_at": now,
                    "correlation_id": facts.correlation_id}

        completed_with = state.completed_with
        completion: dict = {}
        invalidation: QualificationInvalidatedData | None = None
        if completed_with is not None and not current.complete:
            invalidation = _invalidation(completed_with, current)
            completed_with = None
            completion = {"completed_with": None, "completed_at": None, "completed_version": None}
            # No longer completed, the learner is measured as of now again.
            current = progress(facts, versions, now, as_completed=False)
            assert current is not None
        data = current.data()
        if data != state.published:
            found.append(StackingProgressUpdated(**envelope("progress"), data=data))
        if invalidation is not None:
            found.append(QualificationInvalidated(**envelope("invalidated"), data=invalidation))
        if current.complete and completed_with is None:
            completion = {"completed_with": [a.credential_id for a in current.allocations], "completed_at": now,
                          "completed_version": current.programme.version}
            found.append(QualificationCompleted(**envelope("completed"), data=QualificationCompletedData(
                **_about(current), credential_ids=_basis(current, facts), award_mode=current.programme.award_mode,
                achievement_id=current.programme.achievement_id)))
        if found:
            tracked[programme_id] = state.model_copy(update={"published": data, "sequence": sequence, **completion})
            events += found
    return facts.model_copy(update={"programmes": tracked}), events


def ties(facts: LearnerFacts, institution_id: str, programme_institutions: dict[str, str]) -> bool:
    """Whether a registrar of `institution_id` may see this learner's progress: the learner's consent, an
    enrolment in one of its programmes, a credential it awarded, or a recognition case with it."""
    consent = facts.consents.get(institution_id)
    return bool(
        (consent and consent.value is True)
        or any(programme_institutions.get(p) == institution_id for p in facts.enrolments)
        or any(h.award and h.award.institution_id == institution_id for h in facts.credentials.values())
        or any(r.latest.institution_id == institution_id for r in facts.recognitions.values())
    )
