"""Data Integrity canonicalisation in JSON-LD safe mode (VC Data Integrity: RDFC-based cryptosuites must refuse what
JSON-LD expansion would drop or rewrite): what pyld alone would leave out of the canonical form, and so out of the
signature, is refused when signing and makes verification answer invalid with the reason; every credential creditflow
issues, and the W3C vectors, still sign and verify."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from test_canonical_equivalence import AT, ISSUER, KEY, METHOD, VECTORS, VECTOR_LOADER, creditflow_documents, \
    issued_award

from creditflow.credentials import data_integrity, keys
from creditflow.credentials.verify import RegisteredKey, check_proof, key_reference


async def resolve(reference: str) -> RegisteredKey | None:
    if reference == key_reference(METHOD):
        return RegisteredKey(reference, "uni-tartu", ISSUER, KEY.public_key(), AT - timedelta(days=1))
    return None


def _added_grade(award):
    award["gradeOverride"] = "A+"


def _extra_result(award):
    award["credentialSubject"]["result"][0]["curvedTo"] = "A"


def _extra_eu(award):
    award["credentialSubject"]["achievement"]["euMicroCredential"]["bonusCredits"] = 6


def _relative_id(award):
    award["credentialSubject"]["id"] = "learner-ada"


def _relative_type(award):
    award["type"].append("HonoursCredential")


# What a holder could add to (or change in) an award creditflow signed, and the reason safe mode gives.
ALTERED = {
    "grade override added": (_added_grade, "safe mode: property 'gradeOverride' is not defined by any context"),
    "extra property in result": (_extra_result, "safe mode: property 'curvedTo' is not defined by any context"),
    "extra property in euMicroCredential": (_extra_eu,
                                            "safe mode: property 'bonusCredits' is not defined by any context"),
    "relative subject id": (_relative_id, "safe mode: 'learner-ada' is a relative IRI reference"),
    "relative type": (_relative_type, "safe mode: 'HonoursCredential' is a relative IRI reference"),
}


def test_the_award_as_issued_verifies():
    assert data_integrity.signature_valid(issued_award(), KEY.public_key())


@pytest.mark.parametrize(("alter", "reason"), ALTERED.values(), ids=ALTERED.keys())
async def test_an_altered_signed_award_is_invalid_with_the_safe_mode_reason(alter, reason):
    altered = issued_award()
    alter(altered)
    with pytest.raises(data_integrity.SafeModeError) as refused:
        data_integrity.signature_valid(altered, KEY.public_key())
    assert str(refused.value).startswith(reason)
    result = await check_proof(altered, resolve)
    assert result.status == "invalid"
    assert result.reasons == [f"cannot canonicalise the credential: {refused.value}"]


@pytest.mark.parametrize(("alter", "reason"), ALTERED.values(), ids=ALTERED.keys())
def test_signing_such_an_award_fails_with_the_reason(alter, reason):
    unsecured, _ = data_integrity.split(issued_award())
    alter(unsecured)
    with pytest.raises(data_integrity.SafeModeError, match=f"^{reason}"):
        data_integrity.sign(unsecured, KEY, METHOD, AT)


CONTEXT = [*issued_award()["@context"], {"ref": {"@id": "https://example.org/ref", "@type": "@id"}}]
NODE = {"@context": CONTEXT, "id": "urn:x", "type": ["VerifiableCredential"], "name": "x"}
# The other conditions jsonld.js's safe mode refuses (lib/events.js), each in the smallest document that has it
# (tests/test_credentials_e2e.py has jsonld.js refuse each of them too).
REFUSED = {
    "relative IRI value": ({**NODE, "ref": "other"}, "safe mode: 'other' is a relative IRI reference"),
    "empty document": ({"@context": CONTEXT}, 'safe mode: {"@context": ['),
    "free-floating value": ({"@context": CONTEXT, "@graph": ["x"]}, 'safe mode: "x" expands to nothing'),
    "node with only an id": ({"@context": CONTEXT, "@graph": [{"id": "urn:y"}]},
                             'safe mode: {"id": "urn:y"} expands to nothing'),
    "null value": ({**NODE, "name": {"@value": None}}, 'safe mode: {"@value": null} expands to nothing'),
    "only a language": ({**NODE, "name": {"@language": "en"}}, 'safe mode: {"@language": "en"} expands to nothing'),
    "blank node property": ({**NODE, "_:p": "x"}, "safe mode: a property expands to the blank node '_:p'"),
    "term like a keyword": ({**NODE, "@context": [*CONTEXT, {"@term": "https://example.org/t"}]},
                            "safe mode: context term '@term' looks like a keyword"),
    "iri like a keyword": ({**NODE, "@context": [*CONTEXT, {"t": {"@id": "@thing"}}]},
                           "safe mode: context term 't' has @id '@thing'"),
    "reverse like a keyword": ({**NODE, "@context": [*CONTEXT, {"t": {"@reverse": "@thing"}}]},
                               "safe mode: context term 't' has @reverse '@thing'"),
    "relative vocab": ({**NODE, "@context": [*CONTEXT, {"@vocab": "terms/"}]},
                       "safe mode: @vocab 'terms/' is a relative IRI reference"),
    "language not BCP 47": ({**NODE, "name": {"@value": "x", "@language": "en_GB"}},
                            "safe mode: language 'en_gb' of"),
    "base direction": ({**NODE, "name": {"@value": "x", "@direction": "rtl"}},
                       'safe mode: {"@direction": "rtl", "@value": "x"} has a base direction'),
}


@pytest.mark.parametrize(("document", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_every_other_condition_of_json_ld_safe_mode_is_refused_with_its_reason(document, reason):
    assert data_integrity.canonical(NODE)  # the document each one changes is canonicalised
    with pytest.raises(data_integrity.SafeModeError) as refused:
        data_integrity.canonical(document)
    assert str(refused.value).startswith(reason)


# The Multikey documents are served, not signed (they canonicalise in safe mode: test_canonical_equivalence.py).
SIGNED_SHAPES = {name: document for name, document in creditflow_documents().items() if name != "multikey"}


@pytest.mark.parametrize(("name", "document"), SIGNED_SHAPES.items())
def test_every_credential_shape_creditflow_issues_signs_and_verifies(name, document):
    unsecured = {k: v for k, v in document.items() if k != "proof"}  # signing anew what was signed
    signed = data_integrity.sign(unsecured, KEY, METHOD, AT, proof_set=True)
    assert data_integrity.signature_valid(signed, KEY.public_key())
    changed = copy.deepcopy(signed)
    changed["id"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    assert not data_integrity.signature_valid(changed, KEY.public_key())


@pytest.mark.parametrize("folder", [VECTORS, VECTORS / "employ"], ids=["alumni", "employ"])
def test_the_w3c_signed_vectors_verify(folder):
    public = keys.from_multibase(json.loads((VECTORS / "keyPair.json").read_text())["publicKeyMultibase"])
    assert data_integrity.signature_valid(json.loads((folder / "signedDataInt.json").read_text()), public,
                                          VECTOR_LOADER)
