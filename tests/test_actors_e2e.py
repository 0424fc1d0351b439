"""Actors on events caused over HTTP (issue #14, item 4; docs/decisions/0002): the envelope's `actor` names the
person and the institution of the token that made the request, read off the topic the real broker holds. Events a
service derives itself carry none. (Registrar decisions: test_recognition_e2e.py; consents:
security/test_forged_consent.py.)"""

import uuid

import pytest
from kafka_waits import written

from creditflow.credentials import keys
from creditflow.events import Actor, decode
from creditflow.events.topics import CREDENTIALS, INSTITUTIONS

pytestmark = pytest.mark.e2e


async def test_registration_key_operations_and_revocations_name_who_did_them(driver):
    institution_id, integration = await driver.institution()  # registered by the operator's token
    rotated = await driver.issuer.post(f"/institutions/{institution_id}/keys/rotate", headers=integration)
    assert rotated.status_code == 200, rotated.text
    external = await driver.issuer.post(f"/institutions/{institution_id}/keys", headers=integration, json={
        "public_key_multibase": keys.to_multibase(keys.generate().public_key())})
    assert external.status_code == 200, external.text
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    credential = await driver.award(integration, learner)
    revoked = await driver.issuer.post(f"/credentials/{credential['credential_id']}/revoke", headers=integration,
                                       json={"reason": "awarded in error"})
    assert revoked.status_code == 200, revoked.text

    admin = driver.stack.servers.admin
    operator = Actor(person="mari.maasikas@ut.ee", institution_id=None, roles=["operator"])
    integration_person = Actor(person="mari.maasikas@ut.ee", institution_id=institution_id,
                               roles=["issuer-integration"])
    registrations = [decode(r.value) for r in await written(admin, INSTITUTIONS.name, institution_id)]
    assert [e.actor for e in registrations] == [operator, integration_person, integration_person]
    awarded, revocation = [decode(r.value) for r in await written(admin, CREDENTIALS.name, learner)]
    assert revocation.actor == integration_person
    assert revocation.data.reason == "awarded in error"
