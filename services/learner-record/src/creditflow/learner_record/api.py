"""The registrar API of learner-record. Every route reads through `RecordStore.visible`, so a registrar sees a
learner only as far as the learner's ties to the registrar's institution allow, and otherwise gets 404."""

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from creditflow.credentials import contexts, data_integrity, keys
from creditflow.credentials.verify import verification_method
from creditflow.events import (
    Actor,
    CreditFramework,
    Event,
    Identifier,
    LearnerConsentData,
    LearnerConsentGranted,
    LearnerConsentRevoked,
    UtcDatetime,
)
from creditflow.events.values import Text
from creditflow.runtime.auth import acting_for, actor_of, authenticated
from creditflow.runtime.http import Problem
from creditflow.runtime.identity import Principal

from . import domain
from .store import InstitutionDirectory, RecordStore

PERSONAL = {"Cache-Control": "no-store"}
PLATFORM_KEY_ID = "platform-1"


@dataclass(frozen=True)
class Options:
    public_url: str
    platform_key: Ed25519PrivateKey

    @property
    def platform_id(self) -> str:
        """The CLR's `issuer.id`, which serves the platform's Profile."""
        return f"{self.public_url}/platform"

    @property
    def kid(self) -> str:
        return f"{self.platform_id}#{PLATFORM_KEY_ID}"

    @property
    def verification_method(self) -> str:
        return verification_method(self.platform_id, PLATFORM_KEY_ID)


# Response schemas (OpenAPI): the routes build plain data of these shapes from the stored record.
class RecordView(BaseModel):
    record: domain.PresentedRecord
    partial: bool
    institution_names: dict[str, str]
    credit_totals: domain.CreditTotals
    associations: list[domain.Association]


class AchievementPage(BaseModel):
    items: list[domain.PresentedAchievement]
    total: int
    offset: int
    limit: int


EVIDENCE = ("What the learner gave the institution recording the consent for them, to find it again: e.g. "
            "'signed form 2026-11-30, ref 4411'.")


class ConsentGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    institution_id: Identifier = Field(description="The institution whose registrars may read the whole record.")
    evidence: Text = Field(description=EVIDENCE)
    valid_until: UtcDatetime | None = Field(default=None, description="When the consent lapses; none: until revoked.")


class ConsentRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence: Text = Field(description=EVIDENCE)


class ConsentRecorded(BaseModel):
    """A consent fact as recorded and published on creditflow.learner.consents; the record shows it once
    learner-record has read it back (well under a second)."""

    event_id: str
    learner_id: str
    institution_id: str
    granted: bool
    valid_until: datetime | None
    evidence: str
    actor: Actor
    recorded_at: datetime


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def personal(payload: Any, request: Request) -> Response:
    """A personal-data response: never cached by intermediaries, with an ETag for conditional GETs."""
    # pydantic-core's encoder (Rust): a stored record keeps its key order, so the same record gives the same ETag.
    body = to_json(payload, fallback=str)
    tag = _etag(body)
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={**PERSONAL, "ETag": tag})
    return Response(body, media_type="application/json", headers={**PERSONAL, "ETag": tag})


