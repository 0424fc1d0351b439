"""The committed JSON Schemas are the contract's memory: a change that would break a consumer of a published
version fails here; an additive change passes once the snapshots are regenerated (make contract)."""

import copy
import json
from pathlib import Path

import pytest

from creditflow.events.asyncapi import document
from creditflow.events.compat import incompatibilities
from creditflow.events.generate import SCHEMAS_DIR, dumps, event_schemas

REPO = Path(__file__).resolve().parents[2]
CURRENT = event_schemas()


@pytest.mark.parametrize("path", sorted(SCHEMAS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_committed_schema_is_still_honoured_by_the_models(path):
    committed = json.loads(path.read_text())
    assert path.stem in CURRENT, f"{path.stem} was removed: publish a new major version instead"
    assert incompatibilities(committed, CURRENT[path.stem]) == []


def test_committed_schemas_are_fresh():
    stale = [t for t, s in CURRENT.items() if not (SCHEMAS_DIR / f"{t}.json").exists()
             or (SCHEMAS_DIR / f"{t}.json").read_text() != dumps(s)]
    assert stale == [], "run `make contract` and commit the regenerated schemas"


def test_asyncapi_document_is_fresh():
    committed = (REPO / "docs" / "asyncapi.json").read_text()
    assert committed == dumps(document()), "run `make contract` and commit docs/asyncapi.json"


def test_asyncapi_document_lists_every_topic_with_its_payloads():
    channels = document()["channels"]
    addresses = {c["address"] for c in channels.values()}
    assert "creditflow.learner.credentials" in addresses and "creditflow.dead-letter" in addresses
    components = json.dumps(document()["components"])
    assert "creditflow.issuer.credential.awarded.v1" in components


AWARDED = CURRENT["creditflow.issuer.credential.awarded.v1"]


def _edit(edit):
    schema = copy.deepcopy(AWARDED)
    edit(schema)
    return schema


def test_removing_a_field_is_incompatible():
    new = _edit(lambda s: s["$defs"]["CredentialAwardedData"]["properties"].pop("grade"))
    assert incompatibilities(AWARDED, new) == ["data.grade: field removed"]


def test_retyping_a_field_is_incompatible():
    new = _edit(lambda s: s["$defs"]["CreditValue"]["properties"]["value"].update(type="string"))
    assert any("data.achievement.credits.value: type" in p for p in incompatibilities(AWARDED, new))


def test_a_new_required_field_is_incompatible():
    new = _edit(lambda s: s["$defs"]["CredentialAwardedData"]["required"].append("grade"))
    assert incompatibilities(AWARDED, new) == ["data.grade: new required field"]


def test_narrowing_allowed_values_is_incompatible():
    def drop_ects(s):
        s["$defs"]["CreditFramework"]["enum"].remove("ects")

    assert any("ects" in p for p in incompatibilities(AWARDED, _edit(drop_ects)))


def test_adding_an_optional_field_is_compatible():
    new = _edit(lambda s: s["$defs"]["CredentialAwardedData"]["properties"].update(note={"type": "string"}))
    assert incompatibilities(AWARDED, new) == []
