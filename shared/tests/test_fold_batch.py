"""fold_batch on the real Mongo-wire server: a batch of any size is written, unchanged documents are not, and two
writers folding the same documents both land."""

import asyncio
import uuid

import pytest
from pymongo import AsyncMongoClient

from creditflow.runtime.mongo import fold_batch

pytestmark = pytest.mark.integration


@pytest.fixture
async def collection(servers):
    client = AsyncMongoClient(servers.mongodb_url)
    db = client[f"t{servers.run_id}_plumbing"]
    yield db[f"c{uuid.uuid4().hex[:8]}"]
    await client.close()


def add(amount):
    def fold(current):
        return {"total": (current or {}).get("total", 0) + amount}

    return fold


async def test_a_batch_touching_hundreds_of_documents_is_written_and_the_server_keeps_answering(collection):
    # One bulk write of 250 statements: unpatched FerretDB hung on 100 or more in one command.
    ids = [f"learner-{n:03d}" for n in range(250)]
    assert await fold_batch(collection, {doc_id: add(1) for doc_id in ids}) == 250
    assert await fold_batch(collection, {doc_id: add(1) for doc_id in ids}) == 250  # 250 replaces of existing docs
    totals = {d["_id"]: d["total"] async for d in collection.find({})}
    assert totals == {doc_id: 2 for doc_id in ids}


async def test_fold_batch_skips_documents_the_fold_leaves_unchanged(collection):
    await fold_batch(collection, {"a": add(1), "b": add(1)})
    assert await fold_batch(collection, {"a": add(0), "b": add(5)}) == 1


async def test_two_writers_folding_the_same_documents_at_once_both_land(collection):
    ids = [f"doc-{n}" for n in range(60)]
    await fold_batch(collection, {doc_id: add(0.5) for doc_id in ids})
    # A replay and the live consumer, say: neither may overwrite the other's fold.
    await asyncio.gather(fold_batch(collection, {d: add(1) for d in ids}), fold_batch(collection, {d: add(10) for d in ids}))
    assert {d["total"] async for d in collection.find({})} == {11.5}
