"""The Open Badges 3.0 JWT form (OB 3.0 §8.2, VC-JWT): a compact JWS with `typ: JWT`, signed ES256 with the
institution's P-256 key, whose claims are iss, jti, nbf, iat, sub (exp when the credential expires) and the
credential itself in `vc`. 1EdTech's validator accepts only RS256 and ES256 here, hence P-256 beside Ed25519.
`iat` is the signing time: verification judges the key's validity then, not at `nbf` (the award's validFrom).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .keys import b64url

ALG = "ES256"
TYP = "JWT"


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _issuer_id(credential: dict[str, Any]) -> str:
    issuer = credential["issuer"]
    return issuer["id"] if isinstance(issuer, dict) else issuer


def claims(credential: dict[str, Any], signed_at: datetime) -> dict[str, Any]:
    """The JWT claims OB 3.0 requires, taken from the credential (which must carry no embedded proof)."""
    payload = {
        "iss": _issuer_id(credential),
        "jti": credential["id"],
        "sub": credential["credentialSubject"]["id"],
        "nbf": _epoch(credential["validFrom"]),
        "iat": int(signed_at.timestamp()),
        "vc": credential,
    }
    if credential.get("validUntil"):
        payload["exp"] = _epoch(credential["validUntil"])
    return payload


def sign(credential: dict[str, Any], private_key: ec.EllipticCurvePrivateKey, kid: str, signed_at: datetime) -> str:
    header = {"alg": ALG, "typ": TYP, "kid": kid}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode())
        for part in (header, claims(credential, signed_at))
    )
    r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def signature_valid(public_key: ec.EllipticCurvePublicKey, signing_input: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def claim_problems(payload: dict[str, Any]) -> list[str]:
    """Where the JWT claims disagree with the credential in `vc`, or miss what OB 3.0 requires."""
    credential = payload.get("vc")
    if not isinstance(credential, dict):
        return ["vc: the JWT must carry the credential in its vc claim"]
    problems = [f"{name}: required claim missing" for name in ("iss", "jti", "nbf", "sub", "iat")
                if name not in payload]
    try:
        expected = claims(credential, datetime.fromtimestamp(0))
    except (KeyError, TypeError, ValueError) as exc:
        return [*problems, f"vc: not an Open Badges credential ({exc!r})"]
    problems += [f"{name}: {payload[name]!r} differs from the credential's {expected[name]!r}"
                 for name in ("iss", "jti", "sub", "nbf") if name in payload and payload[name] != expected[name]]
    return problems
