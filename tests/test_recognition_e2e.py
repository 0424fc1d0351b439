"""End to end for recognition, every service running as a process on the real broker and FerretDB: an institution
publishes its programme and policy, a learner asks for recognition, the decision shows in the learner's record; a
referred case is decided by a registrar over HTTP, appealed by the learner and reviewed; a revocation at the issuer
invalidates a decision."""

import uuid
from datetime import date

import pytest
from e2e_driver import ACCREDITED, eventually
from kafka_waits import written

from creditflow.events import (
    Actor,
    CreditValue,
    LearningOutcome,
    Level,
    Module,
    ProgrammePublished,
    ProgrammePublishedData,
    RecognitionAppealed,
    RecognitionAppealedData,
    RecognitionDecided,
    RecognitionPolicyPublished,
    RecognitionPolicyPublishedData,
    RecognitionRequested,
    RecognitionRequestedData,
    decode,
)
from creditflow.events.topics import RECOGNITIONS

pytestmark = pytest.mark.e2e
async def receiving_institution(driver):
    """An institution with a programme (one machine-learning module) and a policy, known to recognition."""
    institution_id, _ = await driver.institution(quality_assurance=ACCREDITED)
    programme = ProgrammePublishedData(
        programme_id=f"msc-{uuid.uuid4().hex[:6]}", institution_id=institution_id, version=1,
        effective_from=date(2025, 1, 1), title="MSc Data Science", total_credits=CreditValue(value=120,
                                                                                            framework="ects"),
        modules=[Module(module_id="mod-ml", title="Machine learning", credits=CreditValue(value=6, framework="ects"),
                        level=Level(eqf=6), learning_outcomes=[LearningOutcome(
                            statement="Train and evaluate a classifier")])])
    policy = RecognitionPolicyPublishedData(institution_id=institution_id, version=1,
                                            effective_from=date(2025, 1, 1), accepted_qa_bodies=["EKKA"])
    await driver.publish(ProgrammePublished(producer=institution_id, data=programme),
                         RecognitionPolicyPublished(producer=institution_id, data=policy))
    registrar = driver.registrar(institution_id)

    async def known():
        rules = (await driver.recognition.get("/rules", headers=registrar)).json()
        return rules["policy"] and programme.programme_id in rules["programmes"]

    await eventually(known, "recognition to receive the programme and the policy")
    return institution_id, programme.programme_id, registrar


def ask(learner, institution_id, programme_id, credential_id):
    return RecognitionRequested(producer=institution_id, learner_id=learner, data=RecognitionRequestedData(
        case_id=f"case-{uuid.uuid4().hex[:8]}", institution_id=institution_id, programme_id=programme_id,
        module_ids=["mod-ml"], credential_ids=[credential_id]))


async def test_a_request_is_decided_automatically_and_a_revocation_invalidates_it(driver):
    receiver, programme_id, _ = await receiving_institution(driver)
    source, source_headers = await driver.institution(quality_assurance=ACCREDITED)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    credential = await driver.award(source_headers, learner)
    asked = ask(learner, receiver, programme_id, credential["credential_id"])
    await driver.publish(asked)

    records = driver.registrar(receiver)
    # The decision and the credential travel on different topics: the record may show either first.
    record = await driver.record(learner, records, until=lambda r: r["recognitions"] and r["achievements"])
    [decision] = record["recognitions"]
    assert decision["outcome"] == "granted" and decision["decided_by"] == "automatic"
    assert decision["recognised"][0]["module_id"] == "mod-ml"
    # The receiving registrar sees the credential offered to it, though it is another institution's.
    assert [a["credential_id"] for a in record["achievements"]] == [credential["credential_id"]]

    revoked = await driver.issuer.post(f"/credentials/{credential['credential_id']}/revoke", headers=source_headers,
                                       json={"reason": "awarded in error"})
    assert revoked.status_code == 200
    record = await driver.record(learner, records,
                                 until=lambda r: r["recognitions"][0]["outcome"] == "invalidated")
    assert "awarded in error" in record["recognitions"][0]["reasons"][0]


async def test_a_referred_case_is_decided_by_a_registrar_appealed_and_reviewed_and_shows_in_the_record(driver):
    receiver, programme_id, registrar = await receiving_institution(driver)
    unaccredited, headers = await driver.institution()
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    credential = await driver.award(headers, learner)
    asked = ask(learner, receiver, programme_id, credential["credential_id"])
    await driver.publish(asked)
    case = f"/cases/{asked.data.case_id}"

    async def queued(status):
        queue = (await driver.recognition.get("/cases", headers=registrar)).json()
        return [c for c in queue if c["case_id"] == asked.data.case_id and c["status"] == status]

    [item] = await eventually(lambda: queued("awaiting-registrar"), "the case in the registrar's queue")
    assert item["latest_outcome"] == "referred" and item["decision_due"]
    denied = await driver.recognition.post(f"{case}/decisions", headers=registrar, json={
        "registrar": "Mari Maasikas", "outcome": "denied",
        "reasons": ["quality assurance of the provider could not be established"]})
    assert denied.status_code == 201, denied.text
    records = driver.registrar(receiver)
    await driver.record(learner, records, until=lambda r: r["recognitions"] and r["recognitions"][0][
        "outcome"] == "denied")

    # The learner appeals once, through the receiving institution (the sender of the appeal on its inbound topic);
    # the case returns to the queue and a review board grants it.
    appeal = RecognitionAppealed(producer=receiver, learner_id=learner, data=RecognitionAppealedData(
        case_id=asked.data.case_id, institution_id=receiver, decision_id=denied.json()["decision_id"],
        grounds="The provider is accredited by a foreign agency; the certificate is attached."))
    await driver.publish(appeal)
    [item] = await eventually(lambda: queued("appealed"), "the appealed case back in the queue")
    assert item["latest_outcome"] == "denied"
    reviewed = await driver.recognition.post(f"{case}/decisions", headers=registrar, json={
        "registrar": "Review board", "outcome": "granted", "recognised": [{"module_id": "mod-ml"}],
        "reasons": ["the foreign agency is registered in EQAR, checked by hand"]})
    assert reviewed.status_code == 201, reviewed.text
    assert reviewed.json()["stage"] == "review" and reviewed.json()["supersedes"] == denied.json()["decision_id"]
    record = await driver.record(learner, records,
                                 until=lambda r: r["recognitions"] and r["recognitions"][0]["outcome"] == "granted")
    assert record["recognitions"][0]["decided_by"] == f"registrar Review board ({receiver})"
    # Each decision made over HTTP names, in its envelope, the person and institution of the token (0002).
    decisions = [e for e in map(decode, [r.value for r in await written(driver.stack.servers.admin,
                                                                         RECOGNITIONS.name, learner)])
                 if isinstance(e, RecognitionDecided)]
    assert [(d.data.decided_by, d.actor) for d in decisions] == [
        ("automatic", None), *[(by, Actor(person="mari.maasikas@ut.ee", institution_id=receiver, roles=["registrar"]))
                               for by in (f"registrar Mari Maasikas ({receiver})", f"registrar Review board ({receiver})")]]
