"""The issuer's HTTP API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from creditflow.events import Achievement, Identifier
from creditflow.runtime.kafka import publish
from creditflow.runtime.service import Runtime

from . import domain


class AwardRequest(BaseModel):
    learner_id: Identifier
    achievement: Achievement
    grade: str | None = Field(default=None, max_length=300)


class AwardAccepted(BaseModel):
    credential_id: str
    event_id: str


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["awards"])

    @api.post("/awards", status_code=status.HTTP_202_ACCEPTED, response_model=AwardAccepted)
    async def post_award(body: AwardRequest, request: Request) -> AwardAccepted:
        event = domain.award(
            credential_id=f"urn:uuid:{uuid.uuid4()}",
            learner_id=body.learner_id,
            achievement=body.achievement,
            awarded_at=datetime.now(UTC),
            grade=body.grade,
            correlation_id=request.state.correlation_id,
        )
        await publish(runtime.broker, event)
        return AwardAccepted(credential_id=event.data.credential_id, event_id=str(event.event_id))

    return api
