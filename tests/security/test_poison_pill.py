"""Attack: a poison pill. A principal allowed to write a topic publishes a record just under the broker's size limit
(1 MiB, Kafka's default `message.max.bytes`, which the test stack keeps). Its dead-letter copy, with the dlq.* headers
added, no longer fits: before #14 the consumer retried that copy for ever and every later event on the partition
(every learner keyed to it) was never processed. Now a reference to the record is dead-lettered and the partition
flows on."""

from __future__ import annotations

import hashlib
import json
import uuid

from kafka_helpers import send
from kafka_waits import until_written

from creditflow.events import DEAD_LETTER_TOPIC
from creditflow.events.permissions import writer_of
from creditflow.events.topics import CREDENTIALS

# Under the broker's 1 MiB limit (and the producer's max_request_size) with the key and record overhead, but over
# it once the consumer adds its dead-letter headers.
JUST_UNDER_LIMIT = (1 << 20) - 160


async def letters_of(servers, group_id: str, key: str, wanted: int) -> list:
    """The dead letters one consumer group wrote for this key, once `wanted` of them arrived."""
    def mine(found: list) -> list:
        return [r for r in found if dict(r.headers).get("dlq.consumer.group") == group_id.encode()]

    found = mine(await until_written(servers.admin, DEAD_LETTER_TOPIC, key, lambda rs: len(mine(rs)) >= wanted))
    return sorted(found, key=lambda r: int(dict(r.headers)["dlq.source.offset"]))


async def test_oversized_record_poison_pill_is_dead_lettered_as_a_reference_and_the_partition_flows_on(running_stack):
    servers = running_stack.servers
    learner = f"poison-{uuid.uuid4().hex[:8]}@example.org"
    key = learner.encode()
    pill = b"x" * JUST_UNDER_LIMIT
    next_record = b"the record after the pill"  # undecodable too: its own letter proves it was taken off
    # Written by the one principal the ACL table lets write the topic: an allowed writer, not an outsider.
    await send(servers.login(writer_of(CREDENTIALS.name)), CREDENTIALS.name, [(key, pill), (key, next_record)])

    group = servers.settings("learner-record").group_id
    reference, after = await letters_of(servers, group, learner, wanted=2)

    headers = {k: v.decode() for k, v in reference.headers}
    assert headers["dlq.reference"] == "true"
    assert "MessageSizeTooLargeError" in headers["dlq.produce.error"]
    assert headers["dlq.reason"].startswith("undecodable event")
    body = json.loads(reference.value)
    assert body["dead_letter"] == "reference"
    assert (body["topic"], body["partition"]) == (CREDENTIALS.name, after_partition := int(
        dict(after.headers)["dlq.source.partition"].decode()))
    assert body["size"] == len(pill)
    assert body["sha256"] == hashlib.sha256(pill).hexdigest()
    assert body["offset"] == int(headers["dlq.source.offset"])

    # The next record on the same partition (same learner key) was processed: dead-lettered as is, right after.
    after_headers = {k: v.decode() for k, v in after.headers}
    assert after.value == next_record
    assert "dlq.reference" not in after_headers
    assert int(after_headers["dlq.source.offset"]) == body["offset"] + 1
    assert body["partition"] == after_partition
