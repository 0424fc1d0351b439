"""The one verification function every service uses.

It answers `valid`, `revoked`, `invalid` (with the reasons) or `unknown`, and never says valid when it could not
check: an unreachable or unverifiable status list gives `unknown`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from creditflow.events import InstitutionRegisteredData
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import jose, keys, status_list


@dataclass(frozen=True)
class RegisteredKey:
    """A public key registered to an institution, with the window in which it may sign."""

    kid: str
    institution_id: str
    issuer_id: str  # the credential `issuer.id` this key signs for
    public_key: Ed25519PublicKey
    valid_from: datetime
    retired_at: datetime | None = None

    def may_sign_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.retired_at is None or moment < self.retired_at)


KeyResolver = Callable[[str], Awaitable[RegisteredKey | None]]
# Fetches a status list credential by URL; returns None when it cannot be reached.
StatusFetcher = Callable[[str], Awaitable[dict[str, Any] | str | None]]

Status = Literal["valid", "revoked", "invalid", "unknown"]


@dataclass(frozen=True)
class Verification:
    status: Status
    reasons: list[str] = field(default_factory=list)
    credential: dict[str, Any] | None = None
    key: RegisteredKey | None = None

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


async def check_proof(secured: dict[str, Any] | str, resolve_key: KeyResolver) -> Verification:
    """Signature, key and issuer checks only (no status): `valid` or `invalid` with reasons."""
    try:
        header, credential, signing_input, signature = jose.parse(jose.unwrap(secured))
    except jose.MalformedJws as exc:
        return Verification("invalid", [str(exc)])
    if header.get("alg") != "EdDSA":
        return Verification("invalid", [f"unsupported JWS alg {header.get('alg')!r}; creditflow signs with EdDSA"])
    kid = str(header.get("kid", ""))
    key = await resolve_key(kid) if kid else None
    if key is None:
        return Verification("invalid", [f"key {kid!r} is not registered to any institution"], credential)
    if not jose.signature_valid(key.public_key, signing_input, signature):
        return Verification("invalid", [f"signature does not verify with key {kid}"], credential, key)
    reasons = []
    if _issuer_id(credential) != key.issuer_id:
        reasons.append(f"issuer {_issuer_id(credential)!r} is not the holder of key {kid}")
    valid_from = _instant(credential.get("validFrom"))
    if valid_from is None:
        reasons.append("validFrom is missing or not a date-time")
    elif not key.may_sign_at(valid_from):
        reasons.append(f"key {kid} was not valid for {key.institution_id} at validFrom {valid_from.isoformat()}")
    if reasons:
        return Verification("invalid", reasons, credential, key)
    return Verification("valid", [], credential, key)


async def verify(
    secured: dict[str, Any] | str,
    resolve_key: KeyResolver,
    fetch_status_list: StatusFetcher,
    now: datetime,
) -> Verification:
    proof = await check_proof(secured, resolve_key)
    if not proof.valid:
        return proof
    credential = proof.credential or {}
    valid_until = _instant(credential.get("validUntil")) if credential.get("validUntil") else None
    if valid_until is not None and now >= valid_until:
        return Verification("invalid", [f"expired at {valid_until.isoformat()}"], credential, proof.key)

    entries = credential.get("credentialStatus") or []
    entries = entries if isinstance(entries, list) else [entries]
    for entry in entries:
        if entry.get("statusPurpose") != "revocation":
            continue
        url = entry.get("statusListCredential", "")
        listed = await fetch_status_list(url)
        if listed is None:
            return Verification("unknown", [f"status list {url} could not be fetched"], credential, proof.key)
        list_proof = await check_proof(listed, resolve_key)
        if not list_proof.valid or list_proof.key is None or list_proof.key.issuer_id != proof.key.issuer_id:
            why = "; ".join(list_proof.reasons) or "signed by another issuer"
            return Verification("unknown", [f"status list {url} does not verify: {why}"], credential, proof.key)
        try:
            bits = status_list.decode(list_proof.credential["credentialSubject"]["encodedList"])
            revoked = status_list.get(bits, int(entry["statusListIndex"]))
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            return Verification("unknown", [f"status list {url} is unreadable: {exc}"], credential, proof.key)
        if revoked:
            return Verification("revoked", [f"revoked in {url} at index {entry['statusListIndex']}"], credential, proof.key)
    return Verification("valid", [], credential, proof.key)


def registered_keys(registration: InstitutionRegisteredData) -> list[RegisteredKey]:
    """The verification keys an InstitutionRegistered event declares, keyed by their JWS kid."""
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
