"""MongoDB access that works on FerretDB too: one document per aggregate, every write a single-document update.

FerretDB (and so this project) has no multi-document transactions, change streams, arrayFilters or TTL indexes and
uses only the _id index, so state that must change atomically lives in one document, read and written by _id.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from .settings import Settings

Document = dict[str, Any]
REVISION = "_rev"


def mongo_client(settings: Settings) -> AsyncMongoClient:
    return AsyncMongoClient(settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=10_000)


class ConcurrentUpdate(Exception):
    """Another writer kept winning the race for a document; the record is retried."""


MAX_FOLD_ATTEMPTS = 5
# FerretDB 1.24.2 (SQLite) stops answering when one update command carries 100 statements or more (99 pass; measured,
# see docs/architecture.md), and stays stuck for every client. Bulk writes are sent in commands of at most this many.
MAX_WRITES_PER_COMMAND = 50


# Which write put a document there: two writers that read the same revision both write revision + 1, so only a token
# unique to the write tells the loser that its replace did not land.
WRITER = "_writer"


def _state(document: Document | None) -> Document | None:
    return None if document is None else {k: v for k, v in document.items() if k not in ("_id", REVISION, WRITER)}


async def find_by_ids(collection: AsyncCollection, ids: list[str]) -> dict[str, Document]:
    """Documents by _id, one equality lookup each, run concurrently: FerretDB pushes `_id` equality down to its index
    but answers `$in` by scanning and decoding the whole collection."""
    found = await asyncio.gather(*(collection.find_one({"_id": doc_id}) for doc_id in ids))
    return {doc["_id"]: doc for doc in found if doc is not None}


class _DocumentLocks:
    """Serialises this process's writers per document. FerretDB 1.24.2 does not make a guarded write atomic against
    a concurrent one (two replaces guarded by the same revision both succeed there; measured in 198 of 200 races), so
    the revision guard protects across processes only on MongoDB; within a process these locks do, on both. A fixed
    set of stripes keeps memory bounded however many documents are touched."""

    STRIPES = 1024

    def __init__(self) -> None:
        self._stripes = [asyncio.Lock() for _ in range(self.STRIPES)]

    async def acquire(self, collection: AsyncCollection, ids: list[str]) -> list[asyncio.Lock]:
        # Distinct stripes, always taken in ascending order, so two batches can never wait on each other.
        numbers = sorted({zlib.crc32(f"{collection.full_name}\x1f{i}".encode()) % self.STRIPES for i in ids})
        for number in numbers:
            await self._stripes[number].acquire()
        return [self._stripes[n] for n in numbers]


_LOCKS = _DocumentLocks()


async def fold_batch(collection: AsyncCollection, folds: dict[str, Callable[[Document | None], Document]]) -> int:
    locks = await _LOCKS.acquire(collection, list(folds))
    try:
        return await _fold_batch(collection, folds)
    finally:
        for lock in locks:
            lock.release()


async def _fold_batch(collection: AsyncCollection, folds: dict[str, Callable[[Document | None], Document]]) -> int:
    """Fold a batch into its documents with one lookup per document and few bulk writes, however many events.

    `folds[doc_id]` maps a document's current state (None when there is none) to its new state, and must be
    idempotent and order-tolerant on its own: that is what makes redelivery, replay and two concurrent writers safe.
    Each document is written with a guard on the revision read; when another writer got there first, the losers
    are read and folded again. Unchanged documents are not written. Returns the number of documents written.
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
        lost: set[str] = set()
        for start in range(0, len(operations), MAX_WRITES_PER_COMMAND):
            chunk = operations[start : start + MAX_WRITES_PER_COMMAND]
            lost |= await _write_guarded(collection, chunk, token)
        written += len(operations) - len(lost)
        pending = {doc_id: pending[doc_id] for doc_id in lost}
        if not pending:
            return written
    raise ConcurrentUpdate(", ".join(sorted(pending)))


async def _write_guarded(collection: AsyncCollection, chunk: list[tuple[str, InsertOne | ReplaceOne]], token: str) -> set[str]:
    """Write one command's worth of guarded inserts and replaces; the ids another writer got to first."""
    try:
        result = await collection.bulk_write([operation for _, operation in chunk], ordered=False)
        applied = result.inserted_count + result.matched_count
    except BulkWriteError as exc:
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise
        applied = exc.details.get("nInserted", 0) + exc.details.get("nMatched", 0)
    if applied == len(chunk):
        return set()
    # Rare: someone else wrote some of these documents in between. Find which: theirs carry another writer token.
    stored = await find_by_ids(collection, [doc_id for doc_id, _ in chunk])
    return {doc_id for doc_id, _ in chunk if stored.get(doc_id, {}).get(WRITER) != token}
