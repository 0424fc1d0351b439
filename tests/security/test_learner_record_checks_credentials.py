"""Attacks on learner-record's own check (issue #14, item 1): records written to creditflow.learner.credentials with
the issuer's principal, the one writer the ACL lets write it, as a compromised or buggy issuer would. learner-record
must not take the topic's word for it: each credential is verified against the keys as registered and must name the
event's learner, else the achievement is shown unverified with the reason."""

import copy
import uuid
from datetime import UTC, datetime

import pytest
from e2e_driver import achievement_body
from kafka_helpers import publish_as_owner

from creditflow.credentials import data_integrity, keys
from creditflow.events import Achievement, CredentialAwarded, CredentialAwardedData

pytestmark = pytest.mark.e2e


async def genuine_award(driver) -> tuple[str, str, dict]:
    """(institution, learner, credential): a credential the issuer signed, projected as verified.

    The registry and the credentials are separate topics: the award may be projected before the institution's
    registration, shown unverified ("not registered") until the registration re-judges it. Wait for that verdict."""
    institution_id, headers = await driver.institution()
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    await driver.award(headers, learner)
    record = await driver.record(learner, driver.registrar(institution_id),
                                 until=lambda r: r["achievements"] and r["achievements"][0]["verification"] == "verified")
    [entry] = record["achievements"]
    return institution_id, learner, entry["credential"]


async def written_by_the_issuer_principal(driver, institution_id: str, learner: str, credential: dict) -> dict:
    """Publish an award carrying `credential` for `learner` as svc-issuer; the achievement learner-record shows."""
    credential_id = f"urn:uuid:{uuid.uuid4()}"
    event = CredentialAwarded(producer="issuer", learner_id=learner, data=CredentialAwardedData(
        credential_id=credential_id, institution_id=institution_id,
        achievement=Achievement.model_validate(achievement_body(institution_id)), awarded_at=datetime.now(UTC),
        credential=credential))
    await publish_as_owner(driver.stack.servers, event)
    record = await driver.record(learner, driver.registrar(institution_id),
                                 until=lambda r: any(a["credential_id"] == credential_id for a in r["achievements"]))
    return next(a for a in record["achievements"] if a["credential_id"] == credential_id)


async def test_a_forged_credential_signed_with_a_key_not_registered_for_its_issuer_is_shown_unverified(driver):
    institution_id, learner, genuine = await genuine_award(driver)
    unsecured, proof = data_integrity.split(genuine)
    # The forger names the institution's registered verification method but signs with a key of its own.
    forged = data_integrity.sign({**unsecured, "id": f"urn:uuid:{uuid.uuid4()}"}, keys.generate(),
                                 proof["verificationMethod"], datetime.now(UTC))
    shown = await written_by_the_issuer_principal(driver, institution_id, learner, forged)
    assert shown["verification"] == "unverified"
    assert shown["verification_reasons"] == [f"signature does not verify with key "
                                             f"{proof['verificationMethod'].replace('/keys/', '#')}"]


async def test_a_tampered_credential_whose_achievement_was_changed_after_signing_is_shown_unverified(driver):
    institution_id, learner, genuine = await genuine_award(driver)
    tampered = copy.deepcopy(genuine)
    tampered["credentialSubject"]["achievement"]["name"] = "Doctor of medicine"
    shown = await written_by_the_issuer_principal(driver, institution_id, learner, tampered)
    assert shown["verification"] == "unverified"
    assert shown["verification_reasons"][0].startswith("signature does not verify with key")


async def test_a_genuine_credential_republished_under_another_learner_is_shown_unverified(driver):
    institution_id, learner, genuine = await genuine_award(driver)
    other = f"learner-{uuid.uuid4().hex[:8]}"
    shown = await written_by_the_issuer_principal(driver, institution_id, other, genuine)
    assert shown["verification"] == "unverified"
    assert shown["verification_reasons"] == [
        f"credentialSubject.id 'urn:creditflow:learner:{learner}' is not the event's learner "
        f"urn:creditflow:learner:{other}"]
