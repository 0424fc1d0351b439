"""The platform's tokens (docs/decisions/0002): an EdDSA-signed JWT naming a person, the institution they act for and
their roles. The operator's `creditflow token` command signs with the private identity key; every service verifies
offline with the public key, on every request.

This module imports neither the web framework nor a database or Kafka client: the command line signs with it and
must start fast. For the same reason signing needs only `cryptography` (a compact JWS is three base64url parts);
PyJWT, which loads cryptography's X.509 machinery, is imported to verify.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import uuid
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ISSUER = "creditflow"
ALGORITHM = "EdDSA"
ROLES = ("operator", "registrar", "issuer-integration", "reviewer")
DEFAULT_LIFETIME = timedelta(days=30)
MAX_LIFETIME = timedelta(days=365)
REQUIRED_CLAIMS = ("iss", "sub", "name", "inst", "roles", "iat", "exp", "jti")

KEY_FILE_VARIABLE = "CREDITFLOW_IDENTITY_KEY_FILE"
PUBLIC_KEY_FILE_VARIABLE = "CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE"
DEFAULT_KEY_FILE = ".state/identity/identity-key.pem"
DEFAULT_PUBLIC_KEY_FILE = ".state/identity/identity-public.pem"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, from a verified token."""

    person: str
    name: str
    institution_id: str | None  # None: the operator
    roles: frozenset[str]
    jti: str


class InvalidToken(Exception):
    """The token cannot be trusted; `reason` says why, for the 401 answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidClaims(ValueError):
    """What a token would say breaks a rule of 0002 (refused before anything is signed)."""


def check_claims(sub: str, inst: str | None, roles: list[str] | tuple[str, ...]) -> None:
    """The rules every token's claims follow, at creation and at verification."""
    if not sub or not isinstance(sub, str):
        raise InvalidClaims("sub: must name a person or an integration")
    if not roles or not isinstance(roles, (list, tuple)):
        raise InvalidClaims("roles: at least one role is required")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidClaims(f"roles: unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    if ("operator" in roles) != (inst is None):
        raise InvalidClaims("inst: null for the operator and only for the operator")
    if "operator" in roles and len(roles) > 1:
        raise InvalidClaims("roles: the operator acts for no institution, so holds no institution role")


def create(private_key: Ed25519PrivateKey, *, sub: str, name: str | None, inst: str | None, roles: list[str],
           lifetime: timedelta = DEFAULT_LIFETIME, now: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """A signed token and its claims. Raises InvalidClaims when the claims break a rule of 0002."""
    check_claims(sub, inst, roles)
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise InvalidClaims(f"exp: a token lives more than 0 and at most {MAX_LIFETIME.days} days")
    issued = int((now or datetime.now(UTC)).timestamp())
    claims = {"iss": ISSUER, "sub": sub, "name": name or sub, "inst": inst, "roles": list(dict.fromkeys(roles)),
              "iat": issued, "exp": issued + int(lifetime.total_seconds()), "jti": str(uuid.uuid4())}
    return sign(claims, private_key), claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, Any], private_key: Ed25519PrivateKey) -> str:
    """A compact JWS (RFC 7515) of the claims, EdDSA over Ed25519 (RFC 8037), as PyJWT writes it."""
    header = {"alg": ALGORITHM, "typ": "JWT"}
    signing_input = ".".join(_b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    return f"{signing_input}.{_b64(private_key.sign(signing_input.encode()))}"


@functools.cache
def _decoder() -> Any:
    import jwt

    # PyJWT counts a null claim as missing, and `inst` is null for the operator: its presence is checked below.
    return jwt.PyJWT(options={"require": [c for c in REQUIRED_CLAIMS if c != "inst"]})


def verify(token: str, public_key: Ed25519PublicKey, revoked: Container[str] = frozenset()) -> Principal:
    """The principal of a genuine, current, unrevoked token of this platform; raises InvalidToken naming why not."""
    import jwt

    try:
        claims = _decoder().decode(token, public_key, algorithms=[ALGORITHM], issuer=ISSUER)
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken(f"the token was not issued by {ISSUER}") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("the token's signature does not verify with the identity key") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"the token lacks the claim {exc.claim!r}") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"the token is malformed: {exc}") from None
    if "inst" not in claims:
        raise InvalidToken("the token lacks the claim 'inst'")
    try:
        check_claims(claims["sub"], claims["inst"], claims["roles"])
    except InvalidClaims as exc:
        raise InvalidToken(f"the token's claims are invalid: {exc}") from None
    if claims["jti"] in revoked:
        raise InvalidToken("the token has been revoked")
    return Principal(person=claims["sub"], name=claims["name"], institution_id=claims["inst"],
                     roles=frozenset(claims["roles"]), jti=claims["jti"])


_LIFETIME = re.compile(r"^(\d+)([dhm])$")


def parse_lifetime(text: str) -> timedelta:
    """`30d`, `12h` or `90m`."""
    match = _LIFETIME.match(text.strip())
    if not match:
        raise InvalidClaims(f"expires: {text!r} is not a lifetime like 30d, 12h or 90m")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


# ------------------------------------------------------------------------------------------------ key files


def ensure_key_pair(private_file: Path, public_file: Path) -> bool:
    """Create the identity key pair unless the private key exists (then only the public file is (re)written from
    it). The private key is readable by its owner only. Returns whether a new key was made."""
    private_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = not private_file.exists()
    if made:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        # O_EXCL: two set-ups racing never overwrite each other's key; 0600 from the first byte.
        fd = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    public = load_private_key(private_file).public_key()
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_file.parent.mkdir(parents=True, exist_ok=True)
    if not public_file.exists() or public_file.read_bytes() != public_pem:
        public_file.write_bytes(public_pem)
    return made


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = _load(path, KEY_FILE_VARIABLE, lambda data: serialization.load_pem_private_key(data, password=None))
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"{KEY_FILE_VARIABLE}: {path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = _load(path, PUBLIC_KEY_FILE_VARIABLE, serialization.load_pem_public_key)
    if not isinstance(key, Ed25519PublicKey):
        raise SystemExit(f"{PUBLIC_KEY_FILE_VARIABLE}: {path} is not an Ed25519 public key")
    return key


def _load(path: Path, variable: str, parse: Any) -> Any:
    try:
        return parse(path.read_bytes())
    except FileNotFoundError:
        raise SystemExit(f"{variable}: no key at {path} (`make setup` creates the local identity keys)") from None
    except ValueError as exc:
        raise SystemExit(f"{variable}: {path} is not a PEM key: {exc}") from None


def key_file() -> Path:
    """The private identity key: only the operator's command line holds it."""
    return Path(os.environ.get(KEY_FILE_VARIABLE, DEFAULT_KEY_FILE))


def main(argv: list[str] | None = None) -> None:
    """`python -m creditflow.runtime.identity DIR`: the local identity key pair in DIR (make setup, make run)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(DEFAULT_KEY_FILE).parent
    private, public = folder / Path(DEFAULT_KEY_FILE).name, folder / Path(DEFAULT_PUBLIC_KEY_FILE).name
    print(f"{'created' if ensure_key_pair(private, public) else 'kept'} the identity key pair {private} {public}")


if __name__ == "__main__":
    main()
