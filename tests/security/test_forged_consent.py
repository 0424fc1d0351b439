"""Attacks on consent (issue #14, item 3): consent opens a learner's whole record to another institution, so a forged
one is a read of anyone's record. Consent is recorded only over HTTP by a registrar acting for the learner
(POST /learners/{learner_id}/consents), and learner-record, the consent topic's only writer, publishes it naming that
registrar and the evidence given. Any other principal writing the topic is refused by the broker; a consent on the
topic without an actor or evidence (as a compromised or buggy learner-record would write it) is dead-lettered by
learner-record with the reason and opens nothing."""

import uuid

import pytest
from aiokafka.errors import TopicAuthorizationFailedError
from e2e_driver import eventually
from kafka_helpers import institution_login, publish_as_owner, send
from kafka_waits import dead_letter, written

from creditflow.events import Actor, LearnerConsentData, LearnerConsentGranted, decode, encode
from creditflow.events.topics import CONSENTS

pytestmark = pytest.mark.e2e


async def learner_of(driver) -> tuple[str, str]:
    """(institution, learner): a learner holding one credential of a new institution, in learner-record."""
    institution_id, headers = await driver.institution()
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    await driver.award(headers, learner)
    await driver.record(learner, driver.registrar(institution_id), until=lambda r: r["achievements"])
    return institution_id, learner


def forged_consent(learner: str, reader: str, actor: Actor | None, evidence: str | None) -> LearnerConsentGranted:
    return LearnerConsentGranted(producer="learner-record", learner_id=learner, actor=actor,
                                 data=LearnerConsentData(institution_id=reader, evidence=evidence))


@pytest.mark.parametrize("writer", ["svc-issuer", "svc-recognition", "svc-stacking", "institution"])
async def test_a_forged_consent_written_by_any_principal_but_learner_record_is_refused_by_the_broker(driver, writer):
    learner, reader = f"learner-{uuid.uuid4().hex[:8]}", f"uni-{uuid.uuid4().hex[:8]}"
    login = (await institution_login(driver.stack.servers, reader) if writer == "institution"
             else driver.stack.servers.login(writer))
    forged = forged_consent(learner, reader, Actor(person="mallory", institution_id=reader, roles=["registrar"]),
                            "made up")
    with pytest.raises(TopicAuthorizationFailedError):
        await send(login, CONSENTS.name, [(learner.encode(), encode(forged))])
    assert await written(driver.stack.servers.admin, CONSENTS.name, learner) == []


@pytest.mark.parametrize(("attack", "actor", "evidence", "reason"), [
    ("no actor", None, "signed form",
     "consent names no actor: consent is recorded by a registrar over HTTP, which names them"),
    ("the operator as actor", Actor(person="ops@example.org", institution_id=None, roles=["operator"]), "form",
     "consent actor ops@example.org is not a registrar of an institution"),
    ("no evidence", Actor(person="mallory@evil.example", institution_id="uni-evil", roles=["registrar"]), None,
     "consent carries no evidence: data.evidence is required"),
])
async def test_a_consent_without_a_registrar_or_evidence_on_the_consent_topic_is_dead_lettered_and_opens_nothing(
        driver, attack, actor, evidence, reason):
    _, learner = await learner_of(driver)
    reader = f"uni-{uuid.uuid4().hex[:8]}"
    # Written with learner-record's own principal, the topic's one writer: only learner-record's checks stand between
    # this record and the learner's whole record.
    await publish_as_owner(driver.stack.servers, forged_consent(learner, reader, actor, evidence))

    servers = driver.stack.servers
    # Both consumers that act on consent refuse it: learner-record (the record) and stacking (who sees progress).
    for service in ("learner-record", "stacking"):
        letter = await dead_letter(servers.admin, learner, servers.settings(service).group_id)
        assert dict(letter.headers)["dlq.reason"].decode() == reason, (attack, service)
    # learner-record's letter is written after the batch it came in was folded: the refused consent was not.
    assert (await driver.records.get(f"/learners/{learner}/record", headers=driver.registrar(reader))).status_code == 404


async def test_a_genuine_consent_recorded_over_http_opens_the_record_to_the_other_institution_until_revoked(driver):
    """The path the attacks above must not break: registrars record consent and its withdrawal for the learner."""
    home, learner = await learner_of(driver)
    reader = f"uni-{uuid.uuid4().hex[:8]}"
    assert (await driver.records.get(f"/learners/{learner}/record", headers=driver.registrar(reader))).status_code == 404

    granted = await driver.records.post(f"/learners/{learner}/consents", headers=driver.registrar(home),
                                        json={"institution_id": reader, "evidence": "signed form 2026-11-30, ref 4411"})
    assert granted.status_code == 201, granted.text
    [published] = await written(driver.stack.servers.admin, CONSENTS.name, learner)
    event = decode(published.value)
    assert event.actor == Actor(person="mari.maasikas@ut.ee", institution_id=home, roles=["registrar"])
    assert (event.data.institution_id, event.data.evidence) == (reader, "signed form 2026-11-30, ref 4411")

    async def readable() -> bool:
        response = await driver.records.get(f"/learners/{learner}/record", headers=driver.registrar(reader))
        return response.status_code == 200 and response.json()["partial"] is False
    await eventually(readable, "the consenting learner's record to open to the other institution")

    revoked = await driver.records.post(f"/learners/{learner}/consents/{reader}/revoke",
                                        headers=driver.registrar(reader), json={"evidence": "withdrawn by e-mail"})
    assert revoked.status_code == 200, revoked.text

    async def closed() -> bool:
        response = await driver.records.get(f"/learners/{learner}/record", headers=driver.registrar(reader))
        return response.status_code == 404
    await eventually(closed, "the record to close once consent is revoked")
