"""The guarantees creditflow's writes rely on, asserted against whatever Mongo-wire server CREDITFLOW_MONGODB_URL
names (the patched embedded FerretDB in `make test`; MongoDB anywhere else). docs/architecture.md says which write
relies on which guarantee. Races use two clients with connections of their own, as two service processes would."""

import asyncio
import re
import uuid
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError, OperationFailure

from creditflow.runtime.mongo import try_claim

pytestmark = pytest.mark.integration

RACES = 200
INCREMENTS = 400
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def clients(servers):
    pair = [AsyncMongoClient(servers.mongodb_url), AsyncMongoClient(servers.mongodb_url)]
    yield pair
    for client in pair:
        await client.close()


@pytest.fixture
def collections(clients, servers):
    """The same new collection seen through each client."""
    database, name = f"t{servers.run_id}_conformance", f"c{uuid.uuid4().hex[:8]}"
    return [client[database][name] for client in clients]


async def guarded_update_one(collection, doc_id, revision, writer):
    change = {"$set": {"_rev": revision + 1, "by": writer}}
    return (await collection.update_one({"_id": doc_id, "_rev": revision}, change)).modified_count


async def guarded_replace_one(collection, doc_id, revision, writer):
    result = await collection.replace_one({"_id": doc_id, "_rev": revision}, {"_rev": revision + 1, "by": writer})
    return result.modified_count


async def guarded_find_one_and_update(collection, doc_id, revision, writer):
    change = {"$set": {"_rev": revision + 1, "by": writer}}
    return int(await collection.find_one_and_update({"_id": doc_id, "_rev": revision}, change) is not None)


@pytest.mark.parametrize("write", [guarded_update_one, guarded_replace_one, guarded_find_one_and_update])
async def test_of_two_writers_guarded_by_the_same_revision_exactly_one_wins(collections, write):
    # fold_batch's compare-and-set: a double winner is a lost update in a learner record or a case.
    first, second = collections
    await first.insert_many([{"_id": f"doc-{n}", "_rev": 0} for n in range(RACES)])
    outcomes = await asyncio.gather(
        *(asyncio.gather(write(first, f"doc-{n}", 0, "one"), write(second, f"doc-{n}", 0, "two")) for n in range(RACES))
    )
    assert [a + b for a, b in outcomes] == [1] * RACES
    winners = {doc["_id"]: doc["by"] async for doc in first.find({})}
    assert winners == {f"doc-{n}": "one" if a else "two" for n, (a, _) in enumerate(outcomes)}


async def test_concurrent_increments_are_all_counted(collections):
    first, second = collections
    await first.insert_one({"_id": "counter", "n": 0})
    await asyncio.gather(
        *((first, second)[i % 2].update_one({"_id": "counter"}, {"$inc": {"n": 1}}) for i in range(INCREMENTS))
    )
    assert (await first.find_one({"_id": "counter"}))["n"] == INCREMENTS


async def test_concurrent_add_to_set_keeps_every_member(collections):
    # recognition's waiting list: cases added by concurrent requests for one learner.
    first, second = collections
    clients = (first, second)
    await asyncio.gather(
        *(clients[i % 2].update_one({"_id": "learner"}, {"$addToSet": {"cases": i}}, upsert=True) for i in range(100))
    )
    assert sorted((await first.find_one({"_id": "learner"}))["cases"]) == list(range(100))


async def test_a_unique_key_admits_one_of_many_concurrent_inserts(collections):
    # the issuer's status-list entries and awards are claimed by inserting a unique key.
    first, second = collections

    async def insert(collection, document):
        try:
            await collection.insert_one(document)
            return True
        except DuplicateKeyError:
            return False

    same_id = await asyncio.gather(*(insert((first, second)[i % 2], {"_id": "claimed", "by": i}) for i in range(50)))
    assert sum(same_id) == 1

    await first.create_index("email", unique=True)
    same_key = await asyncio.gather(
        *(insert((first, second)[i % 2], {"_id": f"person-{i}", "email": "mari@ut.ee"}) for i in range(50))
    )
    assert sum(same_key) == 1
    assert await first.count_documents({"email": "mari@ut.ee"}) == 1


