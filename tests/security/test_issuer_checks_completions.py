"""Attack on the issuer's automatic awards (issue #14, item 2): a QualificationCompleted written to
creditflow.learner.progress with stacking's principal, the one writer the ACL lets write it, as a compromised or
buggy stacking would. The issuer must check the completion against the programme as published and the credentials
it holds before it signs anything, else dead-letter the event with the reason."""

import uuid
from datetime import date

import pytest
from e2e_driver import achievement_body
from kafka_helpers import publish_as_owner
from kafka_waits import dead_letter, until_written, written

from creditflow.events import (
    DEAD_LETTER_TOPIC,
    CredentialAwarded,
    CreditValue,
    ProgrammePublished,
    ProgrammePublishedData,
    QualificationCompleted,
    QualificationCompletedData,
    Requirement,
    decode,
)
from creditflow.events.topics import CREDENTIALS

pytestmark = pytest.mark.e2e


async def test_a_forged_completion_of_an_unpublished_programme_is_dead_lettered_and_nothing_is_signed(driver):
    # The institution has published the qualification's achievement, so only the completion itself is forged.
    institution_id, _ = await driver.institution(achievement_id="ach-cert-forged", title="Certificate in forgery")
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    forged = QualificationCompleted(producer="stacking", learner_id=learner, data=QualificationCompletedData(
        programme_id="prog-never-published", institution_id=institution_id, programme_version=1,
        credential_ids=["urn:uuid:never-issued"], award_mode="automatic", achievement_id="ach-cert-forged"))
    await publish_as_owner(driver.stack.servers, forged)

    admin = driver.stack.servers.admin
    [letter] = await until_written(admin, DEAD_LETTER_TOPIC, learner, lambda found: len(found) > 0)
    assert dict(letter.headers)["dlq.reason"].decode() == (
        f"qualification prog-never-published is not awarded: programme prog-never-published version 1 of "
        f"{institution_id} is not published; the issuer checks it again if that version is published")
    # The issuer refused before signing: nothing was published for the learner.
    assert await written(admin, CREDENTIALS.name, learner) == []


async def test_a_genuine_completion_that_overtakes_its_programme_is_awarded_once_the_programme_is_published(driver):
    """Not an attack: the fail-safe race. Stacking's completion and its programme travel on different topics, so the
    issuer may read the completion first; it refuses it then (it cannot tell it from a forgery), keeps it, and awards
    it when that programme version arrives and every check passes."""
    institution_id, headers = await driver.institution()
    published = await driver.issuer.post("/achievements", headers=headers, json=achievement_body(
        institution_id, achievement_id="ach-cert-early", title="Certificate in machine learning"))
    assert published.status_code == 201, published.text
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    credential_id = (await driver.award(headers, learner))["credential_id"]
    programme_id = f"prog-{uuid.uuid4().hex[:6]}"
    early = QualificationCompleted(producer="stacking", learner_id=learner, data=QualificationCompletedData(
        programme_id=programme_id, institution_id=institution_id, programme_version=1,
        credential_ids=[credential_id], award_mode="automatic", achievement_id="ach-cert-early"))
    await publish_as_owner(driver.stack.servers, early)
    admin = driver.stack.servers.admin
    letter = await dead_letter(admin, learner, f"{driver.stack.servers.settings('issuer').group_id}.qualifications")
    assert "is not published; the issuer checks it again" in dict(letter.headers)["dlq.reason"].decode()

    # A requirement no one meets, so that stacking never completes it itself: the award below is the early one's.
    programme = ProgrammePublishedData(
        programme_id=programme_id, institution_id=institution_id, version=1, effective_from=date(2025, 1, 1),
        title="Certificate in machine learning", total_credits=CreditValue(value=120, framework="ects"),
        requirements=[Requirement(requirement_id="core", kind="required", options=["ach-never-awarded"])],
        award_mode="automatic", achievement_id="ach-cert-early")
    await publish_as_owner(driver.stack.servers, ProgrammePublished(producer=institution_id, data=programme))

    def qualification(found):
        return [e for e in map(decode, [r.value for r in found])
                if isinstance(e, CredentialAwarded) and e.data.built_from == [credential_id]]

    [awarded] = qualification(await until_written(admin, CREDENTIALS.name, learner, qualification))
    assert awarded.data.achievement.achievement_id == "ach-cert-early"
