"""The registrar API of learner-record. Every route reads through `RecordStore.visible`, so a registrar sees a
learner only as far as the learner's ties to the registrar's institution allow, and otherwise gets 404."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from creditflow.credentials import jose, keys
from creditflow.events import CreditFramework, Identifier
from creditflow.runtime.http import Problem
from creditflow.runtime.auth import acting_for

from . import domain
from .store import InstitutionDirectory, RecordStore

PERSONAL = {"Cache-Control": "no-store"}
PLATFORM_KEY_ID = "platform-1"


@dataclass(frozen=True)
class Options:
    public_url: str
    platform_key: Ed25519PrivateKey

    @property
    def kid(self) -> str:
        return f"{self.public_url}#{PLATFORM_KEY_ID}"


class RecordView(BaseModel):
    record: domain.LearnerRecord
    partial: bool
    institution_names: dict[str, str]
    credit_totals: domain.CreditTotals
    associations: list[domain.Association]


class AchievementPage(BaseModel):
    items: list[domain.AchievementEntry]
    total: int
    offset: int
    limit: int


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def personal(payload: Any, request: Request) -> Response:
    """A personal-data response: never cached by intermediaries, with an ETag for conditional GETs."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    tag = _etag(body)
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={**PERSONAL, "ETag": tag})
    return Response(body, media_type="application/json", headers={**PERSONAL, "ETag": tag})


def router(store: RecordStore, directory: InstitutionDirectory, options: Options) -> APIRouter:
    api = APIRouter(tags=["learner records"])
    # 0002: registrars and reviewers read their institution's view of a record; the operator reads no learner data.
    Registrar = Annotated[str, Depends(acting_for("registrar", "reviewer", learner_data=True))]

    async def visible(learner_id: str, institution_id: str) -> tuple[domain.LearnerRecord, bool]:
        found = await store.visible(learner_id, institution_id, datetime.now(UTC))
        if found is None:
            # Same answer whether the learner is unknown or only hidden: existence is not revealed.
            raise Problem(404, "Not found", f"no record of learner {learner_id} for {institution_id}")
        return found

    @api.get("/learners/{learner_id}/record", response_model=RecordView,
             responses={304: {"description": "unchanged since the ETag sent in If-None-Match"}})
    async def get_record(learner_id: Identifier, institution_id: Registrar, request: Request) -> Response:
        record, partial = await visible(learner_id, institution_id)
        names = await directory.names({a.institution_id for a in record.achievements}
                                      | {r.institution_id for r in record.recognitions})
        view = RecordView(record=record, partial=partial, institution_names=names,
                          credit_totals=domain.credit_totals(record), associations=domain.associations(record))
        return personal(view.model_dump(mode="json"), request)

    @api.get("/learners/{learner_id}/achievements", response_model=AchievementPage)
    async def get_achievements(
        learner_id: Identifier,
        institution_id: Registrar,
        request: Request,
        issuer: Identifier | None = None,
        framework: CreditFramework | None = None,
        status: Literal["valid", "revoked"] | None = None,
        awarded_from: datetime | None = None,
        awarded_until: datetime | None = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Response:
        for name, value in (("awarded_from", awarded_from), ("awarded_until", awarded_until)):
            if value is not None and value.tzinfo is None:
                raise Problem(422, "Invalid request", f"{name}: must carry a time zone",
                              errors=[{"field": name, "rule": "must carry a time zone"}])
        record, _ = await visible(learner_id, institution_id)
        matching = [
            a for a in record.achievements
            if (issuer is None or a.institution_id == issuer)
            and (framework is None or (a.credits is not None and a.credits.framework == framework))
            and (status is None or a.status == status)
            and (awarded_from is None or a.awarded_at >= awarded_from)
            and (awarded_until is None or a.awarded_at < awarded_until)
        ]
        page = AchievementPage(items=matching[offset:offset + limit], total=len(matching), offset=offset, limit=limit)
        return personal(page.model_dump(mode="json"), request)

    @api.get("/learners/{learner_id}/credits", response_model=domain.CreditTotals)
    async def get_credits(learner_id: Identifier, institution_id: Registrar, request: Request) -> Response:
        record, _ = await visible(learner_id, institution_id)
        return personal(domain.credit_totals(record).model_dump(mode="json"), request)

    @api.get("/learners/{learner_id}/recognitions", response_model=list[domain.RecognitionEntry])
    async def get_recognitions(learner_id: Identifier, institution_id: Registrar, request: Request) -> Response:
        record, _ = await visible(learner_id, institution_id)
        return personal([r.model_dump(mode="json") for r in record.recognitions], request)

    @api.get("/learners/{learner_id}/progress", response_model=list[domain.ProgressEntry])
    async def get_progress(learner_id: Identifier, institution_id: Registrar, request: Request) -> Response:
        record, _ = await visible(learner_id, institution_id)
        return personal([p.model_dump(mode="json") for p in record.progress], request)

    @api.get("/learners/{learner_id}/clr")
    async def get_clr(learner_id: Identifier, institution_id: Registrar) -> JSONResponse:
        """The record as a 1EdTech CLR 2.0 ClrCredential, signed by the platform (VC-JOSE), as an
        EnvelopedVerifiableCredential; `partial` is true when this registrar may see only part of the record."""
        record, partial = await visible(learner_id, institution_id)
        clr = domain.clr_credential(record, partial, platform_id=options.public_url,
                                    clr_id=f"urn:uuid:{uuid.uuid4()}", issued_at=datetime.now(UTC))
        return JSONResponse(jose.envelope(jose.sign(clr, options.platform_key, options.kid)), headers=PERSONAL)

    @api.get("/.well-known/jwks.json", tags=["keys"])
    async def jwks() -> dict[str, Any]:
        """The platform's public key, which verifies CLR exports."""
        return {"keys": [keys.to_jwk(options.platform_key.public_key(), options.kid)]}

    return api
