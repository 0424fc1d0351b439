"""VC-JOSE-COSE securing (W3C, 2025): the credential is the payload of a compact JWS signed with EdDSA (Ed25519).

Legacy for credentials: creditflow issued awards in this form before it moved to Data Integrity (eddsa-rdfc-2022)
proofs, and those keep verifying; new awards are no longer issued in it. It still secures the Bitstring Status List
credential (served as application/vc+jwt). A secured credential travels as a VC 2.0 EnvelopedVerifiableCredential
(`id` = `data:application/vc+jwt,<jws>`).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .keys import b64url, b64url_decode

MEDIA_TYPE = "application/vc+jwt"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
_DATA_URL_PREFIX = f"data:{MEDIA_TYPE},"


def sign(credential: dict[str, Any], private_key: Ed25519PrivateKey, kid: str) -> str:
    header = {"alg": "EdDSA", "kid": kid, "typ": "vc+jwt", "cty": "vc"}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode()) for part in (header, credential)
    )
    return signing_input + "." + b64url(private_key.sign(signing_input.encode()))


class MalformedJws(ValueError):
    pass


def parse(jws: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, payload, signing input, signature) of a compact JWS; raises MalformedJws."""
    parts = jws.split(".")
    if len(parts) != 3:
        raise MalformedJws("a compact JWS has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError as exc:
        raise MalformedJws(f"undecodable JWS: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise MalformedJws("JWS header and payload must be JSON objects")
    return header, payload, f"{parts[0]}.{parts[1]}".encode(), signature


def signature_valid(public_key: Ed25519PublicKey, signing_input: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(signature, signing_input)
        return True
    except InvalidSignature:
        return False


def envelope(jws: str) -> dict[str, Any]:
    return {"@context": [VC_CONTEXT], "id": _DATA_URL_PREFIX + jws, "type": "EnvelopedVerifiableCredential"}


def unwrap(enveloped: dict[str, Any] | str) -> str:
    """The JWS inside an EnvelopedVerifiableCredential (or the JWS itself)."""
    if isinstance(enveloped, str):
        return enveloped
    identifier = enveloped.get("id", "")
    if enveloped.get("type") != "EnvelopedVerifiableCredential" or not identifier.startswith(_DATA_URL_PREFIX):
        raise MalformedJws(f"not an EnvelopedVerifiableCredential with a {MEDIA_TYPE} data URL")
    return identifier[len(_DATA_URL_PREFIX) :]
