"""Authentication in the services: the bearer token of every request verified offline (creditflow.runtime.identity),
against the revocations each service follows on the token registry topic (docs/decisions/0002).

    Caller = Annotated[Principal, Depends(authenticated("registrar", "reviewer", learner_data=True))]

401: no token, or one that is malformed, forged, expired or revoked (the problem's detail says which).
403: a genuine token without any of the route's roles. Tenancy (another institution's data) is each route's 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Header, Request

from creditflow.events import Actor

from .http import Problem
from .identity import InvalidToken, Principal, verify

OPERATOR_REFUSED = "operators do not read learner data"


class Identity:
    """What a service authenticates with: the identity public key and the jtis revoked so far."""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self.public_key = public_key
        self.revoked: set[str] = set()

    def principal(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("no bearer token: send `Authorization: Bearer <token>` from `creditflow token create`")
        return verify(token.strip(), self.public_key, self.revoked)


def authenticated(*roles: str, learner_data: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller, holding at least one of `roles`. On routes that show learner data the
    operator is told so rather than merely refused."""

    async def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
        identity: Identity = request.app.state.identity
        try:
            principal = identity.principal(authorization)
        except InvalidToken as exc:
            raise Problem(401, "Unauthorized", exc.reason) from None
        if principal.roles.isdisjoint(roles):
            if learner_data and "operator" in principal.roles:
                raise Problem(403, "Forbidden", OPERATOR_REFUSED)
            raise Problem(403, "Forbidden", f"this needs the role {' or '.join(roles)}; the token holds "
                                            f"{', '.join(sorted(principal.roles))}")
        return principal

    return caller


def actor_of(principal: Principal) -> Actor:
    """The envelope `actor` of an event a request of `principal` causes (0002): the token decides who acted, never
    the request body."""
    return Actor(person=principal.person, institution_id=principal.institution_id, roles=sorted(principal.roles))


def acting_for(*roles: str, learner_data: bool = False) -> Callable[..., Awaitable[str]]:
    """Like `authenticated`, for routes that need only the institution the caller acts for. Institution roles only:
    the operator acts for none."""
    assert "operator" not in roles
    check = authenticated(*roles, learner_data=learner_data)

    async def institution(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
        principal = await check(request, authorization)
        assert principal.institution_id is not None  # identity.check_claims: only the operator has none
        return principal.institution_id

    return institution