def router(store: RecordStore, directory: InstitutionDirectory, options: Options,
           publish: Callable[[Event], Awaitable[None]]) -> APIRouter:
    api = APIRouter(tags=["learner records"])
    # 0002: registrars and reviewers read their institution's view of a record; the operator reads no learner data.
    Registrar = Annotated[str, Depends(acting_for("registrar", "reviewer", learner_data=True))]
    # 0002: a registrar records consent for a learner, with evidence; reviewers only read.
    ConsentRecorder = Annotated[Principal, Depends(authenticated("registrar", learner_data=True))]

    async def visible(learner_id: str, institution_id: str) -> tuple[domain.Record, bool]:
        found = await store.visible(learner_id, institution_id, datetime.now(UTC))
        if found is None:
            # Same answer whether the learner is unknown or only hidden: existence is not revealed.
            raise Problem(404, "Not found", f"no record of learner {learner_id} for {institution_id}")
        return found

    @api.get("/learners/{learner_id}/record", response_model=RecordView,
             responses={304: {"description": "unchanged since the ETag sent in If-None-Match"}})
    async def get_record(learner_id: Identifier, institution_id: Registrar, request: Request) -> Response:
        record, partial = await visible(learner_id, institution_id)
        names = await directory.names({a["institution_id"] for a in record["achievements"]}
                                      | {r["institution_id"] for r in record["recognitions"]})
        view = {"record": domain.presented(record), "partial": partial, "institution_names": names,
                "credit_totals": domain.credit_totals(record), "associations": domain.associations(record)}
        return personal(view, request)

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
            a for a in domain.presented(record)["achievements"]
            if (issuer is None or a["institution_id"] == issuer)
            and (framework is None or (a["credits"] is not None and a["credits"]["framework"] == framework))
            and (status is None or a["status"] == status)
            and (awarded_from is None or datetime.fromisoformat(a["awarded_at"]) >= awarded_from)
            and (awarded_until is None or datetime.fromisoformat(a["awarded_at"]) < awarded_until)
        ]
        page = {"items": matching[offset:offset + limit], "total": len(matching), "offset": offset, "limit": limit}
        return personal(page, request)

    @api.get("/learners/{learner_id}/credits", response_model=domain.CreditTotals)
    async def get_credits(learner_id: Identifier, institution_id: Registrar, request: Request) -> Response:
        record, _ = await visible(learner_id, institution_id)
        return personal(domain.credit_totals(record), request)

    @api.get("/learners/{learner_id}/recognitions", response_model=list[domain.RecognitionEntry])
    async def get_recognitions(learner_id: Identifier, institution_id: Registrar, request: Request) -> Response:
        record, _ = await visible(learner_id, institution_id)
        return personal(record["recognitions"], request)

    @api.get("/learners/{learner_id}/progress", response_model=list[domain.ProgressEntry])
    async def get_progress(learner_id: Identifier, institution_id: Registrar, request: Request) -> Response:
        record, _ = await visible(learner_id, institution_id)
        return personal(record["progress"], request)

    @api.get("/learners/{learner_id}/clr")
    async def get_clr(learner_id: Identifier, institution_id: Registrar) -> JSONResponse:
        """The record as a 1EdTech CLR 2.0 ClrCredential with the platform's Data Integrity proof (eddsa-rdfc-2022);
        `partial` is true when this registrar may see only part of the record."""
        record, partial = await visible(learner_id, institution_id)
        now = datetime.now(UTC)
        clr = domain.clr_credential(record, partial, platform_id=options.platform_id,
                                    clr_id=f"urn:uuid:{uuid.uuid4()}", issued_at=now)
        signed = data_integrity.sign(clr, options.platform_key, options.verification_method, now, proof_set=True)
        return JSONResponse(signed, headers=PERSONAL)

    async def record_consent(learner_id: str, institution_id: str, recorder: Principal, granted: bool,
                             evidence: str, valid_until: datetime | None) -> dict[str, Any]:
        """Publish the consent fact, naming the registrar from their token. A registrar records consent for its own
        institution, or for another one when it already sees the learner (a tie: a credential, a request, a consent);
        otherwise 404, as for a read, so that no learner's existence is revealed."""
        now = datetime.now(UTC)
        if valid_until is not None and valid_until <= now:
            raise Problem(422, "Invalid request", "valid_until: must be in the future",
                          errors=[{"field": "valid_until", "rule": "must be in the future"}])
        if institution_id != recorder.institution_id:
            await visible(learner_id, recorder.institution_id)
        kind = LearnerConsentGranted if granted else LearnerConsentRevoked
        event = kind(producer="learner-record", learner_id=learner_id, occurred_at=now, actor=actor_of(recorder),
                     data=LearnerConsentData(institution_id=institution_id, evidence=evidence,
                                             valid_until=valid_until))
        await publish(event)
        return {"event_id": str(event.event_id), "learner_id": learner_id, "institution_id": institution_id,
                "granted": granted, "valid_until": valid_until, "evidence": evidence, "actor": event.actor,
                "recorded_at": now}

    @api.post("/learners/{learner_id}/consents", tags=["consent"], status_code=201, response_model=ConsentRecorded)
    async def grant_consent(learner_id: Identifier, body: ConsentGrant, recorder: ConsentRecorder) -> Any:
        """A registrar, acting for the learner, records that the learner lets `institution_id` read their whole
        record, with the evidence the learner gave."""
        return await record_consent(learner_id, body.institution_id, recorder, True, body.evidence, body.valid_until)

    @api.post("/learners/{learner_id}/consents/{institution_id}/revoke", tags=["consent"],
              response_model=ConsentRecorded)
    async def revoke_consent(learner_id: Identifier, institution_id: Identifier, body: ConsentRevocation,
                             recorder: ConsentRecorder) -> Any:
        """A registrar, acting for the learner, records that the learner withdrew `institution_id`'s consent."""
        return await record_consent(learner_id, institution_id, recorder, False, body.evidence, None)

    @api.get("/platform", tags=["keys"], response_class=JSONResponse,
             responses={200: {"content": {"application/ld+json": {}}}})
    async def platform_profile() -> JSONResponse:
        """The Profile of the CLR's issuer, listing the platform key as its assertion method."""
        return JSONResponse({"@context": [contexts.VC2, contexts.OB3, contexts.CREDITFLOW_V1],
                             "id": options.platform_id, "type": ["Profile"], "name": "creditflow learner-record",
                             "assertionMethod": [options.verification_method]}, media_type="application/ld+json")

    @api.get(f"/platform/keys/{PLATFORM_KEY_ID}", tags=["keys"], response_class=JSONResponse,
             responses={200: {"content": {"application/ld+json": {}}}})
    async def platform_key() -> JSONResponse:
        """The verification method of the CLR's proof."""
        document = data_integrity.multikey_document(options.verification_method, options.platform_id,
                                                    keys.to_multibase(options.platform_key.public_key()))
        return JSONResponse(document, media_type="application/ld+json")

    @api.get("/.well-known/jwks.json", tags=["keys"])
    async def jwks() -> dict[str, Any]:
        """The platform's public key, which verifies CLR exports."""
        return {"keys": [keys.to_jwk(options.platform_key.public_key(), options.kid)]}

    return api
