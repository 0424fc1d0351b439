"""The issuer's HTTP API. Every write is authorised by a bearer token tied to one institution (or the operator)."""


from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from creditflow.credentials import contexts, jose, keys, ob_jwt, status_list
from creditflow.credentials.verify import (
    any_of,
    http_status_fetcher,
    platform_key_resolver,
    registered_keys,
    verification_method,
    verify,
)
from creditflow.events import (
    Achievement,
    CreditFramework,
    Identifier,
    InstitutionRegisteredData,
    PublicKey,
    QualityAssurance,
)
from creditflow.events.values import CountryCode, ShortText, Text
from creditflow.runtime.auth import actor_of, authenticated
from creditflow.runtime.http import Problem, routed_client
from creditflow.runtime.identity import Principal
from creditflow.runtime.mongo import CLAIMS, claimed
from creditflow.runtime.outbox import flush
from creditflow.runtime.service import Runtime
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, Field

from . import credential, domain, rules
from .awarding import Awarder, AwardRequest, AwardResult, Options
from .rules import Institution
from .store import Conflict, IssuerStore

MAX_BULK = 500
# A key change waits this long for one running on another instance (each takes milliseconds) before answering 409.
KEYS_WAIT_S = 5.0
JSON_LD = "application/ld+json"
JWK_SET = "application/jwk-set+json"


def require_institution(caller: Principal, institution_id: str) -> None:
    """The operator acts for any institution; anyone else for their own only."""
    if caller.institution_id is not None and caller.institution_id != institution_id:
        raise Problem(403, "Forbidden", f"this token acts for {caller.institution_id}, not for {institution_id}")


def own_credential(caller: Principal, institution_id: str, credential_id: str) -> None:
    """Another institution's credential is not found (0002: existence does not leak)."""
    if caller.institution_id != institution_id:
        raise Problem(404, "Not found", f"no credential {credential_id}")


# ------------------------------------------------------------------------------------------------ request models


class RegisterInstitution(BaseModel):
    institution_id: Identifier
    name: ShortText
    country: CountryCode
    credit_frameworks: list[CreditFramework] = Field(min_length=1)
    quality_assurance: list[QualityAssurance] = Field(default_factory=list)


class ExternalKey(BaseModel):
    """A public key the institution holds the private half of, for credentials it signs itself."""

    public_key_multibase: str = Field(pattern=r"^z[1-9A-HJ-NP-Za-km-z]+$")


class BulkAwards(BaseModel):
    awards: list[AwardRequest] = Field(min_length=1, max_length=MAX_BULK)


class Revoke(BaseModel):
    reason: Text


class Verify(BaseModel):
    credential: dict[str, Any] | str = Field(
        description="A credential with an embedded Data Integrity proof, an Open Badges 3.0 JWT, or a legacy "
        "VC-JOSE EnvelopedVerifiableCredential / compact JWS.")


class BulkItem(BaseModel):
    index: int
    request_id: str
    status: Literal["issued", "duplicate", "refused"]
    credential_id: str | None = None
    problems: list[str] = Field(default_factory=list)


class VerificationResult(BaseModel):
    status: Literal["valid", "revoked", "invalid", "unknown"]
    reasons: list[str]
    format: Literal["data-integrity", "ob-jwt", "vc-jose"] | None = None


