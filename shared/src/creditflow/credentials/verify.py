"""The one verification function every service uses, for every format creditflow issues:

- Data Integrity `eddsa-rdfc-2022` (the credential as a JSON object with an embedded `proof`), creditflow's own;
- the Open Badges 3.0 JWT form (compact JWS, `typ: JWT`, ES256), on request;
- legacy VC-JOSE (`typ: vc+jwt`, EdDSA), as a compact JWS or an EnvelopedVerifiableCredential, issued before.

It answers `valid`, `revoked`, `invalid` (with the reasons) or `unknown`, and never says valid when it could not
check: an unreachable or unverifiable status list gives `unknown`. A key is judged at the time of signing (the
proof's `created`, the JWT's `iat`), not at the credential's `validFrom`: an award recorded late for an earlier date
is still valid. Legacy VC-JOSE carries no signing time, so there the key is judged at `validFrom`, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from creditflow.events import InstitutionRegisteredData
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import data_integrity, jose, keys, ob_jwt, status_list


@dataclass(frozen=True)
class RegisteredKey:
    """A public key registered to an institution, with the window in which it may sign."""

    kid: str
    institution_id: str
    issuer_id: str  # the credential `issuer.id` this key signs for
    public_key: keys.PublicKeyType
    valid_from: datetime
    retired_at: datetime | None = None

    def may_sign_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.retired_at is None or moment < self.retired_at)


KeyResolver = Callable[[str], Awaitable[RegisteredKey | None]]
# Fetches a status list credential by URL; returns None when it cannot be reached.
StatusFetcher = Callable[[str], Awaitable[dict[str, Any] | str | None]]

Status = Literal["valid", "revoked", "invalid", "unknown"]
Format = Literal["data-integrity", "ob-jwt", "vc-jose"]


@dataclass(frozen=True)
class Verification:
    status: Status
    reasons: list[str] = field(default_factory=list)
    credential: dict[str, Any] | None = None
    key: RegisteredKey | None = None
    format: Format | None = None

    @property
    def valid(self) -> bool:
        return self.status == "valid"


def _issuer_id(credential: dict[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer


def _instant(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def key_reference(verification_method: str) -> str:
    """The registry's key reference (`<issuer_id>#<key_id>`, the legacy JWS kid) of a verification method URL
    (`<issuer_id>/keys/<key_id>`), so one registry serves every format."""
    issuer, found, key_id = verification_method.rpartition("/keys/")
    return f"{issuer}#{key_id}" if found and key_id and "/" not in key_id else verification_method


def verification_method(issuer_id: str, key_id: str) -> str:
    return f"{issuer_id}/keys/{key_id}"


async def _judge(credential: dict[str, Any], reference: str, signed_at: datetime | None, what: str,
                 resolve_key: KeyResolver, key_type: type, signature_ok: Callable[[Any], bool],
                 fmt: Format) -> Verification:
    """The checks every format shares: a registered key of the right type, the signature, the issuer, and the
    key's validity at `signed_at` (described by `what`)."""
    key = await resolve_key(reference) if reference else None
    if key is None:
        return Verification("invalid", [f"key {reference!r} is not registered to any institution"], credential,
                            format=fmt)
    if not isinstance(key.public_key, key_type):
        return Verification("invalid", [f"key {reference} is not a {key_type.__name__} key"], credential, key, fmt)
    if not signature_ok(key.public_key):
        return Verification("invalid", [f"signature does not verify with key {reference}"], credential, key, fmt)
    reasons = []
    if _issuer_id(credential) != key.issuer_id:
        reasons.append(f"issuer {_issuer_id(credential)!r} is not the holder of key {reference}")
    if signed_at is None:
        reasons.append(f"{what} is missing or not a date-time")
    elif not key.may_sign_at(signed_at):
        reasons.append(f"key {reference} was not valid for {key.institution_id} at {what} {signed_at.isoformat()}")
    return Verification("invalid" if reasons else "valid", reasons, credential, key, fmt)


