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

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from creditflow.events import Event, TokenIssued, TokenIssuedData, TokenRevoked, UndecodableEvent, decode, encode
from creditflow.events.topics import TOKENS

from .topics import partitions_of

log = structlog.get_logger("creditflow.token_registry")

RETRY_DELAY_S = 1.0


@asynccontextmanager
async def _from_the_start(bootstrap: str, client_id: str) -> AsyncIterator[tuple[AIOKafkaConsumer,
                                                                                  dict[TopicPartition, int]]]:
    """A consumer at offset 0 of every partition of the registry, and the end offsets when it started."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        partitions = await partitions_of(admin, [TOKENS.name])
    finally:
        await admin.close()
    if not partitions:
        raise RuntimeError(f"the token registry topic {TOKENS.name} does not exist (creditflow-topics creates it)")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id=client_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield consumer, await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return all([await consumer.position(tp) >= end for tp, end in ends.items()])


def _events(batch: dict[TopicPartition, list]) -> Iterable[Event]:
    for records in batch.values():
        for record in records:
            try:
                yield decode(record.value)
            except UndecodableEvent as exc:
                log.warning("undecodable record on the token registry, skipped", reason=exc.reason,
                            offset=record.offset)


class TokenRegistry:
    """A service's view of the registry: adds every revoked jti to `revoked`, live. `ready` is set once the registry
    has been read up to where it ended when the service started, so no token revoked before then is accepted."""

    def __init__(self, bootstrap: str, revoked: set[str], client_id: str) -> None:
        self.bootstrap, self.revoked, self.client_id = bootstrap, revoked, client_id
        self.ready = asyncio.Event()

    async def follow(self) -> None:
        while True:
            try:
                async with _from_the_start(self.bootstrap, self.client_id) as (consumer, ends):
                    while True:
                        if not self.ready.is_set() and await _caught_up(consumer, ends):
                            self.ready.set()
                            log.info("token registry read", revoked=len(self.revoked))
                        for event in _events(await consumer.getmany(timeout_ms=500)):
                            if isinstance(event, TokenRevoked):
                                self.revoked.add(event.data.jti)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the token registry failed; retrying", topic=TOKENS.name)
                await asyncio.sleep(RETRY_DELAY_S)


async def read_all(bootstrap: str, client_id: str = "creditflow-cli") -> list[Event]:
    """Every event on the registry now, in order."""
    events: list[Event] = []
    async with _from_the_start(bootstrap, client_id) as (consumer, ends):
        while not await _caught_up(consumer, ends):
            events.extend(_events(await consumer.getmany(timeout_ms=500)))
    return events


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


async def publish(bootstrap: str, event: TokenIssued | TokenRevoked) -> None:
    """Write one event to the registry; returns once every in-sync replica has it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="creditflow-cli", acks="all",
                                enable_idempotence=True)
    try:
        await producer.start()
        await producer.send_and_wait(TOKENS.name, encode(event), key=TOKENS.key_of(event).encode(),
                                     headers=[("event_type", event.event_type.encode()),
                                              ("event_id", str(event.event_id).encode())])
    finally:
        await producer.stop()