async def test_a_bulk_write_of_a_thousand_statements_is_applied_and_the_server_keeps_answering(collections):
    first, second = collections
    await first.insert_many([{"_id": f"doc-{n}", "n": 0} for n in range(1000)])
    updates = [UpdateOne({"_id": f"doc-{n}"}, {"$inc": {"n": 1}}) for n in range(1000)]
    result = await asyncio.wait_for(first.bulk_write(updates, ordered=False), timeout=60)
    assert result.modified_count == 1000
    assert await asyncio.wait_for(second.count_documents({"n": 1}), timeout=10) == 1000


async def test_lookups_by_id_in_and_indexed_field_return_exactly_the_matching_documents(collections):
    first, _ = collections
    await first.insert_many(
        [{"_id": f"doc-{n}", "_rev": n % 3, "group": f"g{n % 4}", "tags": [f"t{n % 5}", "all"]} for n in range(40)]
    )
    await first.create_index("group")
    await first.create_index("tags")

    async def ids(query):
        return sorted([doc["_id"] async for doc in first.find(query)], key=lambda i: int(i.split("-")[1]))

    assert await ids({"_id": "doc-7"}) == ["doc-7"]
    assert await ids({"_id": {"$eq": "doc-7"}}) == ["doc-7"]
    assert await ids({"_id": "doc-7", "_rev": 1}) == ["doc-7"]
    assert await ids({"_id": "doc-7", "_rev": 2}) == []
    assert await ids({"_id": "missing"}) == []
    assert await ids({"_id": {"$in": ["doc-3", "missing", "doc-30", "doc-3"]}}) == ["doc-3", "doc-30"]
    assert await ids({"_id": {"$in": ["doc-3", "doc-4", "doc-5"]}, "_rev": 0}) == ["doc-3"]
    assert await ids({"_id": {"$in": []}}) == []
    assert await ids({"group": "g1"}) == [f"doc-{n}" for n in range(40) if n % 4 == 1]
    assert await ids({"tags": "t2"}) == [f"doc-{n}" for n in range(40) if n % 5 == 2]  # array members match too
    both = [f"doc-{n}" for n in range(40) if (n % 4, n % 5) == (1, 2)]
    assert await ids({"group": "g1", "tags": "t2"}) == both
    query, change = {"_id": {"$in": ["doc-8", "doc-9"]}, "group": "g1"}, {"$set": {"seen": True}}
    updated = await first.find_one_and_update(query, change, return_document=ReturnDocument.AFTER)
    assert updated["_id"] == "doc-9" and updated["seen"] is True
    assert (await first.delete_many({"_id": {"$in": ["doc-1", "doc-2"]}, "_rev": 1})).deleted_count == 1


TRANSACTION_CALLS = re.compile(r"\b(start_transaction|with_transaction|startTransaction)\b")


def test_no_service_depends_on_transactions():
    # The embedded server has none (FerretDB refuses them), so a write that needs one would be wrong here: every
    # write that must be atomic is a single-document operation or a unique-key insert.
    sources = [*REPO.glob("shared/src/**/*.py"), *REPO.glob("services/*/src/**/*.py")]
    assert sources
    assert [str(path) for path in sources if TRANSACTION_CALLS.search(path.read_text())] == []


async def test_the_embedded_server_refuses_transactions(clients, collections):
    client, _ = clients
    info = await client.admin.command("buildInfo")
    if "ferretdbVersion" not in info:
        pytest.skip(f"{info.get('version')} is not FerretDB; creditflow uses no transactions on any server")
    first, _ = collections
    with pytest.raises(OperationFailure):
        async with client.start_session() as session:
            await session.start_transaction()
            await first.insert_one({"_id": "in-a-transaction"}, session=session)
            await session.commit_transaction()


async def test_a_claim_has_one_holder_among_concurrent_claimants_until_released(collections):
    # creditflow.runtime.mongo.claimed: a guarded upsert that inserts the claim's _id again while it is held, and
    # fails as a duplicate. Two clients, many claimants each, several rounds.
    for round_ in range(20):
        claim_id = f"claim-{round_}"
        won = await asyncio.gather(*(try_claim(collections[n % 2], claim_id, f"holder-{n}") for n in range(10)))
        assert sum(won) == 1, round_
        holder = f"holder-{won.index(True)}"
        await collections[0].delete_one({"_id": claim_id, "holder": holder})
        assert await try_claim(collections[1], claim_id, "after-release")
