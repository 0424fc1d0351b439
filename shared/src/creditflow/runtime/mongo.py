"""MongoDB access that works on the embedded FerretDB too: one document per aggregate, every write a single-document
update.

The embedded server (FerretDB with creditflow's patches, deploy/local/ferretdb-patches) has no multi-document
transactions, change streams, arrayFilters or TTL indexes, so state that must change atomically lives in one document,
read by _id (or `$in` on _id) and written with a guard on its revision. shared/tests/test_store_conformance.py
asserts the guarantees this relies on, on whatever server the tests are given.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from .settings import Settings

Document = dict[str, Any]
REVISION = "_rev"


def mongo_client(settings: Settings) -> AsyncMongoClient:
    return AsyncMongoClient(settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=10_000)


class ConcurrentUpdate(Exception):
    """Another writer kept winning the race for a document; the record is retried."""


MAX_FOLD_ATTEMPTS = 5


# Which write put a document there: a bulk write reports how many guarded replaces matched, not which, so a token
# unique to the write tells which documents another writer got to first.
WRITER = "_writer"


def _state(document: Document | None) -> Document | None:
    return None if document is None else {k: v for k, v in document.items() if k not in ("_id", REVISION, WRITER)}


async def find_by_ids(collection: AsyncCollection, ids: list[str]) -> dict[str, Document]:
    """Documents by _id, in one query (`$in` on _id is served by the _id index)."""
    if not ids:
        return {}
    return {doc["_id"]: doc async for doc in collection.find({"_id": {"$in": ids}})}


async def fold_batch(collection: AsyncCollection, folds: dict[str, Callable[[Document | None], Document]]) -> int:
    """Fold a batch into its documents with one query and one bulk write, however many events.

    `folds[doc_id]` maps a document's current state (None when there is none) to its new state, and must be
    idempotent and order-tolerant on its own: that is what makes redelivery, replay and two concurrent writers safe.
    Each document is written with a guard on the revision read (atomic on the server: the conformance suite checks
    it), so writers in any number of processes may fold the same documents; when another writer got there first,
    the losers are read and folded again. Unchanged documents are not written. Returns the number of documents written.
    """
    pending = dict(folds)
    written = 0
    for _ in range(MAX_FOLD_ATTEMPTS):
        current = await find_by_ids(collection, list(pending))
        token = uuid.uuid4().hex
        operations: list[tuple[str, InsertOne | ReplaceOne]] = []
        for doc_id, fold in pending.items():
            before = current.get(doc_id)
            after = fold(_state(before))
            if after == _state(before):
                continue
            revision = (before or {}).get(REVISION, 0)
            document = {**after, "_id": doc_id, REVISION: revision + 1, WRITER: token}
            if before is None:
                operations.append((doc_id, InsertOne(document)))
            else:
                operations.append((doc_id, ReplaceOne({"_id": doc_id, REVISION: revision}, document)))
        lost = await _write_guarded(collection, operations, token) if operations else set()
        written += len(operations) - len(lost)
        pending = {doc_id: pending[doc_id] for doc_id in lost}
        if not pending:
            return written
    raise ConcurrentUpdate(", ".join(sorted(pending)))


async def _write_guarded(
    collection: AsyncCollection, operations: list[tuple[str, InsertOne | ReplaceOne]], token: str
) -> set[str]:
    """Write guarded inserts and replaces in one bulk write; the ids another writer got to first."""
    try:
        result = await collection.bulk_write([operation for _, operation in operations], ordered=False)
        applied = result.inserted_count + result.matched_count
    except BulkWriteError as exc:
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise
        applied = exc.details.get("nInserted", 0) + exc.details.get("nMatched", 0)
    if applied == len(operations):
        return set()
    # Rare: someone else wrote some of these documents in between. Find which: theirs carry another writer token.
    stored = await find_by_ids(collection, [doc_id for doc_id, _ in operations])
    return {doc_id for doc_id, _ in operations if stored.get(doc_id, {}).get(WRITER) != token}


# The collection, in each service's database, of who holds which claim right now.
CLAIMS = "claims"
# A claim outlives a crashed holder by this much at most; every holder finishes in far less (one aggregate's events).
CLAIM_HOLD = timedelta(seconds=30)
CLAIM_RETRY_S = 0.05


async def try_claim(claims: AsyncCollection, claim_id: str, holder: str) -> bool:
    """Take the claim if nobody holds it or its holder's time ran out: one guarded upsert, atomic on the server (the
    filter does not match a live claim, so the upsert inserts its _id again and fails as a duplicate)."""
    now = datetime.now(UTC)  # wall time, not a service's clock: a claim is about processes, not about the domain
    try:
        await claims.update_one({"_id": claim_id, "until": {"$lt": now}},
                                {"$set": {"holder": holder, "until": now + CLAIM_HOLD}}, upsert=True)
        return True
    except DuplicateKeyError:
        return False


@asynccontextmanager
async def claimed(claims: AsyncCollection, claim_id: str, wait_s: float = 0.0) -> AsyncIterator[bool]:
    """One writer at a time for `claim_id` across every process sharing the database: yields True to the holder,
    False to whoever found it held for `wait_s` seconds. Released on exit; a crashed holder's claim lapses after
    CLAIM_HOLD."""
    holder = uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait_s
    mine = await try_claim(claims, claim_id, holder)
    while not mine and loop.time() < give_up:
        await asyncio.sleep(CLAIM_RETRY_S)
        mine = await try_claim(claims, claim_id, holder)
    try:
        yield mine
    finally:
        if mine:
            await claims.delete_one({"_id": claim_id, "holder": holder})