def router(runtime: Runtime, store: IssuerStore, options: Options, awarder: Awarder) -> APIRouter:
    api = APIRouter()

    # The roles of docs/decisions/0002: the operator registers institutions and keys; an institution's integration
    # publishes and awards; its registrars read its credentials.
    Operator = Annotated[Principal, Depends(authenticated("operator"))]
    KeyHolder = Annotated[Principal, Depends(authenticated("operator", "issuer-integration"))]
    Integration = Annotated[Principal, Depends(authenticated("issuer-integration"))]
    Reader = Annotated[Principal, Depends(authenticated("registrar", "issuer-integration", learner_data=True))]

    def issuer_of(institution_id: str) -> str:
        return credential.issuer_id(options.public_url, institution_id)

    resolve_key = store.key_resolver(credential.issuer_id(options.public_url, ""))

    async def publish_pending(collection: Any, doc_id: str) -> None:
        await flush(collection, doc_id, runtime.broker)

    # -------------------------------------------------------------------------------------------- institutions

    @api.post("/institutions", status_code=status.HTTP_201_CREATED, tags=["institutions"],
              response_model=InstitutionRegisteredData)
    async def register_institution(body: RegisterInstitution, caller: Operator, request: Request) -> Any:
        now = datetime.now(UTC)
        generated = new_keys(None, now)
        registration = InstitutionRegisteredData(
            **body.model_dump(), issuer_id=issuer_of(body.institution_id), public_keys=[k for k, _ in generated])
        async with keys_changing(body.institution_id):
            if await store.registration(body.institution_id) is not None:
                raise Problem(409, "Conflict", f"institution {body.institution_id} is already registered")
            for key, private in generated:
                options.key_store.save(body.institution_id, key.key_id, private)
            try:
                await store.register(registration, domain.registered(registration, now, request.state.correlation_id,
                                                                     actor_of(caller)), now)
            except Conflict as exc:
                raise Problem(409, "Conflict", str(exc)) from exc
        await publish_pending(store.institutions, body.institution_id)
        return registration

    @asynccontextmanager
    async def keys_changing(institution_id: str) -> AsyncIterator[None]:
        """One change to an institution's keys at a time, across issuer instances: two would derive the same next
        key id, overwrite each other's private key file and register only one public half (the last writer's), so
        awards could be signed with a key whose public half is not registered."""
        async with claimed(store.institutions.database[CLAIMS], f"keys\x1f{institution_id}", KEYS_WAIT_S) as mine:
            if not mine:
                raise Problem(409, "Conflict", f"the keys of {institution_id} are being changed by another request; "
                                               "retry")
            yield

    def new_keys(registration: InstitutionRegisteredData | None, now: datetime) -> list[tuple[PublicKey, Any]]:
        """A fresh Ed25519 key (Data Integrity proofs) and P-256 key (the OB 3.0 JWT form), with their private
        halves."""
        made = []
        for algorithm, private in (("Ed25519", keys.generate()), ("P-256", keys.generate_p256())):
            made.append((PublicKey(key_id=domain.next_key_id(registration, algorithm), algorithm=algorithm,
                                   public_key_multibase=keys.to_multibase(private.public_key()), valid_from=now),
                         private))
        return made

    async def add_keys(institution_id: str, added: list[PublicKey], request: Request, caller: Principal,
                       add: Callable[[InstitutionRegisteredData, PublicKey], InstitutionRegisteredData]
                       = domain.with_new_key) -> InstitutionRegisteredData:
        registration = await store.registration(institution_id)
        if registration is None:
            raise Problem(404, "Not found", f"institution {institution_id} is not registered")
        updated = registration
        for key in added:
            updated = add(updated, key)
        at = added[0].valid_from
        await store.update_registration(
            updated, domain.registered(updated, at, request.state.correlation_id, actor_of(caller)), at)
        await publish_pending(store.institutions, institution_id)
        return updated

    @api.post("/institutions/{institution_id}/keys/rotate", tags=["institutions"],
              response_model=InstitutionRegisteredData)
    async def rotate_key(institution_id: Identifier, caller: KeyHolder, request: Request) -> Any:
        require_institution(caller, institution_id)
        async with keys_changing(institution_id):
            registration = await store.registration(institution_id)
            generated = new_keys(registration, datetime.now(UTC))
            if registration is not None:
                for key, private in generated:
                    options.key_store.save(institution_id, key.key_id, private)
            return await add_keys(institution_id, [k for k, _ in generated], request, caller)

    @api.post("/institutions/{institution_id}/keys", tags=["institutions"], response_model=InstitutionRegisteredData)
    async def register_external_key(institution_id: Identifier, body: ExternalKey, caller: KeyHolder,
                                    request: Request) -> Any:
        require_institution(caller, institution_id)
        try:
            decoded = keys.from_multibase(body.public_key_multibase)
        except ValueError as exc:
            raise Problem(422, "Invalid key", f"public_key_multibase: {exc}") from exc
        algorithm = "Ed25519" if isinstance(decoded, Ed25519PublicKey) else "P-256"
        async with keys_changing(institution_id):
            registration = await store.registration(institution_id)
            key = PublicKey(key_id=domain.next_key_id(registration, algorithm), algorithm=algorithm,
                            valid_from=datetime.now(UTC), public_key_multibase=body.public_key_multibase)
            return await add_keys(institution_id, [key], request, caller, domain.with_external_key)

    async def registered(institution_id: str) -> InstitutionRegisteredData:
        registration = await store.registration(institution_id)
        if registration is None:
            raise Problem(404, "Not found", f"institution {institution_id} is not registered")
        return registration

    @api.get("/institutions/{institution_id}", tags=["keys"], response_class=JSONResponse,
             responses={200: {"content": {JSON_LD: {}}}})
    async def issuer_profile(institution_id: Identifier) -> Response:
        """The issuer's Open Badges 3.0 Profile (its `issuer.id`), listing its verification methods."""
        document = credential.profile(options.public_url, await registered(institution_id))
        return JSONResponse(document, media_type=JSON_LD)

    @api.get("/institutions/{institution_id}/keys/{key_id}", tags=["keys"], response_class=JSONResponse,
             responses={200: {"content": {JSON_LD: {}, "application/jwk+json": {}}}})
    async def key_document(institution_id: Identifier, key_id: Identifier) -> Response:
        """A proof's verification method: a Multikey document for an Ed25519 key; for a P-256 key (the kid of the
        Open Badges 3.0 JWT form) the JWK, as OB 3.0 §8.2 wants a kid to dereference to."""
        registration = await registered(institution_id)
        key = next((k for k in registration.public_keys if k.key_id == key_id), None)
        if key is None:
            raise Problem(404, "Not found", f"institution {institution_id} has no key {key_id}")
        if key.algorithm == "P-256":
            url = verification_method(issuer_of(institution_id), key_id)
            return JSONResponse(keys.to_jwk(keys.from_multibase(key.public_key_multibase), url),
                                media_type="application/jwk+json")
        return JSONResponse(credential.multikey(options.public_url, institution_id, key_id, key.public_key_multibase),
                            media_type=JSON_LD)

    @api.get("/institutions/{institution_id}/jwks", tags=["keys"], response_class=JSONResponse,
             responses={200: {"content": {JWK_SET: {}}}})
    async def jwks(institution_id: Identifier) -> Response:
        """Every key as a JWK. Ed25519 keys keep the kid their VC-JOSE signatures carry (`<issuer>#<key_id>`);
        P-256 keys have the kid their OB 3.0 JWTs carry, the key's URL."""
        registration = await registered(institution_id)
        found = [keys.to_jwk(k.public_key, k.kid if isinstance(k.public_key, Ed25519PublicKey)
                             else verification_method(issuer_of(institution_id), k.kid.rpartition("#")[2]))
                 for k in registered_keys(registration)]
        return JSONResponse({"keys": found}, media_type=JWK_SET)

    @api.get("/contexts/creditflow/v1", tags=["keys"], response_class=Response,
             responses={200: {"content": {JSON_LD: {}}}})
    async def creditflow_context() -> Response:
        """creditflow's JSON-LD context (https://w3id.org/creditflow/v1), byte-identical to the bundled copy."""
        return Response(contexts.raw(contexts.CREDITFLOW_V1), media_type=JSON_LD,
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})

    @api.get("/institutions/{institution_id}/status/revocation", tags=["keys"],
             response_class=Response, responses={200: {"content": {jose.MEDIA_TYPE: {}}}})
    async def revocation_list(institution_id: Identifier) -> Response:
        """The institution's Bitstring Status List credential, signed with its current key."""
        registration = await store.registration(institution_id)
        key = domain.current_key(registration, held=options.key_store.held(institution_id)) if registration else None
        if registration is None or key is None:
            raise Problem(404, "Not found", f"institution {institution_id} has no status list")
        listed = credential.status_list_credential(
            public_url=options.public_url,
            institution=Institution(registration.institution_id, registration.name, registration.country),
            encoded_list=status_list.encode(await store.revoked_bits(institution_id)),
            valid_from=datetime.now(UTC),
        )
        private = options.key_store.load(institution_id, key.key_id)
        jws = jose.sign(listed, private, domain.kid_of(issuer_of(institution_id), key.key_id))
        return Response(jws, media_type=jose.MEDIA_TYPE, headers={"Cache-Control": "max-age=60"})

    # -------------------------------------------------------------------------------------------- achievements

    @api.post("/achievements", status_code=status.HTTP_201_CREATED, tags=["achievements"], response_model=Achievement)
    async def publish_achievement(body: Achievement, caller: Integration, request: Request) -> Any:
        require_institution(caller, body.institution_id)
        if await store.registration(body.institution_id) is None:
            raise Problem(404, "Not found", f"institution {body.institution_id} is not registered")
        problems = rules.achievement_problems(body)
        if problems:  # it could never be awarded: refused now, with the names an award's refusal would give
            raise Problem(422, "Achievement refused", "; ".join(map(str, problems)),
                          errors=[{"field": p.field, "rule": p.rule} for p in problems])
        now = datetime.now(UTC)
        await store.publish_achievement(body, domain.achievement_published(body, now, request.state.correlation_id),
                                        now)
        await publish_pending(store.achievements, store.achievement_key(body.institution_id, body.achievement_id))
        return body

    # -------------------------------------------------------------------------------------------- awards

    @api.post("/awards", tags=["awards"], response_model=AwardResult,
              responses={201: {"description": "issued"}, 200: {"description": "already issued for this request_id"}})
    async def post_award(body: AwardRequest, caller: Integration, request: Request,
                         response: Response) -> AwardResult:
        try:
            result = await awarder.award(caller.institution_id, body, request.state.correlation_id)
        except domain.AwardRefused as exc:
            raise Problem(422, "Award refused", str(exc),
                          errors=[{"field": p.field, "rule": p.rule} for p in exc.problems]) from exc
        response.status_code = 201 if result.status == "issued" else 200
        return result

    @api.post("/awards/bulk", tags=["awards"], response_model=list[BulkItem])
    async def post_bulk(body: BulkAwards, caller: Integration, request: Request) -> list[BulkItem]:
        """Each award on its own: valid ones are issued, each refused one says why, nothing is issued twice."""
        results = []
        for index, item in enumerate(body.awards):
            try:
                done = await awarder.award(caller.institution_id, item, request.state.correlation_id)
                results.append(BulkItem(index=index, request_id=item.request_id, status=done.status,
                                        credential_id=done.credential_id))
            except domain.AwardRefused as exc:
                results.append(BulkItem(index=index, request_id=item.request_id, status="refused",
                                        problems=[str(p) for p in exc.problems]))
        return results

    @api.get("/credentials/{credential_id}", tags=["awards"])
    async def get_credential(credential_id: Identifier, caller: Reader,
                             format: Literal["data-integrity", "jwt"] = Query(  # noqa: A002 - the query's name
                                 "data-integrity", description="jwt: the Open Badges 3.0 JWT form (ES256)")) -> Any:
        found = await store.award(credential_id)
        if found is None:
            raise Problem(404, "Not found", f"no credential {credential_id}")
        event, document = found
        own_credential(caller, event.data.institution_id, credential_id)
        secured = event.data.credential
        if format == "jwt":
            return Response(await as_jwt(event.data.institution_id, secured or {}), media_type="application/jwt")
        return {"credential_id": credential_id, "learner_id": event.learner_id,
                "revocation": document["revocation"], "credential": secured}

    async def as_jwt(institution_id: str, secured: dict[str, Any]) -> str:
        """The award in the Open Badges 3.0 JWT form, signed now with the institution's current P-256 key."""
        if "proof" not in secured:
            raise Problem(409, "Conflict", "this credential was issued as VC-JOSE before the OB 3.0 JWT form existed")
        registration = await registered(institution_id)
        key = domain.current_key(registration, "P-256", held=options.key_store.held(institution_id))
        if key is None:
            raise Problem(409, "Conflict", f"{institution_id} has no P-256 key: rotate its keys to get one")
        private = options.key_store.load(institution_id, key.key_id)
        unsecured = {k: v for k, v in secured.items() if k != "proof"}
        return ob_jwt.sign(unsecured, private, verification_method(issuer_of(institution_id), key.key_id),
                           datetime.now(UTC))

    @api.post("/credentials/{credential_id}/revoke", tags=["awards"])
    async def revoke(credential_id: Identifier, body: Revoke, caller: Integration,
                     request: Request) -> dict[str, Any]:
        found = await store.award(credential_id)
        if found is None:
            raise Problem(404, "Not found", f"no credential {credential_id}")
        event, document = found
        own_credential(caller, event.data.institution_id, credential_id)
        if not await awarder.revoke(event, document, body.reason, request.state.correlation_id, actor_of(caller)):
            raise Problem(409, "Conflict", f"credential {credential_id} is already revoked")
        return {"credential_id": credential_id, "status": "revoked", "reason": body.reason}

    @api.post("/verify", tags=["keys"], response_model=VerificationResult)
    async def verify_credential(body: Verify, request: Request) -> VerificationResult:
        """The shared verification function, as a service: valid, revoked, invalid (with reasons) or unknown."""
        async with routed_client(options.routes) as client:
            resolver = any_of(resolve_key, platform_key_resolver(options.platform_issuer_id, client)) \
                if options.platform_issuer_id else resolve_key
            result = await verify(body.credential, resolver, http_status_fetcher(client), datetime.now(UTC))
        return VerificationResult(status=result.status, reasons=result.reasons, format=result.format)

    return api
