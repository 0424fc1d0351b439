"""An owning service's gate on the institutions' inbound topics, on the real broker: the topic names the sender."""

import uuid
from datetime import date

import pytest
from contract_factories import awarded
from kafka_helpers import records

from creditflow.events import LearnerEnrolled, LearnerEnrolledData, decode
from creditflow.events.permissions import inbound_topic
from creditflow.events.topics import PROGRESS
from creditflow.runtime.kafka import Delivery, Rejected, make_broker, on_inbound

pytestmark = pytest.mark.integration


def enrolment(learner: str, institution_id: str, producer: str) -> LearnerEnrolled:
    return LearnerEnrolled(producer=producer, learner_id=learner, data=LearnerEnrolledData(
        programme_id="cert-ds", institution_id=institution_id, started_on=date(2026, 9, 1)))


async def test_only_what_claims_the_topics_institution_is_republished_and_other_owners_events_are_left(servers):
    broker = make_broker(servers.settings("stacking"))
    await broker.start()
    handle = on_inbound(broker, (LearnerEnrolled,))
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    delivered = (Delivery(inbound_topic("uni-a"), 0, offset) for offset in range(10))
    try:
        with pytest.raises(Rejected, match="^record claims institution uni-b on the inbound topic of uni-a$"):
            await handle(enrolment(learner, "uni-b", producer="uni-a"), next(delivered))
        with pytest.raises(Rejected, match="^record claims institution uni-b on the inbound topic of uni-a$"):
            await handle(enrolment(learner, "uni-a", producer="uni-b"), next(delivered))
        await handle(awarded(learner, "urn:uuid:the-issuers-business"), next(delivered))
        own = enrolment(learner, "uni-a", producer="uni-a")
        await handle(own, next(delivered))
    finally:
        await broker.stop()
    [republished] = await records(servers.admin, PROGRESS.name, learner)
    assert decode(republished.value).event_id == own.event_id
