"""The registrar API of stacking: a learner's progress toward the registrar's institution's programmes, with the
explanation; what-if questions answered without changing anything; and the programmes a learner is closest to
completing. As in learner-record, a registrar sees a learner only through a tie to their institution (consent,
enrolment, a credential it awarded, a recognition case), and only their institution's programmes; otherwise 404."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from creditflow.events import CreditValue, Identifier, ProgrammePublishedData, StackingProgressUpdatedData
from creditflow.events.values import ShortText
from creditflow.runtime.http import Problem
from creditflow.runtime.auth import acting_for
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from . import domain, facts
from .service import Stacking


class ProgressView(BaseModel):
    progress: StackingProgressUpdatedData
    explanation: list[str]
    closeness: float


class HypotheticalCredential(BaseModel):
    credential_id: Identifier = Field(default="hypothetical", description="Any id; it names the item in the answer.")
    achievement_id: Identifier
    credits: CreditValue
    eqf: int | None = Field(default=None, ge=1, le=8)
    grade: ShortText | None = None
    awarded_at: datetime | None = Field(default=None, description="Defaults to now.")
    micro_credential: bool = True


class HypotheticalRecognition(BaseModel):
    module_id: Identifier
    credits: CreditValue
    basis: Literal["equivalence", "elective"] = "equivalence"
    grade: ShortText = Field(default="pass", description="The grade as recognised; 'pass': recognised without "
                             "grades (meets min_grade unless the programme has recognised_grade_required).")


class WhatIf(BaseModel):
    credentials: list[HypotheticalCredential] = Field(default_factory=list, max_length=50)
    recognitions: list[HypotheticalRecognition] = Field(default_factory=list, max_length=50)


class Closest(BaseModel):
    programme_id: str
    closeness: float
    complete: bool
    missing_requirements: list[str]
    credits_counted: float
    credits_required: float


def _view(progress: domain.Progress) -> ProgressView:
    return ProgressView(progress=progress.data(), explanation=list(progress.explanation),
                        closeness=domain.closeness(progress))


def router(stacking: Stacking) -> APIRouter:
    api = APIRouter(tags=["stacking"])
    store = stacking.store
    Registrar = Annotated[str, Depends(acting_for("registrar", learner_data=True))]  # 0002's roles

    async def learner(learner_id: str, institution_id: str) -> facts.LearnerFacts:
        known = await store.facts(learner_id)
        owners = {p: institution_id for p in await store.programmes_of(institution_id)}
        if known is None or not facts.ties(known, institution_id, owners):
            raise Problem(404, "Not found", f"no learner {learner_id} for {institution_id}")
        return known

    async def programme(programme_id: str, institution_id: str) -> list:
        versions = (await store.versions({programme_id})).get(programme_id)
        if not versions or versions[0].institution_id != institution_id:
            raise Problem(404, "Not found", f"no programme {programme_id} at {institution_id}")
        return versions

    @api.get("/programmes", response_model=list[ProgrammePublishedData])
    async def programmes(institution_id: Registrar) -> Any:
        """The institution's programme versions stacking has accepted (a refused one is in the dead-letter topic)."""
        found = await store.versions(set(await store.programmes_of(institution_id)))
        return sorted((v for versions in found.values() for v in versions), key=lambda v: (v.programme_id, v.version))

    @api.get("/learners/{learner_id}/programmes/{programme_id}/progress", response_model=ProgressView)
    async def progress(learner_id: Identifier, programme_id: Identifier, institution_id: Registrar) -> Any:
        """Which credential counts where, and why each other one does not."""
        known = await learner(learner_id, institution_id)
        return _view(facts.progress(known, await programme(programme_id, institution_id), stacking.clock()))

    @api.post("/learners/{learner_id}/programmes/{programme_id}/what-if", response_model=ProgressView)
    async def what_if(learner_id: Identifier, programme_id: Identifier, body: WhatIf,
                      institution_id: Registrar) -> Any:
        """Progress as if the learner also held these credentials and recognitions. Nothing is stored."""
        known = await learner(learner_id, institution_id)
        versions = await programme(programme_id, institution_id)
        now = stacking.clock()
        standing = facts.standing(known, versions, now)
        assert standing is not None  # `programme` answered 404 when there are no versions
        measured, at = standing
        extra = [domain.Item(item_id=c.credential_id if c.credential_id != "hypothetical" else f"hypothetical-{i}",
                             source="credential", options=frozenset({c.achievement_id}), credits=c.credits,
                             awarded_at=(c.awarded_at or now).astimezone(UTC), eqf=c.eqf, grade=c.grade,
                             micro_credential=c.micro_credential) for i, c in enumerate(body.credentials)]
        extra += [domain.Item(item_id=f"hypothetical-recognition-{i}", source="recognition",
                              options=frozenset({r.module_id}) if r.basis == "equivalence" else frozenset(),
                              credits=r.credits, awarded_at=now, grade=r.grade,
                              credential_ids=(f"hypothetical-recognition-{i}",))
                  for i, r in enumerate(body.recognitions)]
        items = domain.hypothetical(facts.items_for(known, measured), extra)
        return _view(domain.allocate(measured, items, at))

    @api.get("/learners/{learner_id}/closest", response_model=list[Closest])
    async def closest(learner_id: Identifier, institution_id: Registrar) -> Any:
        """The registrar's programmes this learner has credits toward, closest to completion first, with what is
        missing."""
        known = await learner(learner_id, institution_id)
        programmes = await stacking.programmes_for(known)
        now = stacking.clock()
        answers = []
        for versions in programmes.values():
            if versions[0].institution_id != institution_id:
                continue
            p = facts.progress(known, versions, now)
            if p is None or not (p.allocations or p.programme.programme_id in known.enrolments):
                continue
            answers.append(Closest(programme_id=p.programme.programme_id, closeness=domain.closeness(p),
                                   complete=p.complete, missing_requirements=list(p.missing),
                                   credits_counted=p.credits_counted, credits_required=p.programme.total_credits.value))
        return sorted(answers, key=lambda a: (-a.closeness, a.programme_id))

    return api
