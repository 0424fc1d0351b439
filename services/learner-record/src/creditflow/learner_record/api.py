"""The registrar API of learner-record."""

from __future__ import annotations

from fastapi import APIRouter, Response

from creditflow.events import Identifier
from creditflow.runtime.http import Problem

from .domain import LearnerRecord
from .store import RecordStore


def router(store: RecordStore) -> APIRouter:
    api = APIRouter(tags=["learner records"])

    @api.get("/learners/{learner_id}/record", response_model=LearnerRecord)
    async def get_record(learner_id: Identifier, response: Response) -> LearnerRecord:
        record = await store.get(learner_id)
        if record is None:
            raise Problem(404, "Not found", f"no record for learner {learner_id}")
        response.headers["Cache-Control"] = "no-store"  # personal data
        return record

    return api
