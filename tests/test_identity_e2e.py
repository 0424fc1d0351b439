"""One token every service accepts (docs/decisions/0002), with the answers of the record's table of roles."""

import uuid

import pytest
from creditflow.runtime.auth import OPERATOR_REFUSED

pytestmark = pytest.mark.e2e


async def test_the_operators_token_reaches_every_service_with_the_answers_of_0002(driver):
    created = driver.cli("token", "create", "--operator", "--person", "ops@example.org")
    assert created.returncode == 0, created.stderr
    operator = {"Authorization": f"Bearer {created.stdout.strip()}"}
    institution_id = f"uni-{uuid.uuid4().hex[:8]}"

    registered = await driver.issuer.post("/institutions", headers=operator, json={
        "institution_id": institution_id, "name": "Tallinn University", "country": "EE",
        "credit_frameworks": ["ects"]})
    rotated = await driver.issuer.post(f"/institutions/{institution_id}/keys/rotate", headers=operator)
    assert (registered.status_code, rotated.status_code) == (201, 200), registered.text
    clients = {"issuer": driver.issuer, "learner-record": driver.records, "recognition": driver.recognition,
               "stacking": driver.stacking}
    for service, client in clients.items():
        metrics = await client.get("/metrics", headers=operator)
        assert metrics.status_code == 200 and "creditflow_consumer_lag" in metrics.text, service
    learner_data = [(driver.issuer, "/credentials/urn:uuid:any"), (driver.records, "/learners/l-1/record"),
                    (driver.recognition, "/cases"), (driver.stacking, "/learners/l-1/closest")]
    for client, path in learner_data:
        refused = await client.get(path, headers=operator)
        assert (refused.status_code, refused.json()["detail"]) == (403, OPERATOR_REFUSED), path


async def test_a_registrar_sees_its_own_learners_and_another_institutions_as_not_found(driver):
    a, _ = await driver.institution()
    b, b_headers = await driver.institution()
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    await driver.award(b_headers, learner)

    assert (await driver.record(learner, driver.registrar(b), until=lambda r: r["achievements"]))["achievements"]
    for client, path in ((driver.records, f"/learners/{learner}/record"),
                         (driver.stacking, f"/learners/{learner}/closest")):
        answer = await client.get(path, headers=driver.registrar(a))
        assert answer.status_code == 404, (path, answer.text)


async def test_without_a_valid_token_every_service_answers_401_and_without_the_role_403(driver):
    institution_id, _ = await driver.institution()
    integration = {"Authorization": f"Bearer {driver.token(institution_id, 'issuer-integration')}"}
    for client, path in ((driver.issuer, "/credentials/urn:uuid:any"), (driver.records, "/learners/l-1/record"),
                         (driver.recognition, "/cases"), (driver.stacking, "/programmes")):
        assert (await client.get(path)).status_code == 401, path
        assert (await client.get(path, headers={"Authorization": "Bearer not.a.token"})).status_code == 401, path
    for client, path in ((driver.records, "/learners/l-1/record"), (driver.recognition, "/cases"),
                         (driver.stacking, "/programmes")):
        assert (await client.get(path, headers=integration)).status_code == 403, path
