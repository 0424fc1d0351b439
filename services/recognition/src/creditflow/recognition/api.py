"""The registrar API of recognition: a receiving institution's queue of open and referred cases, each case with its
full trace, decisions with reasons, and the reports of re-evaluations after a policy change. A registrar sees only
cases addressed to their own institution; any other case is 404."""

from datetime import datetime
from typing import Annotated, Any, Literal

from creditflow.events import Identifier, RecognitionDecidedData
from creditflow.events.values import ShortText, Text
from creditflow.runtime.http import Problem
from creditflow.runtime.auth import acting_for, actor_of, authenticated
from creditflow.runtime.identity import Principal
from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from .procedure import OPEN, CaseError, CaseState
from .service import Recognition


class QueueItem(BaseModel):
    case_id: str
    learner_id: str
    programme_id: str
    module_ids: list[str]
    status: str
    requested_at: datetime
    decision_due: datetime | None
    overdue: bool
    missing: list[str]
    latest_outcome: str | None


class RecognisedModule(BaseModel):
    module_id: Identifier
    credits: float | None = Field(default=None, gt=0, description="Defaults to the module's credits.")
    basis: Literal["equivalence", "elective"] = "equivalence"
    grade: ShortText | None = Field(
        default=None, description="The grade as recognised. Defaults to the offered credentials' grade converted by "
        "the policy's grading_table, or 'pass' when the policy has none; required when the table cannot convert it.")


class RegistrarDecision(BaseModel):
    registrar: ShortText = Field(description="Who decides: named in the decision.")
    outcome: Literal["granted", "partial", "conditional", "denied"]
    recognised: list[RecognisedModule] = Field(default_factory=list)
    reasons: list[Text] = Field(min_length=1, description="Every decision states its reasons.")
    conditions: list[Text] = Field(default_factory=list)
    request_id: Identifier | None = Field(
        default=None, description="An idempotency key: the same decision sent again with it (after a timeout, to "
        "another instance) answers the decision it made instead of refusing a decided case.")


def _item(state: CaseState) -> QueueItem:
    return QueueItem(case_id=state.case_id, learner_id=state.learner_id, programme_id=state.programme_id,
                     module_ids=state.module_ids, status=state.status, requested_at=state.requested_at,
                     decision_due=state.decision_due, overdue=state.overdue, missing=state.missing,
                     latest_outcome=state.latest.data.outcome if state.latest else None)


def router(recognition: Recognition) -> APIRouter:
    api = APIRouter(tags=["recognition"])
    store = recognition.store
    # 0002: registrars decide and read their institution's cases; reviewers decide appeals; the operator reads none.
    Registrar = Annotated[str, Depends(acting_for("registrar", "reviewer", learner_data=True))]
    Decider = Annotated[Principal, Depends(authenticated("registrar", "reviewer", learner_data=True))]

    async def own_case(case_id: str, institution_id: str) -> CaseState:
        state = await store.case(case_id)
        if state is None or state.institution_id != institution_id:
            raise Problem(404, "Not found", f"no case {case_id} at {institution_id}")
        return state

    @api.get("/cases", response_model=list[QueueItem])
    async def queue(institution_id: Registrar,
                    state: Annotated[Literal["open", "incomplete", "awaiting-registrar", "appealed", "decided",
                                             "invalidated", "all"], Query(alias="status")] = "open") -> Any:
        """The institution's cases; by default the open ones (incomplete, referred, appealed), overdue first."""
        wanted = {"open": list(OPEN), "all": None}.get(state, [state])
        found = await store.find_cases(institution_id=institution_id, **({"status": wanted} if wanted else {}))
        items = [_item(s) for s in found]
        return sorted(items, key=lambda i: (not i.overdue, i.decision_due or i.requested_at, i.case_id))

    @api.get("/cases/{case_id}", response_model=CaseState)
    async def case(case_id: Identifier, institution_id: Registrar) -> Any:
        """The case with every decision and its complete trace: findings per module and element, reasons."""
        return await own_case(case_id, institution_id)

    @api.post("/cases/{case_id}/decisions", status_code=status.HTTP_201_CREATED, response_model=RecognitionDecidedData)
    async def decide(case_id: Identifier, body: RegistrarDecision, caller: Decider) -> Any:
        """A registrar decides a referred case, or reviews an appealed decision, with reasons."""
        institution_id = caller.institution_id
        found = await own_case(case_id, institution_id)
        if "registrar" not in caller.roles and found.status != "appealed":
            raise Problem(403, "Forbidden", "a reviewer decides appealed cases only")
        try:
            state = await recognition.registrar_decides(
                case_id, institution_id, registrar=body.registrar, outcome=body.outcome,
                recognised=[r.model_dump() for r in body.recognised], reasons=body.reasons,
                conditions=body.conditions, actor=actor_of(caller), request_id=body.request_id)
        except CaseError as exc:
            raise Problem(exc.status, "Decision refused", exc.detail) from exc
        return next(d for d in reversed(state.decisions) if body.request_id in (None, d.request_id)).data

    @api.get("/rules")
    async def rules(institution_id: Registrar) -> dict[str, Any]:
        """What recognition decides this institution's cases against: the policy in force (None: the defaults of
        docs/recognition.md), the articulation agreements and the programmes it has received."""
        today = recognition.clock().date()
        found = await store.policy(institution_id, today)
        return {"policy": found.model_dump(mode="json") if found else None,
                "agreements": [a.model_dump(mode="json") for a in await store.agreements(institution_id)],
                "programmes": await store.programmes_of(institution_id)}

    @api.get("/reports")
    async def reports(institution_id: Registrar) -> list[dict[str, Any]]:
        """Re-evaluations after each policy or agreement change: which decided cases would now come out
        differently. Those decisions were not changed."""
        found = await store.reports_of(institution_id)
        return sorted(({**r, "report_id": r.pop("_id")} for r in found), key=lambda r: r["created_at"])

    return api