async def _check_data_integrity(secured: dict[str, Any], resolve_key: KeyResolver) -> Verification:
    try:
        _, proof = data_integrity.split(secured)
    except data_integrity.ProofError as exc:
        return Verification("invalid", [str(exc)], secured, format="data-integrity")

    def signature_ok(public_key: Ed25519PublicKey) -> bool:
        return data_integrity.signature_valid(secured, public_key)

    try:
        return await _judge(secured, key_reference(proof["verificationMethod"]), _instant(proof["created"]),
                            "proof.created", resolve_key, Ed25519PublicKey, signature_ok, "data-integrity")
    except (data_integrity.ProofError, data_integrity.CanonicalisationError) as exc:
        return Verification("invalid", [f"cannot canonicalise the credential: {exc}"], secured,
                            format="data-integrity")


async def _check_jws(jws: str, resolve_key: KeyResolver) -> Verification:
    try:
        header, payload, signing_input, signature = jose.parse(jws)
    except jose.MalformedJws as exc:
        return Verification("invalid", [str(exc)])
    alg, typ = header.get("alg"), header.get("typ")
    reference = key_reference(str(header.get("kid", "")))
    if alg == ob_jwt.ALG and typ == ob_jwt.TYP:
        problems = ob_jwt.claim_problems(payload)
        credential = payload.get("vc") if isinstance(payload.get("vc"), dict) else payload
        if problems:
            return Verification("invalid", problems, credential, format="ob-jwt")
        # iat counts whole seconds (truncated), so a key made within that second is judged at its end.
        signed_at = datetime.fromtimestamp(payload["iat"] + 1, UTC) - timedelta(microseconds=1) \
            if isinstance(payload["iat"], int) else None
        return await _judge(credential, reference, signed_at, "iat", resolve_key, ec.EllipticCurvePublicKey,
                            lambda k: ob_jwt.signature_valid(k, signing_input, signature), "ob-jwt")
    if alg == "EdDSA":
        return await _judge(payload, reference, _instant(payload.get("validFrom")), "validFrom", resolve_key,
                            Ed25519PublicKey, lambda k: jose.signature_valid(k, signing_input, signature), "vc-jose")
    return Verification("invalid", [f"unsupported JWS alg {alg!r} / typ {typ!r}: creditflow accepts ES256 JWT "
                                    "(Open Badges 3.0) and EdDSA vc+jwt (VC-JOSE)"], payload)


async def check_proof(secured: dict[str, Any] | str, resolve_key: KeyResolver) -> Verification:
    """Signature, key and issuer checks only (no status): `valid` or `invalid` with reasons, for a Data Integrity
    secured credential (object with `proof`), an OB 3.0 JWT, or a VC-JOSE JWS / EnvelopedVerifiableCredential."""
    if isinstance(secured, dict) and "proof" in secured:
        return await _check_data_integrity(secured, resolve_key)
    try:
        jws = jose.unwrap(secured)
    except jose.MalformedJws as exc:
        return Verification("invalid", [f"not a credential creditflow can verify: it has no embedded proof and {exc}"])
    return await _check_jws(jws, resolve_key)


async def _embedded_problems(credential: dict[str, Any], resolve_key: KeyResolver) -> list[str]:
    """A CLR's embedded credentials each carry their own issuer's proof; every one must verify too."""
    subject = credential.get("credentialSubject")
    embedded = subject.get("verifiableCredential", []) if isinstance(subject, dict) else []
    problems = []
    for index, item in enumerate(embedded if isinstance(embedded, list) else [embedded]):
        checked = await check_proof(item, resolve_key)
        problems += [f"credentialSubject.verifiableCredential[{index}]: {reason}" for reason in checked.reasons]
    return problems


