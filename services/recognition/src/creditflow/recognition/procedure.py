"""The recognition procedure as a pure state machine over one case:

    requested -> file checked (complete, or what is missing) -> decided (automatically or by a registrar)
              -> appealed (once per decision) -> reviewed; and a decision relying on a revoked credential is
              invalidated.

Each step takes the case state and returns the new state with the events it causes. Event ids are derived from the
case and the step, so a step that runs twice (a redelivered event, a retried write) makes the same events, and a
step that does not apply to the state raises `CaseError` without changing anything.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from creditflow.events import (
    Actor,
    Event,
    RecognisedCredit,
    RecognitionAppealed,
    RecognitionDecided,
    RecognitionDecidedData,
    RecognitionFileChecked,
    RecognitionFileCheckedData,
    RecognitionOverdue,
    RecognitionOverdueData,
    RecognitionRequested,
)
from pydantic import BaseModel, Field

from .domain import Decision, Precedent

PRODUCER = "creditflow-recognition"
# Lisbon Recognition Convention practice (ENIC-NARIC EAR manual): a decision within four months of a complete file.
DECISION_MONTHS = 4
_IDS = uuid.UUID("0f7f3c1e-8f7e-4a53-9b1e-2f0e4b9e6d21")

Status = Literal["incomplete", "awaiting-registrar", "decided", "appealed", "invalidated"]
OPEN: tuple[Status, ...] = ("incomplete", "awaiting-registrar", "appealed")


class CaseError(Exception):
    """The step does not apply to the case as it stands (HTTP 409 / 4xx, or a dead letter)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class ModuleBasis(BaseModel):
    """What a registrar's decision on one module may become a precedent for: one achievement, on these facts."""

    module_id: str
    source_institution_id: str
    achievement_id: str
    fingerprint: str


class DecisionRecord(BaseModel):
    data: RecognitionDecidedData
    at: datetime
    appealed: bool = False
    request_id: str | None = None  # a registrar's idempotency key: the same request again is this decision


class CaseState(BaseModel):
    case_id: str
    learner_id: str
    institution_id: str
    programme_id: str
    module_ids: list[str]
    credential_ids: list[str]
    status: Status
    missing: list[str] = Field(default_factory=list)
    requested_at: datetime
    file_complete_at: datetime | None = None
    decision_due: datetime | None = None
    overdue_notified: datetime | None = None  # the due date an overdue notice was sent for
    decisions: list[DecisionRecord] = Field(default_factory=list)
    bases: list[ModuleBasis] = Field(default_factory=list)
    applied: list[str] = Field(default_factory=list)  # ids of the events already applied to this case
    correlation_id: str
    request_event_id: str

    @property
    def latest(self) -> DecisionRecord | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def overdue(self) -> bool:
        return self.status in OPEN and self.overdue_notified is not None and self.overdue_notified == self.decision_due


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    for day in range(moment.day, 0, -1):  # 31 October + 4 months is the last day of February
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _event_id(state: CaseState, step: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"{state.case_id}\x1f{step}")


def _envelope(state: CaseState, step: str, now: datetime, cause: str | None) -> dict:
    return {"event_id": _event_id(state, step), "producer": PRODUCER, "learner_id": state.learner_id,
            "occurred_at": now, "correlation_id": state.correlation_id,
            "causation_id": cause or state.request_event_id}


def _file_checked(state: CaseState, now: datetime, step: str) -> RecognitionFileChecked:
    return RecognitionFileChecked(**_envelope(state, step, now, None), data=RecognitionFileCheckedData(
        case_id=state.case_id, institution_id=state.institution_id, programme_id=state.programme_id,
        complete=not state.missing, missing=state.missing, decision_due=state.decision_due))


def open_case(request: RecognitionRequested, missing: list[str], now: datetime) -> tuple[CaseState, list[Event]]:
    """A request received: the case, and its file check. The four-month clock starts when the file is complete."""
    data = request.data
    state = CaseState(
        case_id=data.case_id, learner_id=request.learner_id, institution_id=data.institution_id,
        programme_id=data.programme_id, module_ids=list(data.module_ids), credential_ids=list(data.credential_ids),
        status="incomplete", missing=missing, requested_at=now, applied=[str(request.event_id)],
        correlation_id=request.correlation_id, request_event_id=str(request.event_id),
    )
    if not missing:
        state = state.model_copy(update={"file_complete_at": now, "decision_due": add_months(now, DECISION_MONTHS)})
    return state, [_file_checked(state, now, "file-checked")]


