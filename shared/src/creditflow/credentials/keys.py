"""Ed25519 public keys in the encodings the standards use: multibase (base58-btc, multicodec 0xed01) and JWK."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ED25519_PUB = b"\xed\x01"  # multicodec prefix of an Ed25519 public key


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


def to_multibase(key: Ed25519PublicKey) -> str:
    return "z" + b58encode(_ED25519_PUB + raw_public(key))


def from_multibase(text: str) -> Ed25519PublicKey:
    if not text.startswith("z"):
        raise ValueError("only base58-btc multibase ('z...') keys are supported")
    data = b58decode(text[1:])
    if not data.startswith(_ED25519_PUB) or len(data) != 34:
        raise ValueError("not a multicodec Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(data[2:])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def to_jwk(key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw_public(key)), "kid": kid, "alg": "EdDSA", "use": "sig"}


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
