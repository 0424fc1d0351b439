"""End to end for the issuer: direct publication through the verification gate, bulk issuing from a file with the
`creditflow` CLI, and a revocation seen by the learner record and by verification over HTTP."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from e2e_driver import achievement_body
from kafka_waits import written

from creditflow.credentials import jose, keys
from creditflow.events import (
    DEAD_LETTER_TOPIC,
    Achievement,
    CredentialAwarded,
    CredentialAwardedData,
    encode,
)
from creditflow.events.topics import INBOUND_CREDENTIALS

pytestmark = pytest.mark.e2e


def self_signed_award(issuer_url, institution_id, learner, private_key, key_id, credential_id):
    issuer_id = f"{issuer_url}/institutions/{institution_id}"
    now = datetime.now(UTC)
    vc = {
        "@context": ["https://www.w3.org/ns/credentials/v2",
                     "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer_id, "type": ["Profile"], "name": "University of Tartu"},
        "validFrom": now.isoformat(),
        "credentialSubject": {"id": learner, "type": ["AchievementSubject"],
                              "achievement": {"name": "Introduction to machine learning"}},
    }
    return CredentialAwarded(
        producer=institution_id,
        learner_id=learner,
        data=CredentialAwardedData(
            credential_id=credential_id,
            institution_id=institution_id,
            achievement=Achievement.model_validate(achievement_body(institution_id)),
            awarded_at=now,
            credential=jose.envelope(jose.sign(vc, private_key, f"{issuer_id}#{key_id}")),
        ),
    )


async def test_a_forged_direct_publication_is_dead_lettered_and_a_genuine_one_is_projected(driver, running_stack):
    institution_id, headers = await driver.institution()
    own_key = keys.generate()
    registered = await driver.issuer.post(f"/institutions/{institution_id}/keys", headers=headers,
                                          json={"public_key_multibase": keys.to_multibase(own_key.public_key())})
    assert registered.status_code == 200, registered.text
    key_id = registered.json()["public_keys"][-1]["key_id"]
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    url = running_stack.urls["issuer"]
    # The forger knows the institution's key id but not its private key.
    forged = self_signed_award(url, institution_id, learner, keys.generate(), key_id, "urn:uuid:forged")
    genuine = self_signed_award(url, institution_id, learner, own_key, key_id, "urn:uuid:genuine")

    producer = AIOKafkaProducer(bootstrap_servers=running_stack.servers.kafka_bootstrap)
    await producer.start()
    for event in (forged, genuine):  # same key, same partition: the genuine one is handled after the forged one
        await producer.send_and_wait(INBOUND_CREDENTIALS.name, encode(event), key=learner.encode())
    await producer.stop()

    record = await driver.record(learner, driver.registrar(institution_id), until=lambda r: r["achievements"])
    assert [a["credential_id"] for a in record["achievements"]] == ["urn:uuid:genuine"]
    # The issuer handled the forged record before the genuine one, so its dead letter is on the topic already.
    [letter] = await written(running_stack.servers.kafka_bootstrap, DEAD_LETTER_TOPIC, learner)
    reason = dict(letter.headers)["dlq.reason"].decode()
    assert reason.startswith("credential refused: signature does not verify")
    assert json.loads(letter.value)["data"]["credential_id"] == "urn:uuid:forged"


async def test_bulk_issue_from_csv_reports_bad_lines_and_never_issues_twice(driver, tmp_path):
    institution_id, headers = await driver.institution()
    token = headers["Authorization"].removeprefix("Bearer ")
    learners = [f"learner-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    csv_file = tmp_path / "awards.csv"
    csv_file.write_text(
        "learner_id,achievement_id,grade\n"
        f"{learners[0]},ach-ml-intro,A\n"
        f"{learners[1]},no-such-achievement,B\n"
        f"{learners[2]},ach-ml-intro,\n"
    )
    url = driver.stack.urls["issuer"]

    first = driver.cli("issue", "--file", str(csv_file), "--url", url, "--token", token)
    again = driver.cli("issue", "--file", str(csv_file), "--url", url, "--token", token)

    assert "2 issued, 0 already issued, 1 refused" in first.stdout
    assert "line 3: refused: achievement_id: no-such-achievement is not an achievement" in first.stderr
    assert "issuing awards.csv" in first.stderr and "3/3" in first.stderr  # the progress bar
    assert "0 issued, 2 already issued, 1 refused" in again.stdout
    registrar = driver.registrar(institution_id)
    for learner in (learners[0], learners[2]):
        record = await driver.record(learner, registrar, until=lambda r: r["achievements"])
        assert len(record["achievements"]) == 1


async def test_a_revocation_reaches_the_record_and_verification_over_http_says_revoked(driver):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    institution_id, headers = await driver.institution()
    issued = await driver.award(headers, learner)
    before = await driver.issuer.post("/verify", json={"credential": issued["credential"]})
    assert before.json() == {"status": "valid", "reasons": []}

    revoked = await driver.issuer.post(f"/credentials/{issued['credential_id']}/revoke", headers=headers,
                                       json={"reason": "assessment found to be compromised"})
    assert revoked.status_code == 200

    after = await driver.issuer.post("/verify", json={"credential": issued["credential"]})
    assert after.json()["status"] == "revoked"
    record = await driver.record(learner, driver.registrar(institution_id),
                                 until=lambda r: r["achievements"] and r["achievements"][0]["status"] == "revoked")
    assert record["achievements"][0]["revocation"]["reason"] == "assessment found to be compromised"
