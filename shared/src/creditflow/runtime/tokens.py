"""Bearer tokens tied to one institution (or to the operator), stored only as SHA-256 hashes.

    creditflow-token create --service learner-record --institution uni-tartu
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header
from pymongo.asynchronous.collection import AsyncCollection

from .http import Problem
from .mongo import mongo_client
from .settings import installed_service_settings

COLLECTION = "tokens"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, collection: AsyncCollection) -> None:
        self._tokens = collection

    async def create(self, institution_id: str | None, now: datetime) -> str:
        """A new token for one institution (None: the operator). It is returned once and never stored in clear."""
        token = "cft_" + secrets.token_urlsafe(32)
        await self._tokens.insert_one({"_id": _hash(token), "institution_id": institution_id, "created_at": now})
        return token

    async def owner(self, token: str) -> dict[str, Any] | None:
        return await self._tokens.find_one({"_id": _hash(token)})


def registrar_of(tokens: TokenStore) -> Callable[..., Awaitable[str]]:
    """A FastAPI dependency: the institution whose registrar token the request carries, or 401."""

    async def registrar(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        owner = await tokens.owner(token) if scheme.lower() == "bearer" and token else None
        if owner is None or owner.get("institution_id") is None:
            raise Problem(401, "Unauthorized",
                          "send `Authorization: Bearer <token>` with a registrar token from `creditflow-token`")
        return owner["institution_id"]

    return registrar


async def create_token(service: str, institution_id: str | None) -> str:
    settings = installed_service_settings(service)
    client = mongo_client(settings)
    try:
        return await TokenStore(client[settings.mongodb_database][COLLECTION]).create(institution_id, datetime.now(UTC))
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="creditflow-token", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["create"])
    parser.add_argument("--service", required=True, choices=["issuer", "learner-record", "recognition", "stacking"])
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--institution", help="the institution the token acts for")
    who.add_argument("--operator", action="store_true", help="the operator (issuer: may register institutions)")
    args = parser.parse_args(argv)
    print(asyncio.run(create_token(args.service, None if args.operator else args.institution)))


if __name__ == "__main__":
    main()
