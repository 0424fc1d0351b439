"""The token registry (docs/decisions/0002): the topic creditflow.identity.tokens, holding a TokenIssued per token
(its claims, never the token) and a TokenRevoked per revocation. Services follow it for revocations; the
`creditflow token` commands write it and fold it. Read without a consumer group: every reader reads it all from
offset 0, so there is nothing to commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from creditflow.events import Event, TokenIssued, TokenIssuedData, TokenRevoked, UndecodableEvent, decode
from creditflow.events.topics import TOKENS

from . import topic_io
from .settings import KafkaLogin

RETRY_DELAY_S = 1.0


def _log():  # structlog is imported when something is logged: the `creditflow token` commands start without it
    import structlog

    return structlog.get_logger("creditflow.token_registry")


@asynccontextmanager
async def _from_the_start(login: KafkaLogin, client_id: str) -> AsyncIterator[tuple[AIOKafkaConsumer,
                                                                                  dict[TopicPartition, int]]]:
    """A consumer at offset 0 of every partition of the registry, and the end offsets when it started."""
    partitions = await topic_io.existing_partitions(login, [TOKENS.name], client_id)
    if not partitions:
        raise RuntimeError(f"the token registry topic {TOKENS.name} does not exist (creditflow-topics creates it)")
    async with topic_io.from_the_start(login, partitions, client_id) as started:
        yield started


def _events(records: Iterable[ConsumerRecord]) -> Iterable[Event]:
    for record in records:
        try:
            yield decode(record.value)
        except UndecodableEvent as exc:
            _log().warning("undecodable record on the token registry, skipped", reason=exc.reason,
                           offset=record.offset)


class TokenRegistry:
    """A service's view of the registry: adds every revoked jti to `revoked`, live. `ready` is set once the registry
    has been read up to where it ended when the service started, so no token revoked before then is accepted."""

    def __init__(self, login: KafkaLogin, revoked: set[str], client_id: str) -> None:
        self.login, self.revoked, self.client_id = login, revoked, client_id
        self.ready = asyncio.Event()

    async def follow(self) -> None:
        while True:
            try:
                async with _from_the_start(self.login, self.client_id) as (consumer, ends):
                    while True:
                        if not self.ready.is_set() and await topic_io.caught_up(consumer, ends):
                            self.ready.set()
                            _log().info("token registry read", revoked=len(self.revoked))
                        batch = await consumer.getmany(timeout_ms=500)
                        for event in _events(r for records in batch.values() for r in records):
                            if isinstance(event, TokenRevoked):
                                self.revoked.add(event.data.jti)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log().exception("reading the token registry failed; retrying", topic=TOKENS.name)
                await asyncio.sleep(RETRY_DELAY_S)


async def read_all(login: KafkaLogin, client_id: str = "creditflow-cli") -> list[Event]:
    """Every event on the registry now, in order."""
    return list(_events(await topic_io.read_all(login, [TOKENS.name], client_id)))


@dataclass(frozen=True)
class TokenState:
    claims: TokenIssuedData
    revoked: TokenRevoked | None = None

    def status(self, now: datetime) -> str:
        if self.revoked is not None:
            return "revoked"
        return "expired" if self.claims.exp <= now else "active"


def fold(events: Iterable[Event]) -> dict[str, TokenState]:
    """jti -> what the registry says of that token. A revocation of a token the registry never saw is kept out:
    there are no claims to show."""
    tokens: dict[str, TokenState] = {}
    for event in events:
        if isinstance(event, TokenIssued):
            tokens[event.data.jti] = TokenState(event.data)
        elif isinstance(event, TokenRevoked) and event.data.jti in tokens:
            tokens[event.data.jti] = TokenState(tokens[event.data.jti].claims, event)
    return tokens


async def publish(login: KafkaLogin, event: TokenIssued | TokenRevoked) -> None:
    """Write one event to the registry (as the admin, its only writer); returns once every in-sync replica has it."""
    await topic_io.produce(login, [(TOKENS.name, TOKENS.key_of(event), event)], "creditflow-cli")
