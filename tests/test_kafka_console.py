"""A client creditflow did not write: Kafka's own console producer (`make setup` fetches it), logged in as an
institution's principal, publishes a credential the institution signed; creditflow verifies and projects it."""

import subprocess
import uuid
from pathlib import Path

import pytest
from e2e_driver import institution_with_own_key, self_signed_award

from creditflow.events import encode
from creditflow.events.permissions import inbound_topic

pytestmark = pytest.mark.e2e

CONSOLE = Path(__file__).resolve().parents[1] / "deploy" / "local" / "kafka-console.sh"


async def test_an_institution_publishes_a_signed_credential_with_kafkas_console_producer(driver, running_stack,
                                                                                      tmp_path):
    institution_id, own_key, key_id = await institution_with_own_key(driver)
    client_properties = tmp_path / "client.properties"
    client_properties.write_text((await driver.kafka_login(institution_id)).java_properties())
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    award = self_signed_award(running_stack.urls["issuer"], institution_id, learner, own_key, key_id,
                              f"urn:uuid:{uuid.uuid4()}")

    published = subprocess.run(
        [str(CONSOLE), "producer", "--bootstrap-server", running_stack.servers.kafka_bootstrap,
         "--topic", inbound_topic(institution_id), "--command-config", str(client_properties),
         "--reader-property", "parse.key=true"],
        input=f"{learner}\t{encode(award).decode()}\n", capture_output=True, text=True, timeout=120)

    assert published.returncode == 0, published.stderr
    record = await driver.record(learner, driver.registrar(institution_id), until=lambda r: r["achievements"])
    assert [a["credential_id"] for a in record["achievements"]] == [award.data.credential_id]