async def verify(
    secured: dict[str, Any] | str,
    resolve_key: KeyResolver,
    fetch_status_list: StatusFetcher | None,
    now: datetime,
) -> Verification:
    """Proof, key at the time of signing, embedded credentials, expiry, then status. `fetch_status_list` None is for
    a consumer that learns revocations as CredentialRevoked events and must not fetch a status list per credential:
    the status entries are then not read, and `valid` means valid apart from revocation."""
    proof = await check_proof(secured, resolve_key)
    if not proof.valid:
        return proof
    credential = proof.credential or {}

    def answer(status: Status, reasons: list[str]) -> Verification:
        return Verification(status, reasons, credential, proof.key, proof.format)

    embedded = await _embedded_problems(credential, resolve_key)
    if embedded:
        return answer("invalid", embedded)
    valid_until = _instant(credential.get("validUntil")) if credential.get("validUntil") else None
    if valid_until is not None and now >= valid_until:
        return answer("invalid", [f"expired at {valid_until.isoformat()}"])

    entries = (credential.get("credentialStatus") or []) if fetch_status_list is not None else []
    entries = entries if isinstance(entries, list) else [entries]
    for entry in entries:
        if entry.get("statusPurpose") != "revocation":
            continue
        url = entry.get("statusListCredential", "")
        listed = await fetch_status_list(url)
        if listed is None:
            return answer("unknown", [f"status list {url} could not be fetched"])
        list_proof = await check_proof(listed, resolve_key)
        if not list_proof.valid or list_proof.key is None or list_proof.key.issuer_id != proof.key.issuer_id:
            why = "; ".join(list_proof.reasons) or "signed by another issuer"
            return answer("unknown", [f"status list {url} does not verify: {why}"])
        try:
            bits = status_list.decode(list_proof.credential["credentialSubject"]["encodedList"])
            revoked = status_list.get(bits, int(entry["statusListIndex"]))
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            return answer("unknown", [f"status list {url} is unreadable: {exc}"])
        if revoked:
            return answer("revoked", [f"revoked in {url} at index {entry['statusListIndex']}"])
    return answer("valid", [])


def registered_keys(registration: InstitutionRegisteredData) -> list[RegisteredKey]:
    """The verification keys an InstitutionRegistered event declares, keyed by `<issuer_id>#<key_id>`
    (see key_reference)."""
    if not registration.issuer_id:
        return []
    return [
        RegisteredKey(
            kid=f"{registration.issuer_id}#{key.key_id}",
            institution_id=registration.institution_id,
            issuer_id=registration.issuer_id,
            public_key=keys.from_multibase(key.public_key_multibase),
            valid_from=key.valid_from,
            retired_at=key.retired_at,
        )
        for key in registration.public_keys
    ]


def any_of(*resolvers: KeyResolver) -> KeyResolver:
    """The first key any of `resolvers` knows (e.g. the institutions' registry, then the platform's key)."""

    async def resolve(reference: str) -> RegisteredKey | None:
        for resolver in resolvers:
            found = await resolver(reference)
            if found is not None:
                return found
        return None

    return resolve


def platform_key_resolver(platform_issuer_id: str, client: httpx.AsyncClient) -> KeyResolver:
    """The learner-record platform's key (it signs CLRs), read from the Multikey document its verification method
    URL serves. Trust comes from configuration: only keys under `platform_issuer_id` are looked up."""

    async def resolve(reference: str) -> RegisteredKey | None:
        issuer, _, key_id = reference.partition("#")
        if issuer != platform_issuer_id or not key_id:
            return None
        try:
            response = await client.get(verification_method(issuer, key_id), timeout=5.0)
            document = response.json() if response.status_code == 200 else {}
            public_key = keys.from_multibase(document.get("publicKeyMultibase", ""))
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        # The platform key has no registered validity window: it may sign whenever it is served.
        return RegisteredKey(reference, "creditflow", platform_issuer_id, public_key, datetime.min.replace(tzinfo=UTC))

    return resolve


def http_status_fetcher(client: httpx.AsyncClient) -> StatusFetcher:
    """Fetch status list credentials over HTTP; any failure is None, which verification reports as `unknown`."""

    async def fetch(url: str) -> dict[str, Any] | str | None:
        try:
            response = await client.get(url, timeout=5.0)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        if response.headers.get("content-type", "").startswith(jose.MEDIA_TYPE):
            return response.text.strip()
        try:
            return response.json()
        except ValueError:
            return None

    return fetch
