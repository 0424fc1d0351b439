"""End to end for the issuer: direct publication (by an institution's own Kafka principal, on its inbound topic)
through the verification gate, bulk issuing from a file with the `creditflow` CLI, and a revocation seen by the
learner record and by verification over HTTP."""

import json
import subprocess
import sys
import uuid

import pytest
from e2e_driver import institution_with_own_key, self_signed_award
from kafka_helpers import publish_inbound, records
from kafka_waits import written

from creditflow.credentials import keys
from creditflow.events import DEAD_LETTER_TOPIC

pytestmark = pytest.mark.e2e


async def test_a_forged_direct_publication_is_dead_lettered_and_a_genuine_one_is_projected(driver, running_stack):
    institution_id, own_key, key_id = await institution_with_own_key(driver)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    url = running_stack.urls["issuer"]
    # The forger knows the institution's key id but not its private key.
    forged = self_signed_award(url, institution_id, learner, keys.generate(), key_id, "urn:uuid:forged")
    genuine = self_signed_award(url, institution_id, learner, own_key, key_id, "urn:uuid:genuine")

    # Same key, same partition: the genuine one is handled after the forged one.
    await publish_inbound(await driver.kafka_login(institution_id), institution_id, forged, genuine)

    record = await driver.record(learner, driver.registrar(institution_id), until=lambda r: r["achievements"])
    assert [a["credential_id"] for a in record["achievements"]] == ["urn:uuid:genuine"]
    # The issuer handled the forged record before the genuine one, so its dead letter is on the topic already.
    [letter] = await written(running_stack.servers.admin, DEAD_LETTER_TOPIC, learner)
    reason = dict(letter.headers)["dlq.reason"].decode()
    assert reason.startswith("credential refused: signature does not verify")
    assert json.loads(letter.value)["data"]["credential_id"] == "urn:uuid:forged"


async def test_one_award_from_the_command_line_is_issued_once(driver):
    _, headers = await driver.institution()
    learner, url = f"learner-{uuid.uuid4().hex[:8]}", driver.stack.urls["issuer"]
    token = headers["Authorization"].removeprefix("Bearer ")
    award = ("award", "--learner", learner, "--achievement", "ach-ml-intro", "--grade", "A", "--url", url)

    first = driver.cli(*award, "--token", token)
    again = driver.cli(*award, "--token", token)

    assert first.returncode == 0 and first.stdout.startswith("issued: "), first.stderr
    assert again.stdout == first.stdout.replace("issued", "duplicate")


async def test_an_award_claiming_another_institution_on_an_inbound_topic_is_dead_lettered(driver, running_stack):
    sender, sender_key, sender_key_id = await institution_with_own_key(driver)
    other, _ = await driver.institution()
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    url = running_stack.urls["issuer"]
    # The sender's principal may write only its own inbound topic; there it claims to speak for another institution.
    claimed = self_signed_award(url, other, learner, sender_key, sender_key_id, "urn:uuid:impostor")
    genuine = self_signed_award(url, sender, learner, sender_key, sender_key_id, "urn:uuid:own")
    await publish_inbound(await driver.kafka_login(sender), sender, claimed, genuine)

    record = await driver.record(learner, driver.registrar(sender), until=lambda r: r["achievements"])
    assert [a["credential_id"] for a in record["achievements"]] == ["urn:uuid:own"]
    [letter] = await records(running_stack.servers.admin, DEAD_LETTER_TOPIC, learner)
    assert dict(letter.headers)["dlq.reason"].decode() == (
        f"record claims institution {other} on the inbound topic of {sender}")


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

    first = driver.cli("award", "--file", str(csv_file), "--url", url, "--token", token)
    again = driver.cli("award", "--file", str(csv_file), "--url", url, "--token", token)

    assert "2 issued, 0 already issued, 1 refused" in first.stdout
    assert "line 3: refused: achievement_id: no-such-achievement is not an achievement" in first.stderr
    assert "issuing awards.csv" in first.stderr and "3/3" in first.stderr  # the progress bar
    assert "0 issued, 2 already issued, 1 refused" in again.stdout
    registrar = driver.registrar(institution_id)
    for learner in (learners[0], learners[2]):
        record = await driver.record(learner, registrar, until=lambda r: r["achievements"])
        assert len(record["achievements"]) == 1


async def test_a_revocation_reaches_the_record_and_verification_over_http_says_revoked(driver, tmp_path):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    institution_id, headers = await driver.institution()
    issued = await driver.award(headers, learner)
    before = await driver.issuer.post("/verify", json={"credential": issued["credential"]})
    assert before.json() == {"status": "valid", "reasons": [], "format": "data-integrity"}

    revoked = await driver.issuer.post(f"/credentials/{issued['credential_id']}/revoke", headers=headers,
                                       json={"reason": "assessment found to be compromised"})
    assert revoked.status_code == 200

    after = await driver.issuer.post("/verify", json={"credential": issued["credential"]})
    assert after.json()["status"] == "revoked"
    credential_file = tmp_path / "credential.json"
    credential_file.write_text(json.dumps(issued["credential"]))
    verified = driver.cli("verify", str(credential_file), "--url", driver.stack.urls["issuer"])
    assert verified.returncode == 1 and verified.stdout.startswith("revoked"), verified.stderr
    record = await driver.record(learner, driver.registrar(institution_id),
                                 until=lambda r: r["achievements"] and r["achievements"][0]["status"] == "revoked")
    assert record["achievements"][0]["revocation"]["reason"] == "assessment found to be compromised"


async def test_bulk_json_lines_survive_a_malformed_line_whatever_the_file_is_called(driver, tmp_path):
    """A JSON-lines file named .json is read as JSON lines (the format is chosen by content); a line that is not JSON
    is reported with its number and the other lines are still sent; the issuer is found from its own settings
    (CREDITFLOW_ISSUER_HTTP_PORT), without --url."""
    institution_id, headers = await driver.institution()
    learners = [f"learner-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    lines = tmp_path / "awards.json"
    lines.write_text(
        json.dumps({"learner_id": learners[0], "achievement_id": "ach-ml-intro", "grade": "A"}) + "\n"
        '{"learner_id": "learner-broken", "achievement_id": \n'
        "\n"
        '["not", "an", "object"]\n'
        + json.dumps({"learner_id": learners[1], "achievement_id": "ach-ml-intro"}) + "\n")
    env = {k: v for k, v in driver.stack.env["issuer"].items()
           if k not in ("CREDITFLOW_ISSUER_URL", "CREDITFLOW_ISSUER_PUBLIC_URL")}
    env["CREDITFLOW_TOKEN"] = headers["Authorization"].removeprefix("Bearer ")
    assert env["CREDITFLOW_ISSUER_HTTP_PORT"] != "8101"  # the test stack's issuer is elsewhere

    done = subprocess.run([sys.executable, "-m", "creditflow.cli", "award", "--file", str(lines)], env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "line 2: unreadable: not valid JSON (Expecting value at column 52)" in done.stderr
    assert "line 4: unreadable: not a JSON object (a list)" in done.stderr
    assert "2 issued, 0 already issued, 0 refused, 2 unreadable" in done.stdout
    registrar = driver.registrar(institution_id)
    for learner in learners:
        assert (await driver.record(learner, registrar, until=lambda r: r["achievements"]))["achievements"]
    # --format says what the content cannot: the same lines read as CSV are refused, every one by name.
    forced = driver.cli("award", "--file", str(lines), "--format", "csv", "--token", env["CREDITFLOW_TOKEN"])
    assert forced.returncode == 1 and "learner_id" in forced.stderr