def complete_file(state: CaseState, missing: list[str], now: datetime) -> tuple[CaseState, list[Event]]:
    """The file re-checked after something it lacked arrived."""
    if state.status != "incomplete" or missing == state.missing:
        return state, []
    update: dict = {"missing": missing}
    if not missing:
        update |= {"file_complete_at": now, "decision_due": add_months(now, DECISION_MONTHS)}
    new = state.model_copy(update=update)
    return new, [_file_checked(new, now, f"file-checked-{len(missing)}-{now.isoformat()}")]


def _decided(state: CaseState, data: RecognitionDecidedData, now: datetime, status: Status, cause: str | None,
             bases: list[ModuleBasis] | None = None, actor: Actor | None = None,
             request_id: str | None = None) -> tuple[CaseState, list[Event]]:
    event = RecognitionDecided(**_envelope(state, f"decision-{data.decision_id}", now, cause), actor=actor, data=data)
    record = DecisionRecord(data=data, at=now, request_id=request_id)
    update = {"decisions": [*state.decisions, record], "status": status}
    if bases is not None:
        update["bases"] = bases
    return state.model_copy(update=update), [event]


def _next_decision_id(state: CaseState) -> str:
    return f"{state.case_id}.d{len(state.decisions) + 1}"


def record_decision(state: CaseState, decision: Decision, now: datetime,
                    stage: Literal["first-instance", "re-evaluation"] = "first-instance",
                    cause: str | None = None) -> tuple[CaseState, list[Event]]:
    """The analysis of a complete file: decided, or referred to a registrar with the analysis as its trace."""
    if state.status not in ("incomplete", "awaiting-registrar") or state.missing:
        return state, []
    latest = state.latest
    data = RecognitionDecidedData(
        case_id=state.case_id, decision_id=_next_decision_id(state), institution_id=state.institution_id,
        programme_id=state.programme_id, outcome=decision.outcome, recognised=decision.recognised,
        findings=decision.findings, reasons=list(decision.reasons), conditions=list(decision.conditions),
        decided_by="automatic", supersedes=latest.data.decision_id if latest else None, stage=stage,
        credential_ids=decision.credential_ids, agreement_ids=decision.agreement_ids,
        precedent_ids=decision.precedent_ids, policy_version=decision.policy_version,
    )
    if latest is not None and latest.data.outcome == data.outcome and latest.data.recognised == data.recognised:
        return state, []  # re-evaluated to the same result: nothing new to say
    status: Status = "awaiting-registrar" if decision.outcome == "referred" else "decided"
    bases = [ModuleBasis(module_id=m.module_id, source_institution_id=m.source_institution_id,
                         achievement_id=m.achievement_id, fingerprint=m.fingerprint)
             for m in decision.modules if m.fingerprint and m.source_institution_id and m.achievement_id]
    return _decided(state, data, now, status, cause, bases)


def registrar_decision(state: CaseState, *, registrar: str, outcome: str, recognised: list[RecognisedCredit],
                       reasons: list[str], conditions: list[str], now: datetime, actor: Actor | None = None,
                       request_id: str | None = None) -> tuple[CaseState, list[Event]]:
    """A registrar decides a referred case, or reviews an appealed decision; `actor` is who did, from their token.
    A decision whose `request_id` the case already holds was made: a client that lost the answer (a timeout, an
    instance gone) sends it again, to any instance, and must not be refused as deciding a decided case."""
    if request_id is not None and any(d.request_id == request_id for d in state.decisions):
        return state, []
    if state.status not in ("awaiting-registrar", "appealed"):
        raise CaseError(409, f"case {state.case_id} is {state.status}: a registrar decides only referred or "
                             "appealed cases")
    unknown = sorted({r.module_id for r in recognised} - set(state.module_ids))
    if unknown:
        raise CaseError(422, f"recognised.module_id: {', '.join(unknown)} not a target module of this case "
                             f"({', '.join(state.module_ids)})")
    if outcome in ("granted", "partial") and not recognised:
        raise CaseError(422, f"recognised: a {outcome} decision recognises at least one module")
    if outcome in ("denied", "conditional") and recognised:
        raise CaseError(422, f"recognised: a {outcome} decision recognises no credits")
    if outcome == "granted" and {r.module_id for r in recognised} != set(state.module_ids):
        raise CaseError(422, "recognised: a granted decision recognises every target module; use partial")
    if outcome == "conditional" and not conditions:
        raise CaseError(422, "conditions: a conditional decision states its conditions")
    latest = state.decisions[-1]  # a referral or the decision appealed
    review = state.status == "appealed"
    data = RecognitionDecidedData(
        case_id=state.case_id, decision_id=_next_decision_id(state), institution_id=state.institution_id,
        programme_id=state.programme_id, outcome=outcome, recognised=recognised,
        findings=latest.data.findings, reasons=reasons, conditions=conditions,
        decided_by=registrar, supersedes=latest.data.decision_id,
        stage="review" if review else "first-instance", credential_ids=state.credential_ids,
        policy_version=latest.data.policy_version,
    )
    return _decided(state, data, now, "decided", None, actor=actor, request_id=request_id)


