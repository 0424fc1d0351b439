"""The document-carried outbox on the real broker and Mongo-wire server: pending events go out in the order they
were queued and leave the document once acknowledged; when the broker fails part way, what it acknowledged is gone
and the rest waits for the relay, so nothing is lost and nothing is published twice."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from contract_factories import awarded
from kafka_helpers import records
from kafka_waits import written

from creditflow.events import decode
from creditflow.events.topics import CREDENTIALS
from creditflow.runtime import outbox
from creditflow.runtime.kafka import make_broker
from creditflow.runtime.mongo import mongo_client

pytestmark = pytest.mark.integration
QUEUED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def collection(servers):
    settings = servers.settings("issuer", mongodb_database=f"t{servers.run_id}_outbox")
    client = mongo_client(settings)
    yield client[settings.mongodb_database][f"outbox{uuid.uuid4().hex[:8]}"]
    await client.close()


@pytest.fixture
async def broker(servers):
    broker = make_broker(servers.settings("issuer", mongodb_database=f"t{servers.run_id}_outbox"))
    await broker.start()
    yield broker
    await broker.stop()


async def queue(collection, learner_id: str, count: int) -> list:
    events = [awarded(learner_id=learner_id, credential_id=f"urn:uuid:{uuid.uuid4()}") for _ in range(count)]
    await collection.insert_one({"_id": learner_id, outbox.OUTBOX: outbox.entries(events, QUEUED_AT)})
    return events


async def published_ids(servers, learner_id: str, at_least: int) -> list[str]:
    found = await records(servers.admin, CREDENTIALS.name, learner_id, at_least=at_least)
    return [str(decode(r.value).event_id) for r in found]


async def test_flush_publishes_in_queue_order_and_empties_the_outbox(servers, collection, broker):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    events = await queue(collection, learner, 5)
    assert await outbox.flush(collection, learner, broker) == 5
    assert await published_ids(servers, learner, at_least=5) == [str(e.event_id) for e in events]
    assert (await collection.find_one({"_id": learner}))[outbox.OUTBOX] == {}


async def test_a_broker_failure_part_way_keeps_the_unpublished_events_for_the_relay(servers, collection, broker,
                                                                                    monkeypatch):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    first, second, third = await queue(collection, learner, 3)
    real_publish = outbox.publish

    async def fails_on_the_second(broker, event):
        if event.event_id == second.event_id:
            raise ConnectionError("broker went away")
        await real_publish(broker, event)

    monkeypatch.setattr(outbox, "publish", fails_on_the_second)
    with pytest.raises(ConnectionError):
        await outbox.flush(collection, learner, broker)
    left = (await collection.find_one({"_id": learner}))[outbox.OUTBOX]
    assert set(left) == {str(second.event_id), str(third.event_id)}

    monkeypatch.setattr(outbox, "publish", real_publish)
    assert await outbox.relay(collection, broker, QUEUED_AT + timedelta(seconds=1)) == 2
    assert await published_ids(servers, learner, at_least=3) == [str(e.event_id) for e in (first, second, third)]


async def test_relays_of_two_instances_running_at_once_publish_each_event_once(servers, collection, broker):
    # The second instance: its own connections to both servers, as another process has.
    settings = servers.settings("issuer", mongodb_database=f"t{servers.run_id}_outbox")
    other_client, other_broker = mongo_client(settings), make_broker(settings)
    await other_broker.start()
    try:
        other_collection = other_client[settings.mongodb_database][collection.name]
        learners = [f"learner-{uuid.uuid4().hex[:8]}" for _ in range(6)]
        queued = {learner: await queue(collection, learner, 3) for learner in learners}
        due = QUEUED_AT + timedelta(seconds=1)
        counts = await asyncio.gather(outbox.relay(collection, broker, due),
                                      outbox.relay(other_collection, other_broker, due))
        assert sum(counts) == 3 * len(learners)
        for learner, events in queued.items():
            published = [str(decode(r.value).event_id) for r in await written(servers.admin, CREDENTIALS.name,
                                                                              learner)]
            assert published == [str(e.event_id) for e in events]
    finally:
        await other_broker.stop()
        await other_client.close()


async def test_a_flush_waits_for_another_instances_flush_of_the_same_document_instead_of_publishing_twice(
        servers, collection, broker):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    events = await queue(collection, learner, 4)
    counts = await asyncio.gather(*(outbox.flush(collection, learner, broker) for _ in range(3)))
    assert sorted(counts) == [0, 0, 4]
    published = [str(decode(r.value).event_id) for r in await written(servers.admin, CREDENTIALS.name, learner)]
    assert published == [str(e.event_id) for e in events]
