"""Public keys in the encodings the standards use: Multikey multibase (base58-btc with a multicodec prefix) and JWK.

Ed25519 signs Data Integrity proofs and legacy VC-JOSE credentials; P-256 (ES256) signs the Open Badges 3.0 JWT
form, whose validators accept only RS256 and ES256."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PublicKeyType = Ed25519PublicKey | ec.EllipticCurvePublicKey

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ED25519_PUB = b"\xed\x01"  # multicodec prefix of an Ed25519 public key
_P256_PUB = b"\x80\x24"  # multicodec p256-pub (0x1200, varint), followed by the compressed point


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def to_multibase(key: PublicKeyType) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "z" + b58encode(_P256_PUB + key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint))
    return "z" + b58encode(_ED25519_PUB + raw_public(key))


def from_multibase(text: str) -> PublicKeyType:
    if not text.startswith("z"):
        raise ValueError("only base58-btc multibase ('z...') keys are supported")
    data = b58decode(text[1:])
    if data.startswith(_ED25519_PUB) and len(data) == 34:
        return Ed25519PublicKey.from_public_bytes(data[2:])
    if data.startswith(_P256_PUB) and len(data) == 35:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data[2:])
    raise ValueError("not a multicodec Ed25519 or P-256 public key")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def to_jwk(key: PublicKeyType, kid: str) -> dict[str, str]:
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big")), "kid": kid, "alg": "ES256", "use": "sig"}
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw_public(key)), "kid": kid, "alg": "EdDSA", "use": "sig"}


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def generate_p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())
