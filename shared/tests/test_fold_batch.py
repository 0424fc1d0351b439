"""fold_batch on the real Mongo-wire server: a batch of any size is written, unchanged documents are not, and two
writers in two processes folding the same documents both land."""

import subprocess
import sys
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


# One writer process: `rounds` batches, each adding an event of its own to every document, as fast as it can. Folds
# given to fold_batch are idempotent (a fold retried after a write it wrongly thought lost adds nothing twice); a
# batch that lost the race too often is redelivered, as the consumer does. It waits for a go file so that both
# writers start together and their reads and writes interleave.
WRITER = """
import asyncio, os, sys, time
from pymongo import AsyncMongoClient
from creditflow.runtime.mongo import ConcurrentUpdate, fold_batch

url, database, name, writer, rounds, go = sys.argv[1:]

def adding(event):
    return lambda current: {"events": sorted({*(current or {}).get("events", []), event})}

async def main():
    client = AsyncMongoClient(url)
    collection = client[database][name]
    while not os.path.exists(go):
        time.sleep(0.01)
    for n in range(int(rounds)):
        fold = adding(f"{writer}-{n}")
        while True:
            try:
                await fold_batch(collection, {f"doc-{d}": fold for d in range(60)})
                break
            except ConcurrentUpdate:
                pass
    await client.close()

asyncio.run(main())
"""


async def test_two_writer_processes_folding_the_same_documents_at_once_both_land(servers, collection, tmp_path):
    # A replay and the live consumer, say: neither may overwrite the other's fold. Two processes, so nothing in
    # either serialises them: only the revision guard on the server, and the refold of the documents lost to it.
    await fold_batch(collection, {f"doc-{n}": lambda _: {"events": ["first"]} for n in range(60)})
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, servers.mongodb_url, collection.database.name,
                                 collection.name, writer, "6", str(go)]) for writer in ("replay", "live")]
    go.touch()
    assert [w.wait(timeout=180) for w in writers] == [0, 0]
    everything = sorted(["first", *[f"{w}-{n}" for w in ("replay", "live") for n in range(6)]])
    assert [d["events"] async for d in collection.find({})] == [everything] * 60
