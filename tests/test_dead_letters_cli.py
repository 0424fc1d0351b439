"""`creditflow dead-letters` as an operator runs it (a subprocess, as the Kafka admin) against the real broker and the
running services: a record learner-record refused is listed with where it came from and why, shown, re-driven to its
source topic (where learner-record reads it again) and discarded; handled letters leave the list."""

import hashlib
import json
import uuid

import pytest
from kafka_helpers import publish_as_owner, send
from kafka_waits import dead_letter, until_written

from creditflow.events import DEAD_LETTER_TOPIC, LearnerConsentData, LearnerConsentGranted
from creditflow.events.permissions import writer_of
from creditflow.events.topics import CONSENTS, CREDENTIALS

# Eight command-line runs, each a process logging in to the broker: slower than one in-process test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# Under the broker's 1 MiB limit, over it once a consumer adds its dead-letter headers (as security/test_poison_pill.py).
JUST_UNDER_LIMIT = (1 << 20) - 160
REASON = "consent names no actor: consent is recorded by a registrar over HTTP, which names them"


def listed(driver, *args: str) -> dict[int, str]:
    """The lines of `dead-letters list`, by letter id."""
    run = driver.cli("dead-letters", "list", *args)
    assert run.returncode == 0, run.stderr
    return {int(line.split()[0]): line for line in run.stdout.splitlines()[1:]}


async def test_an_operator_lists_shows_redrives_and_discards_a_dead_letter(driver):
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    refused = LearnerConsentGranted(producer="learner-record", learner_id=learner,
                                    data=LearnerConsentData(institution_id="uni-x", evidence="no one recorded this"))
    await publish_as_owner(driver.stack.servers, refused)
    admin, group = driver.stack.servers.admin, driver.stack.servers.settings("learner-record").group_id
    letter = await dead_letter(admin, learner, group)
    source_offset = int(dict(letter.headers)["dlq.source.offset"])
    source_partition = int(dict(letter.headers)["dlq.source.partition"])

    line = listed(driver)[letter.offset]
    assert line.split()[1:4] == [f"{CONSENTS.name}/{source_partition}/{source_offset}", group, str(len(letter.value))]
    assert line.endswith(REASON)
    shown = driver.cli("dead-letters", "show", str(letter.offset))
    assert shown.returncode == 0, shown.stderr
    assert f"reason      {REASON}" in shown.stdout and learner in shown.stdout

    redriven = driver.cli("dead-letters", "redrive", str(letter.offset), "--by", "ops@example.org")
    assert redriven.returncode == 0, redriven.stderr
    # The same bytes are back on the consent topic, and learner-record read them again: it refused them again.
    def redriven_letters(found):
        return [r for r in found if dict(r.headers).get("dlq.consumer.group") == group.encode()
                and int(dict(r.headers)["dlq.source.offset"]) != source_offset]

    [second] = redriven_letters(await until_written(admin, DEAD_LETTER_TOPIC, learner, redriven_letters))
    assert second.value == letter.value
    assert redriven.stdout.strip() == (f"dead letter {letter.offset} re-published to {CONSENTS.name}/{source_partition}/"
                                       f"{int(dict(second.headers)['dlq.source.offset'])}")

    discarded = driver.cli("dead-letters", "discard", str(second.offset), "--reason", "forged: nothing to redo")
    assert discarded.returncode == 0, discarded.stderr
    still_open = listed(driver)
    assert letter.offset not in still_open and second.offset not in still_open
    everything = listed(driver, "--all")
    assert "[redriven]" in everything[letter.offset] and "[discarded]" in everything[second.offset]
    twice = driver.cli("dead-letters", "discard", str(second.offset), "--reason", "again")
    assert twice.returncode != 0
    assert f"dead letter {second.offset}: already discarded by" in twice.stderr


async def test_a_reference_letter_is_redriven_from_the_bytes_on_its_source_topic(driver):
    """A record too large to copy into a letter (test_poison_pill.py) is re-driven from where it still is."""
    servers = driver.stack.servers
    key = f"poison-{uuid.uuid4().hex[:8]}"
    pill = b"y" * JUST_UNDER_LIMIT
    await send(servers.login(writer_of(CREDENTIALS.name)), CREDENTIALS.name, [(key.encode(), pill)])
    group = servers.settings("learner-record").group_id
    letter = await dead_letter(servers.admin, key, group)
    reference = json.loads(letter.value)
    assert listed(driver)[letter.offset].split()[3] == str(len(pill))  # the original's size, not the letter's

    redriven = driver.cli("dead-letters", "redrive", str(letter.offset))
    assert redriven.returncode == 0, redriven.stderr

    def again(found):
        return [r for r in found if dict(r.headers).get("dlq.consumer.group") == group.encode()
                and int(dict(r.headers)["dlq.source.offset"]) != reference["offset"]]

    [second] = again(await until_written(servers.admin, DEAD_LETTER_TOPIC, key, again))
    # The same bytes were published again: learner-record refused them again, and again as a reference.
    assert json.loads(second.value)["sha256"] == reference["sha256"] == hashlib.sha256(pill).hexdigest()
