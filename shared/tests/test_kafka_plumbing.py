"""The shared consumers on the real broker: dead letters keep the partition flowing; failures (of one record or of a
batch) are retried, not lost."""

import asyncio
import uuid

import pytest
from contract_factories import awarded
from kafka_helpers import publish_as_owner, records, send

from creditflow.events import DEAD_LETTER_TOPIC, encode
from creditflow.events.permissions import writer_of
from creditflow.events.topics import CREDENTIALS
from creditflow.runtime.kafka import Rejected, make_broker, subscribe, subscribe_batch

pytestmark = pytest.mark.integration


async def dead_letter_of(servers, key: str, group_id: str):
    """The dead letter this test's consumer group wrote: other consumers of the topic may dead-letter the record too."""
    letters = await records(servers.admin, DEAD_LETTER_TOPIC, key)
    [letter] = [r for r in letters if dict(r.headers)["dlq.consumer.group"] == group_id.encode()]
    return letter


async def run_consumer(servers, handle, group_id):
    """A consumer of the credentials topic logged in as a service that may read it."""
    broker = make_broker(servers.settings("learner-record", group_id=group_id))
    subscribe(broker, [CREDENTIALS.name], group_id, handle)
    await broker.start()
    return broker


def new_group(servers):
    return f"creditflow.learner-record.t{servers.run_id}.plumbing-{uuid.uuid4().hex[:8]}"


async def wait_for(predicate, timeout_s=20.0):
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_undecodable_record_goes_to_dead_letters_and_the_next_event_is_processed(servers):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    seen = []

    async def handle(event, delivery):
        if event.learner_id == learner:
            seen.append(event.data.credential_id)

    # Same key, so same partition: the valid event sits behind the broken one.
    await send(servers.login(writer_of(CREDENTIALS.name)), CREDENTIALS.name, [
        (learner.encode(), b'{"event_type": "nonsense"'),
        (learner.encode(), encode(awarded(learner, "urn:uuid:after")))])

    group = new_group(servers)
    broker = await run_consumer(servers, handle, group)
    try:
        await wait_for(lambda: seen == ["urn:uuid:after"])
        letter = await dead_letter_of(servers, learner, group)
    finally:
        await broker.stop()
    headers = {k: v.decode() for k, v in letter.headers}
    assert letter.value == b'{"event_type": "nonsense"'
    assert headers["dlq.source.topic"] == CREDENTIALS.name
    assert headers["dlq.reason"].startswith("undecodable event: ")
    assert int(headers["dlq.source.offset"]) >= 0


async def test_event_the_domain_rejects_is_dead_lettered_with_the_domain_reason(servers):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    processed = []

    async def handle(event, delivery):
        if event.learner_id != learner:
            return
        if event.data.credential_id == "urn:uuid:forged":
            raise Rejected("signature does not verify against any key of uni-helsinki")
        processed.append(event.data.credential_id)

    group = new_group(servers)
    broker = await run_consumer(servers, handle, group)
    try:
        await publish_as_owner(servers, awarded(learner, "urn:uuid:forged"))
        await publish_as_owner(servers, awarded(learner, "urn:uuid:genuine"))
        await wait_for(lambda: processed == ["urn:uuid:genuine"])
        letter = await dead_letter_of(servers, learner, group)
    finally:
        await broker.stop()
    assert dict(letter.headers)["dlq.reason"] == b"signature does not verify against any key of uni-helsinki"


async def test_a_failing_write_is_retried_from_the_same_record_not_skipped(servers):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    attempts = []
    applied = []

    async def handle(event, delivery):
        if event.learner_id != learner:
            return
        attempts.append(delivery.offset)
        if len(attempts) == 1:
            raise ConnectionError("database unavailable")
        applied.append(event.data.credential_id)

    broker = await run_consumer(servers, handle, new_group(servers))
    try:
        await publish_as_owner(servers, awarded(learner, "urn:uuid:first"))
        await publish_as_owner(servers, awarded(learner, "urn:uuid:second"))
        await wait_for(lambda: applied == ["urn:uuid:first", "urn:uuid:second"])
    finally:
        await broker.stop()
    assert attempts[0] == attempts[1], "the failed record is delivered again"


async def test_committed_offsets_mean_a_restarted_consumer_resumes_after_what_it_applied(servers):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    group = new_group(servers)
    first_run, second_run = [], []

    def recorder(into):
        async def handle(event, delivery):
            if event.learner_id == learner:
                into.append(event.data.credential_id)

        return handle

    broker = await run_consumer(servers, recorder(first_run), group)
    await publish_as_owner(servers, awarded(learner, "urn:uuid:one"))
    await wait_for(lambda: first_run == ["urn:uuid:one"])
    await broker.stop()

    broker = await run_consumer(servers, recorder(second_run), group)
    try:
        await publish_as_owner(servers, awarded(learner, "urn:uuid:two"))
        await wait_for(lambda: second_run == ["urn:uuid:two"])
    finally:
        await broker.stop()


async def test_a_failed_batch_is_rewound_and_delivered_again_nothing_lost_nothing_applied_twice(servers):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    credentials = [f"urn:uuid:{learner}-{n}" for n in range(3)]
    failed_offsets, applied = [], []

    async def handle(batch):
        # The topic holds other tests' records too; this test looks at its learner's only.
        mine = [(event, delivery) for event, delivery in batch if event.learner_id == learner]
        if mine and not failed_offsets:
            failed_offsets.extend(delivery.offset for _, delivery in mine)
            raise ConnectionError("database unavailable during the bulk write")
        applied.extend((event.data.credential_id, delivery.offset) for event, delivery in mine)
        return []

    # Written before the consumer starts, under one key (one partition): the first batch that reaches them holds
    # at least the first, and fails.
    await publish_as_owner(servers, *(awarded(learner, c) for c in credentials))
    group = new_group(servers)
    broker = make_broker(servers.settings("learner-record", group_id=group))
    subscribe_batch(broker, [CREDENTIALS.name], group, handle)
    await broker.start()
    try:
        await wait_for(lambda: len(applied) >= len(credentials))
    finally:
        await broker.stop()
    assert [credential for credential, _ in applied] == credentials, "each record applied once, in order"
    assert set(failed_offsets) <= {offset for _, offset in applied}, "the failed batch's records came again"
