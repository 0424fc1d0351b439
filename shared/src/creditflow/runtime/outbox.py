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
from .logging import get_logger

OUTBOX = "_outbox"
RELAY_EVERY_S = 5.0
# An event younger than this may still be on its way out with the request or handler that queued it.
RELAY_GRACE = timedelta(seconds=10)
log = get_logger("creditflow.outbox")


def entries(events: list[Event], queued_at: datetime) -> dict[str, dict[str, Any]]:
    """Outbox entries for `$set` under OUTBOX, keyed by event_id (no dots, so each can be unset on its own)."""
    return {
        str(e.event_id): {"payload": encode(e).decode(), "queued_at": queued_at, "seq": i} for i, e in enumerate(events)
    }


def pending_fields(events: list[Event], queued_at: datetime) -> dict[str, Any]:
    """`$set` fields that add these events to a document's outbox without touching events already there."""
    return {f"{OUTBOX}.{event_id}": entry for event_id, entry in entries(events, queued_at).items()}


async def flush(collection: AsyncCollection, doc_id: str, broker: KafkaBroker) -> int:
    """Publish the document's pending events in order, then remove those the broker acknowledged."""
    document = await collection.find_one({"_id": doc_id}, {OUTBOX: 1})
    pending = sorted((document or {}).get(OUTBOX, {}).items(), key=lambda item: (item[1]["queued_at"], item[1]["seq"]))
    return await publish_queued(collection, doc_id, [decode(entry["payload"].encode()) for _, entry in pending], broker)


async def publish_queued(collection: AsyncCollection, doc_id: str, events: list[Event], broker: KafkaBroker) -> int:
    """Publish events the caller has just queued in the document, in order, then remove those the broker
    acknowledged: the writer knows what it queued, so a hot path need not read the document back.

    One removal for all of them, not one per event: a learner's award can move progress toward many programmes at
    once, and each write rewrites the whole document. If publishing fails part way, the acknowledged events are still
    removed and the rest stay for the relay."""
    published: list[str] = []
    try:
        for event in events:
            await publish(broker, event)
            published.append(str(event.event_id))
    finally:
        if published:
            await collection.update_one({"_id": doc_id}, {"$unset": {f"{OUTBOX}.{e}": "" for e in published}})
    return len(events)


async def relay(collection: AsyncCollection, broker: KafkaBroker, queued_before: datetime) -> int:
    """Publish what crashed writers left behind: events queued before `queued_before` (so a request that is
    publishing right now is not raced). Returns how many events were published."""
    published = 0
    # A collection scan (no index serves `$exists`), run in the background, never on a request path.
    async for document in collection.find({OUTBOX: {"$exists": True, "$ne": {}}}, {OUTBOX: 1}):
        if any(entry["queued_at"] < queued_before for entry in document[OUTBOX].values()):
            count = await flush(collection, document["_id"], broker)
            published += count
            log.warning("outbox relay published events left pending", doc_id=document["_id"], count=count)
    return published


async def relay_all(collections: list[AsyncCollection], broker: KafkaBroker, now: datetime) -> int:
    """`relay` over every collection that carries an outbox, for events queued more than RELAY_GRACE before `now`."""
    return sum([await relay(c, broker, now - RELAY_GRACE) for c in collections])