def appeal(state: CaseState, event: RecognitionAppealed, now: datetime) -> tuple[CaseState, list[Event]]:
    """The learner appeals the case's current decision, once per decision; the case reopens for a registrar."""
    if str(event.event_id) in state.applied:
        return state, []
    latest = state.latest
    if event.learner_id != state.learner_id:
        raise CaseError(403, f"learner_id: case {state.case_id} belongs to another learner")
    if latest is None or latest.data.decision_id != event.data.decision_id:
        current = latest.data.decision_id if latest else "none yet"
        raise CaseError(409, f"data.decision_id: {event.data.decision_id} is not the case's current decision "
                             f"({current})")
    if latest.appealed:
        raise CaseError(409, f"data.decision_id: decision {latest.data.decision_id} was already appealed; "
                             "a decision may be appealed once")
    if state.status != "decided":  # referred, or invalidated
        raise CaseError(409, f"case {state.case_id} is {state.status} ({latest.data.outcome}): only a decision "
                             "may be appealed")
    decisions = [*state.decisions[:-1], latest.model_copy(update={"appealed": True})]
    return state.model_copy(update={
        "status": "appealed", "decisions": decisions, "applied": [*state.applied, str(event.event_id)],
        "decision_due": add_months(now, DECISION_MONTHS), "overdue_notified": None,
    }), []


def invalidate(state: CaseState, credential_id: str, reason: str, now: datetime,
               cause: str) -> tuple[CaseState, list[Event]]:
    """A credential the current decision relied on was revoked: the decision no longer stands."""
    latest = state.latest
    if (state.status != "decided" or latest is None or credential_id not in latest.data.credential_ids
            or latest.data.outcome == "denied"):
        return state, []
    data = RecognitionDecidedData(
        case_id=state.case_id, decision_id=_next_decision_id(state), institution_id=state.institution_id,
        programme_id=state.programme_id, outcome="invalidated",
        reasons=[f"credential {credential_id} was revoked by its issuer: {reason}"], decided_by="automatic",
        supersedes=latest.data.decision_id, stage="invalidation", credential_ids=latest.data.credential_ids,
        policy_version=latest.data.policy_version,
    )
    return _decided(state, data, now, "invalidated", cause)


def notice_overdue(state: CaseState, now: datetime) -> tuple[CaseState, list[Event]]:
    """An open case past its decision date: one notice per due date, and the case flagged in the queue."""
    if state.status not in OPEN or state.decision_due is None or now < state.decision_due or state.overdue:
        return state, []
    waiting = {"incomplete": "the complete file", "awaiting-registrar": "a registrar's decision",
               "appealed": "a registrar's review of the appeal"}[state.status]
    event = RecognitionOverdue(**_envelope(state, f"overdue-{state.decision_due.isoformat()}", now, None),
                               data=RecognitionOverdueData(case_id=state.case_id, institution_id=state.institution_id,
                                                           decision_due=state.decision_due, waiting_for=waiting))
    return state.model_copy(update={"overdue_notified": state.decision_due}), [event]


def precedents_from(state: CaseState, module_credits: dict[str, float]) -> list[Precedent]:
    """A registrar's decision on a case, as precedents: per module assessed on one credential, what was decided."""
    latest = state.latest
    # Referrals and invalidations are automatic; a registrar decides.
    if latest is None or latest.data.decided_by == "automatic":
        return []
    found = []
    for basis in state.bases:
        credit = next((r for r in latest.data.recognised if r.module_id == basis.module_id), None)
        full = module_credits.get(basis.module_id) or 0
        share = min(1.0, credit.credits.value / full) if credit and full else 0.0
        if credit is not None:
            verdict = "granted" if share >= 1.0 else "partial"
        else:
            verdict = "conditional" if latest.data.outcome == "conditional" else "denied"
        found.append(Precedent(
            decision_id=latest.data.decision_id, module_id=basis.module_id,
            source_institution_id=basis.source_institution_id, achievement_id=basis.achievement_id,
            fingerprint=basis.fingerprint, verdict=verdict, share=share,
            basis=credit.basis if credit else "equivalence", decided_by=latest.data.decided_by))
    return found
