"""apply_once on the real Mongo-wire server: a record folds in once, however often it is delivered."""

import uuid

import pytest
from pymongo import AsyncMongoClient, MongoClient

from creditflow.runtime.kafka import Delivery
from creditflow.runtime.mongo import ConcurrentUpdate, apply_once

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


async def test_redelivered_record_changes_nothing(collection):
    first = Delivery("creditflow.learner.credentials", 0, 7)
    assert await apply_once(collection, "doc", first, add(5)) is True
    assert await apply_once(collection, "doc", first, add(5)) is False
    assert (await collection.find_one({"_id": "doc"}))["total"] == 5


async def test_later_records_apply_and_each_partition_keeps_its_own_watermark(collection):
    await apply_once(collection, "doc", Delivery("a.topic", 0, 7), add(1))
    await apply_once(collection, "doc", Delivery("a.topic", 0, 8), add(10))
    await apply_once(collection, "doc", Delivery("b.topic", 0, 3), add(100))  # another topic, lower offset: applies
    assert await apply_once(collection, "doc", Delivery("a.topic", 0, 7), add(1000)) is False
    document = await collection.find_one({"_id": "doc"})
    assert document["total"] == 111
    assert document["_applied"] == {"a~topic:0": 8, "b~topic:0": 3}


async def test_a_write_that_lost_a_race_is_detected_not_silently_merged(servers, collection):
    await apply_once(collection, "doc", Delivery("t", 0, 1), add(1))
    other_writer = MongoClient(servers.mongodb_url)[collection.database.name][collection.name]

    def fold_while_another_writer_commits(current):
        other_writer.update_one({"_id": "doc"}, {"$set": {"total": 50}, "$inc": {"_rev": 1}})
        return {"total": current["total"] + 1}

    with pytest.raises(ConcurrentUpdate):
        await apply_once(collection, "doc", Delivery("t", 0, 2), fold_while_another_writer_commits)
    assert (await collection.find_one({"_id": "doc"}))["total"] == 50
    other_writer.database.client.close()
