"""End to end: an award travels issuer -> Kafka -> learner-record -> MongoDB -> HTTP, through public interfaces only,
on the real broker and FerretDB, with the services running as processes."""

import asyncio
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from creditflow.events import DEAD_LETTER_TOPIC
from creditflow.events.topics import CREDENTIALS

pytestmark = pytest.mark.e2e

ACHIEVEMENT = {
    "achievement_id": "ach-ml-intro",
    "institution_id": "uni-tartu",
    "title": "Introduction to machine learning",
    "learning_outcomes": [{"statement": "Train and evaluate a classifier"}],
    "workload_hours": 150,
    "credits": {"value": 6, "framework": "ects"},
    "level": {"eqf": 6},
    "assessment_type": "project",
    "participation_form": "online",
    "quality_assurance_type": "external accreditation",
}


async def record_of(client: httpx.AsyncClient, learner_id: str, until, timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(f"/learners/{learner_id}/record")
        if response.status_code == 200 and until(response.json()):
            return response.json()
        if time.monotonic() > deadline:
            pytest.fail(f"record of {learner_id} not as expected: {response.status_code} {response.text}")
        await asyncio.sleep(0.1)


async def test_an_award_posted_to_the_issuer_shows_in_the_learner_record(running_stack):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    async with (
        httpx.AsyncClient(base_url=running_stack.urls["issuer"]) as issuer,
        httpx.AsyncClient(base_url=running_stack.urls["learner-record"]) as records,
    ):
        assert (await records.get(f"/learners/{learner}/record")).status_code == 404
        posted = await issuer.post("/awards", json={"learner_id": learner, "achievement": ACHIEVEMENT})
        assert posted.status_code == 202, posted.text
        credential_id = posted.json()["credential_id"]

        record = await record_of(records, learner, until=lambda r: r["achievements"])
    [entry] = record["achievements"]
    assert entry["credential_id"] == credential_id
    assert (entry["title"], entry["status"], entry["credits"]) == (
        "Introduction to machine learning", "valid", {"value": 6.0, "framework": "ects"})


async def test_a_malformed_event_is_dead_lettered_and_the_next_award_still_lands(running_stack):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    bootstrap = running_stack.servers.kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    await producer.send_and_wait(
        CREDENTIALS.name,
        b'{"event_type": "creditflow.issuer.credential.awarded.v1", "learner_id": "' + learner.encode() + b'"}',
        key=learner.encode(),
    )
    await producer.stop()

    async with (
        httpx.AsyncClient(base_url=running_stack.urls["issuer"]) as issuer,
        httpx.AsyncClient(base_url=running_stack.urls["learner-record"]) as records,
    ):
        posted = await issuer.post("/awards", json={"learner_id": learner, "achievement": ACHIEVEMENT})
        assert posted.status_code == 202
        await record_of(records, learner, until=lambda r: len(r["achievements"]) == 1)

    # Every consumer of the topic dead-letters the record independently; learner-record's letter is the one checked.
    group = running_stack.servers.settings("learner-record").group_id
    consumer = AIOKafkaConsumer(DEAD_LETTER_TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    letter = None
    try:
        async with asyncio.timeout(15):
            while letter is None:
                batch = await consumer.getmany(timeout_ms=500)
                letter = next(
                    (r for rs in batch.values() for r in rs
                     if r.key == learner.encode() and dict(r.headers)["dlq.consumer.group"] == group.encode()),
                    None,
                )
    finally:
        await consumer.stop()
    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["dlq.source.topic"] == CREDENTIALS.name
    assert "data: Field required" in headers["dlq.reason"] and "producer: Field required" in headers["dlq.reason"]


async def test_malformed_http_request_gets_a_problem_naming_the_field(running_stack):
    async with httpx.AsyncClient(base_url=running_stack.urls["issuer"]) as issuer:
        response = await issuer.post("/awards", json={"learner_id": "x", "achievement": {**ACHIEVEMENT, "title": ""}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "achievement.title"
