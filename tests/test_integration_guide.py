"""docs/integration.md: its examples are valid events of the contract (pydantic models and the committed JSON
Schemas), one for each event type an institution may publish on its inbound topic; and one published with kcat, a
Kafka client creditflow did not write, over SASL as the institution's principal, is acted on by the services."""

import json
import re
import subprocess
import uuid
from pathlib import Path

import jsonschema
import pytest
from e2e_driver import eventually

from creditflow.events import CredentialAwarded, decode
from creditflow.events.envelope import type_of
from creditflow.events.generate import SCHEMAS_DIR
from creditflow.events.permissions import inbound_topic
from creditflow.recognition.handlers import INBOUND_EVENTS as RECOGNITION_INBOUND
from creditflow.stacking.handlers import INBOUND_EVENTS as STACKING_INBOUND

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "integration.md"
KCAT = REPO / "deploy" / "local" / "kcat.sh"  # Debian's kcat on a librdkafka that logs in to Kafka 4
# The issuer takes self-signed credentials from inbound topics (issuer.handlers.on_inbound_award).
ACCEPTED_ON_INBOUND = {type_of(e) for e in (CredentialAwarded, *RECOGNITION_INBOUND, *STACKING_INBOUND)}


def examples() -> dict[str, dict]:
    """event_type -> the guide's example of it: every ```json block that is an event."""
    found = {}
    for block in re.findall(r"```json\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL):
        event = json.loads(block)
        if "event_type" in event:
            assert event["event_type"] not in found, f"two examples of {event['event_type']}"
            found[event["event_type"]] = event
    return found


def test_the_guide_has_one_example_of_every_event_type_accepted_on_an_inbound_topic():
    assert set(examples()) == ACCEPTED_ON_INBOUND


@pytest.mark.parametrize("event_type", sorted(ACCEPTED_ON_INBOUND))
def test_each_example_is_valid_against_the_contract_and_its_committed_schema(event_type):
    example = examples()[event_type]
    decoded = decode(json.dumps(example).encode())  # the contract's models, as every consumer decodes it
    assert type_of(type(decoded)) == event_type
    schema = json.loads((SCHEMAS_DIR / f"{event_type}.json").read_text())
    jsonschema.validate(example, schema, cls=jsonschema.validators.validator_for(schema))


@pytest.mark.e2e
async def test_examples_published_with_kcat_as_the_institution_are_applied(driver, tmp_path):
    institution_id, _ = await driver.institution()
    login = await driver.kafka_login(institution_id)
    programme_id = f"cert-{uuid.uuid4().hex[:8]}"
    lines = []
    for event_type in ("creditflow.stacking.programme.published.v1", "creditflow.recognition.policy.published.v1"):
        # The guide's example, as this institution: its id wherever the example says uni-tartu.
        text = json.dumps(examples()[event_type]).replace('"uni-tartu"', json.dumps(institution_id))
        event = json.loads(text.replace('"cert-data-science"', json.dumps(programme_id)))
        event["event_id"] = str(uuid.uuid4())
        key = event["data"].get("programme_id", institution_id)
        lines.append(f"{key}\t{json.dumps(event)}\n")

    published = subprocess.run(
        [str(KCAT), "-P", "-b", login.bootstrap, "-t", inbound_topic(institution_id), "-K", "\t",
         "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
         "-X", f"sasl.username={login.username}", "-X", f"sasl.password={login.secret()}"],
        input="".join(lines), capture_output=True, text=True, timeout=60)

    assert published.returncode == 0, published.stderr
    registrar = driver.registrar(institution_id)

    async def applied():
        programmes = (await driver.stacking.get("/programmes", headers=registrar)).json()
        rules = (await driver.recognition.get("/rules", headers=registrar)).json()
        return (any(p["programme_id"] == programme_id for p in programmes) and rules["policy"]
                and rules["policy"]["accepted_qa_bodies"] == ["EKKA", "QAA Scotland", "NZQA"])

    await eventually(applied, "stacking and recognition to apply what kcat published")
