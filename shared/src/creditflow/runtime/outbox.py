"""A transactional outbox without transactions: an aggregate's document carries the events it still has to publish.

State and pending events are written in one single-document operation; the events are published; each published
event is then removed from the document. A crash in between leaves the events in the document, and the relay
publishes them later. Nothing is lost; a crash after publishing and before the removal publishes an event twice with
the same event_id, which consumers absorb (at-least-once).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from creditflow.events import Event, decode, encode
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.collection import AsyncCollection

from .kafka import publish
from .mongo import CLAIMS, claimed
from .logging import get_logger

OUTBOX = "_outbox"
RELAY_EVERY_S = 5.0
# An event younger than this may still be on its way out with the request or handler that queued it.
RELAY_GRACE = timedelta(seconds=10)
# How long a request or handler waits for another instance's flush of the same document before leaving its events to
# that flush (which empties the outbox before it lets go) or to the relay.
FLUSH_WAIT_S = 2.0
log = get_logger("creditflow.outbox")


def entries(events: list[Event], queued_at: datetime) -> dict[str, dict[str, Any]]:
    """Outbox entries for `$set` under OUTBOX, keyed by event_id (no dots, so each can be unset on its own)."""
    return {
        str(e.event_id): {"payload": encode(e).decode(), "queued_at": queued_at, "seq": i} for i, e in enumerate(events)
    }


def pending_fields(events: list[Event], queued_at: datetime) -> dict[str, Any]:
    """`$set` fields that add these events to a document's outbox without touching events already there."""
    return {f"{OUTBOX}.{event_id}": entry for event_id, entry in entries(events, queued_at).items()}


async def flush(collection: AsyncCollection, doc_id: str, broker: KafkaBroker, wait_s: float = FLUSH_WAIT_S) -> int:
    """Publish the document's pending events in order, then remove those the broker acknowledged; returns how many
    were published.

    Several instances may flush one document at once (a request on one, a Kafka handler or the relay on another):
    each flush first claims the document (creditflow.runtime.mongo.claimed), so its events go out once. The holder
    keeps flushing until the outbox is empty, which covers events another writer queued meanwhile; a flush that
    cannot get the claim within `wait_s` leaves its events to the holder or, failing that, to the relay."""
    async with claimed(collection.database[CLAIMS], _claim_id(collection, doc_id), wait_s) as mine:
        if not mine:
            return 0
        total = 0
        while published := await _publish(collection, doc_id, await _pending(collection, doc_id), broker):
            total += published
        return total


async def publish_queued(collection: AsyncCollection, doc_id: str, events: list[Event], broker: KafkaBroker) -> int:
    """Publish events the caller has just queued in a document only it writes (the issuer's award: one document per
    credential), without reading it back. No claim: nobody else flushes that document, and the relay leaves events
    younger than RELAY_GRACE alone, so a claim would only add two writes to every award; if a request outlives the
    grace, the event may go out twice with one event_id, which consumers absorb (at-least-once)."""
    return await _publish(collection, doc_id, events, broker)


def _claim_id(collection: AsyncCollection, doc_id: str) -> str:
    return f"outbox\x1f{collection.name}\x1f{doc_id}"


async def _pending(collection: AsyncCollection, doc_id: str) -> list[Event]:
    document = await collection.find_one({"_id": doc_id}, {OUTBOX: 1})
    pending = sorted((document or {}).get(OUTBOX, {}).values(), key=lambda entry: (entry["queued_at"], entry["seq"]))
    return [decode(entry["payload"].encode()) for entry in pending]


async def _publish(collection: AsyncCollection, doc_id: str, events: list[Event], broker: KafkaBroker) -> int:
    """Publish in order, then one removal for all the events published, not one per event: a learner's award can
    move progress toward many programmes at once, and each write rewrites the whole document. If publishing fails
    part way, the acknowledged events are still removed and the rest stay for the relay."""
    published: list[str] = []
    try:
        for event in events:
            await publish(broker, event)
            published.append(str(event.event_id))
    finally:
        if published:
            await collection.update_one({"_id": doc_id}, {"$unset": {f"{OUTBOX}.{e}": "" for e in published}})
    return len(published)


async def relay(collection: AsyncCollection, broker: KafkaBroker, queued_before: datetime) -> int:
    """Publish what crashed writers left behind: events queued before `queued_before` (so a request that is
    publishing right now is not raced). Returns how many events were published."""
    published = 0
    # A collection scan (no index serves `$exists`), run in the background, never on a request path.
    async for document in collection.find({OUTBOX: {"$exists": True, "$ne": {}}}, {OUTBOX: 1}):
        if any(entry["queued_at"] < queued_before for entry in document[OUTBOX].values()):
            # No waiting for the claim: whoever holds it is publishing these very events.
            count = await flush(collection, document["_id"], broker, wait_s=0.0)
            published += count
            if count:
                log.warning("outbox relay published events left pending", doc_id=document["_id"], count=count)
    return published


async def relay_all(collections: list[AsyncCollection], broker: KafkaBroker, now: datetime) -> int:
    """`relay` over every collection that carries an outbox, for events queued more than RELAY_GRACE before `now`."""
    return sum([await relay(c, broker, now - RELAY_GRACE) for c in collections])
