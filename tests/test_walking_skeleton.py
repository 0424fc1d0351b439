"""End to end: an award travels issuer -> Kafka -> learner-record -> MongoDB -> HTTP, through public interfaces only,
on the real broker and FerretDB, with the services running as processes."""

import uuid

import pytest
from kafka_helpers import send

from creditflow.events.permissions import writer_of
from kafka_waits import dead_letter

from creditflow.events.topics import CREDENTIALS

pytestmark = pytest.mark.e2e


async def test_an_award_posted_to_the_issuer_shows_in_the_learner_record(driver):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    institution_id, headers = await driver.institution()
    registrar = driver.registrar(institution_id)
    assert (await driver.records.get(f"/learners/{learner}/record", headers=registrar)).status_code == 404

    issued = await driver.award(headers, learner)

    record = await driver.record(learner, registrar, until=lambda r: r["achievements"])
    [entry] = record["achievements"]
    assert entry["credential_id"] == issued["credential_id"]
    assert (entry["title"], entry["status"], entry["credits"]) == (
        "Introduction to machine learning", "valid", {"value": 6.0, "framework": "ects"})


async def test_a_malformed_event_is_dead_lettered_and_the_next_award_still_lands(driver, running_stack):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    institution_id, headers = await driver.institution()
    # Written as the topic's one writer (the issuer's principal): the test is about its consumers.
    await send(running_stack.servers.login(writer_of(CREDENTIALS.name)), CREDENTIALS.name, [(
        learner.encode(),
        b'{"event_type": "creditflow.issuer.credential.awarded.v1", "learner_id": "' + learner.encode() + b'"}')])

    await driver.award(headers, learner)
    await driver.record(learner, driver.registrar(institution_id), until=lambda r: len(r["achievements"]) == 1)

    # Every consumer of the topic dead-letters the record on its own; learner-record's letter is the one checked.
    group = running_stack.servers.settings("learner-record").group_id
    letter = await dead_letter(running_stack.servers.admin, learner, group)
    headers_ = {k: v.decode() for k, v in letter.headers}
    assert headers_["dlq.source.topic"] == CREDENTIALS.name
    assert "data: Field required" in headers_["dlq.reason"] and "producer: Field required" in headers_["dlq.reason"]


async def test_malformed_http_request_gets_a_problem_naming_the_field(driver):
    _, headers = await driver.institution()
    response = await driver.issuer.post("/awards", headers=headers, json={"learner_id": "x", "achievement_id": ""})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"request_id", "achievement_id"}
