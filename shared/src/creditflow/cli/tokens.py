"""`creditflow token create | list | revoke`: tokens of docs/decisions/0002, recorded in the token registry topic.

Tokens live in Kafka only (the topic creditflow.identity.tokens, written as the Kafka admin): no database is read,
so CREDITFLOW_MONGODB_URL plays no part. An unreachable broker is one clear line on stderr and exit code 1.

A token is signed first, with nothing heavier than the JWT library loaded; the contract and the Kafka client are
imported only to record it, and the token is printed only once the registry holds its TokenIssued event, so every
token handed out can be listed and revoked.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from creditflow.runtime import identity

PRODUCER = "creditflow-admin"  # the operator's tooling: the registry's only writer (0001)


def _fail(message: str) -> int:
    print(f"creditflow token: {message}", file=sys.stderr)
    return 1


class Unreachable(Exception):
    """The token registry could not be read or written: the broker is down, elsewhere, or refused the admin."""


def _login():  # -> KafkaLogin: the admin's, the registry's only writer
    import os

    from creditflow.runtime.settings import admin_login

    return admin_login(os.environ)


def _with_registry(work):  # (KafkaLogin -> coroutine) -> its result, or Unreachable naming the broker
    import logging

    from aiokafka.errors import KafkaError

    # aiokafka logs each failed connection attempt; the one message below says it once, with what to check.
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    login = _login()
    try:
        return asyncio.run(work(login))
    except (KafkaError, OSError, RuntimeError) as exc:
        raise Unreachable(
            f"cannot use the token registry (topic creditflow.identity.tokens) on the Kafka broker at "
            f"{login.bootstrap} as {login.username}: {exc}. Is the stack running? The commands read "
            "CREDITFLOW_KAFKA_BOOTSTRAP and the admin's password (CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE).") from None


def _operator(person: str):  # -> Actor, imported with the contract
    from creditflow.events import Actor

    return Actor(person=person, institution_id=None, roles=["operator"])


def issue(institution: str | None, person: str, name: str | None, roles: list[str], lifetime, by: str
          ) -> tuple[str, dict]:
    """A signed token and its claims, once the registry holds its TokenIssued event. Raises InvalidClaims when the
    claims break a rule of 0002, and whatever keeps the registry from recording it."""
    token, claims = identity.create(identity.load_private_key(identity.key_file()), sub=person, name=name,
                                    inst=institution, roles=roles or ["operator"], lifetime=lifetime)
    from creditflow.events import TokenIssued, TokenIssuedData
    from creditflow.runtime import token_registry

    at = {k: datetime.fromtimestamp(claims[k], UTC) for k in ("iat", "exp")}
    event = TokenIssued(producer=PRODUCER, actor=_operator(by), data=TokenIssuedData(**{**claims, **at}))
    _with_registry(lambda login: token_registry.publish(login, event))
    return token, claims


def create(institution: str | None, person: str, name: str | None, roles: list[str], expires: str, by: str) -> int:
    try:
        token, claims = issue(institution, person, name, roles, identity.parse_lifetime(expires), by)
    except identity.InvalidClaims as exc:
        return _fail(str(exc))
    except Unreachable as exc:
        return _fail(f"the token was not recorded, so it is not shown: {exc}")
    except Exception as exc:  # noqa: BLE001 - any failure to record means the token must not be handed out
        return _fail(f"the token registry did not record the token, so it is not shown: {exc!r}")
    print(token)
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    print(f"jti {claims['jti']}, {', '.join(claims['roles'])} for {institution or 'the platform'}, "
          f"expires {expires_at:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    return 0


def _registry() -> dict:
    from creditflow.runtime import token_registry

    return token_registry.fold(_with_registry(token_registry.read_all))


def listing(institution: str | None) -> int:
    from .output import table

    try:
        registry = _registry()
    except Unreachable as exc:
        return _fail(str(exc))
    now = datetime.now(UTC)
    rows = []
    for jti, state in sorted(registry.items(), key=lambda item: item[1].claims.iat):
        claims = state.claims
        if institution is None or claims.inst == institution:
            rows.append((jti, claims.sub, claims.inst or "-", ",".join(claims.roles),
                         f"{claims.exp:%Y-%m-%d %H:%M}", state.status(now)))
    table(("JTI", "PERSON", "INSTITUTION", "ROLES", "EXPIRES (UTC)", "STATUS"), rows)
    return 0


def revoke(jti: str, reason: str, by: str) -> int:
    try:
        known = _registry().get(jti)
    except Unreachable as exc:
        return _fail(str(exc))
    if known is None:
        return _fail(f"no token {jti} in the registry (`creditflow token list` shows the ids)")
    if known.revoked is not None:
        return _fail(f"token {jti} was already revoked: {known.revoked.data.reason}")
    from creditflow.events import TokenRevoked, TokenRevokedData
    from creditflow.runtime import token_registry

    revocation = TokenRevoked(producer=PRODUCER, actor=_operator(by), data=TokenRevokedData(jti=jti, reason=reason))
    try:
        _with_registry(lambda login: token_registry.publish(login, revocation))
    except Unreachable as exc:
        return _fail(f"{jti} is NOT revoked: {exc}")
    print(f"revoked {jti} ({known.claims.sub}); every service refuses it once it has read the registry")
    return 0
