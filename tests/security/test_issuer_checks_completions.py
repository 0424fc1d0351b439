"""Attack on the issuer's automatic awards (issue #14, item 2): a QualificationCompleted written to
creditflow.learner.progress with stacking's principal, the one writer the ACL lets write it, as a compromised or
buggy stacking would. The issuer must check the completion against the programme as published and the credentials
it holds before it signs anything, else dead-letter the event with the reason."""

import uuid

import pytest
from kafka_helpers import publish_as_owner
from kafka_waits import until_written, written

from creditflow.events import DEAD_LETTER_TOPIC, QualificationCompleted, QualificationCompletedData
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
        f"{institution_id} is not published")
    # The issuer refused before signing: nothing was published for the learner.
    assert await written(admin, CREDENTIALS.name, learner) == []
