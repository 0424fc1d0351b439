"""The one verification function accepts every format creditflow issues: Data Integrity eddsa-rdfc-2022, the Open
Badges 3.0 JWT (ES256) and legacy VC-JOSE, judging keys at signing time; and a CLR's embedded credentials too."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from creditflow.credentials import contexts, data_integrity, keys, ob_jwt
from creditflow.credentials.subjects import learner_id_of, learner_subject_id
from creditflow.credentials.verify import RegisteredKey, check_proof, key_reference, verify

ISSUER = "https://issuer.example/institutions/uni-tartu"
KEY_MADE = datetime(2026, 1, 1, tzinfo=UTC)
LEGACY = json.loads((Path(__file__).parent / "fixtures" / "legacy-vc-jose-award.json").read_text())


def award(valid_from="2019-06-14T12:00:00Z"):
    return {
        "@context": [contexts.VC2, contexts.OB3, contexts.CREDITFLOW_V1],
        "id": "urn:uuid:5d2c8f4e-1b7a-4c0b-9d43-8a1f0d3c2b11",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": ISSUER, "type": ["Profile"], "name": "University of Tartu"},
        "validFrom": valid_from,
        "credentialSubject": {"id": learner_subject_id("ada"), "type": ["AchievementSubject"],
                              "achievement": {"id": f"{ISSUER}/achievements/a1", "type": ["Achievement"],
                                              "name": "Data literacy", "description": "Data literacy",
                                              "criteria": {"narrative": "Explain the limits of a data set"},
                                              "euMicroCredential": {"workloadHours": 125}}},
    }


class Registry:
    def __init__(self):
        self.keys = {}

    def add(self, key_id, private, issuer=ISSUER, valid_from=KEY_MADE, retired_at=None):
        reference = f"{issuer}#{key_id}"
        self.keys[reference] = RegisteredKey(reference, "uni-tartu", issuer, private.public_key(), valid_from,
                                             retired_at)
        return f"{issuer}/keys/{key_id}"

    async def resolve(self, reference):
        return self.keys.get(reference)


@pytest.fixture
def registry():
    return Registry()


async def no_status(url):
    return None


async def test_a_data_integrity_award_dated_before_its_key_verifies_at_its_signing_time(registry):
    private = keys.generate()
    method = registry.add("key-1", private)
    signed = data_integrity.sign(award(), private, method, KEY_MADE + timedelta(days=3))
    result = await check_proof(signed, registry.resolve)
    assert (result.status, result.format) == ("valid", "data-integrity")


async def test_a_proof_created_outside_the_keys_window_is_invalid(registry):
    private = keys.generate()
    method = registry.add("key-1", private, retired_at=KEY_MADE + timedelta(days=10))
    signed = data_integrity.sign(award(), private, method, KEY_MADE + timedelta(days=11))
    result = await check_proof(signed, registry.resolve)
    assert result.status == "invalid" and "not valid for uni-tartu at proof.created" in result.reasons[0]


async def test_a_one_character_change_or_a_stranger_key_fails_a_data_integrity_proof(registry):
    private = keys.generate()
    method = registry.add("key-1", private)
    signed = data_integrity.sign(award(), private, method, KEY_MADE + timedelta(days=1))
    changed = json.loads(json.dumps(signed).replace("Data literacy", "Data literacz", 1))
    assert "signature does not verify" in (await check_proof(changed, registry.resolve)).reasons[0]
    forged = data_integrity.sign(award(), keys.generate(), method, KEY_MADE + timedelta(days=1))
    assert (await check_proof(forged, registry.resolve)).status == "invalid"


async def test_an_undefined_context_is_reported_not_fetched(registry):
    private = keys.generate()
    method = registry.add("key-1", private)
    document = {**award(), "@context": [contexts.VC2, "https://example.org/unknown/v1"]}
    with pytest.raises(data_integrity.CanonicalisationError, match="not bundled with creditflow"):
        data_integrity.sign(document, private, method, KEY_MADE)
    signed = data_integrity.sign(award(), private, method, KEY_MADE + timedelta(days=1))
    signed["@context"] = [*signed["@context"], "https://example.org/unknown/v1"]
    result = await check_proof(signed, registry.resolve)
    assert result.status == "invalid" and "cannot canonicalise" in result.reasons[0]
    assert "https://example.org/unknown/v1 is not bundled" in result.reasons[0]
    # The invalid answer still says what was presented, and in which format.
    assert (result.credential, result.format) == (signed, "data-integrity")


async def test_the_open_badges_jwt_is_judged_at_iat_and_its_claims_must_match_the_credential(registry):
    private = keys.generate_p256()
    method = registry.add("es256-key-1", private)
    token = ob_jwt.sign(award(), private, method, KEY_MADE + timedelta(days=2))
    result = await check_proof(token, registry.resolve)
    assert (result.status, result.format, result.credential["id"]) == ("valid", "ob-jwt", award()["id"])

    head, payload, signature = token.split(".")
    claims = json.loads(keys.b64url_decode(payload))
    claims["sub"] = learner_subject_id("mallory")
    lying = ".".join([head, keys.b64url(json.dumps(claims).encode()), signature])
    assert "sub: " in (await check_proof(lying, registry.resolve)).reasons[0]


async def test_an_ed25519_key_cannot_vouch_for_an_es256_jwt(registry):
    p256 = keys.generate_p256()
    method = registry.add("key-1", keys.generate())
    token = ob_jwt.sign(award(), p256, method, KEY_MADE + timedelta(days=2))
    assert "is not a EllipticCurvePublicKey key" in (await check_proof(token, registry.resolve)).reasons[0]


async def test_a_credential_issued_before_the_change_still_verifies():
    public = keys.from_multibase(LEGACY["public_key_multibase"])
    valid_from = datetime.fromisoformat(LEGACY["key_valid_from"])
    known = RegisteredKey(LEGACY["kid"], "uni-tartu", LEGACY["issuer_id"], public, valid_from)

    async def resolve(reference):
        return known if reference == LEGACY["kid"] else None

    result = await check_proof(LEGACY["credential"], resolve)
    assert (result.status, result.format) == ("valid", "vc-jose")
    assert result.credential["credentialSubject"]["id"] == "learner-ada"  # the bare id of that time
    assert learner_id_of(result.credential["credentialSubject"]["id"]) == "learner-ada"
    changed = {**LEGACY["credential"], "id": LEGACY["credential"]["id"][:-3] + "AAA"}
    assert (await check_proof(changed, resolve)).status == "invalid"


async def test_a_clr_is_invalid_when_an_embedded_credential_is(registry):
    institution, platform = keys.generate(), keys.generate()
    method = registry.add("key-1", institution)
    platform_method = registry.add("platform-1", platform, issuer="https://records.example/platform")
    embedded = data_integrity.sign(award(), institution, method, KEY_MADE + timedelta(days=1))
    clr = {"@context": [contexts.VC2, contexts.CLR2, contexts.OB3, contexts.CREDITFLOW_V1],
           "id": "urn:uuid:0c3a", "type": ["VerifiableCredential", "ClrCredential"],
           "issuer": {"id": "https://records.example/platform", "type": ["Profile"], "name": "creditflow"},
           "validFrom": "2026-02-01T00:00:00Z", "name": "CLR",
           "credentialSubject": {"id": learner_subject_id("ada"), "type": ["ClrSubject"],
                                 "verifiableCredential": [embedded]}}
    signed = data_integrity.sign(clr, platform, platform_method, KEY_MADE + timedelta(days=40))
    assert (await verify(signed, registry.resolve, no_status, KEY_MADE + timedelta(days=41))).status == "valid"

    embedded["proof"]["proofValue"] = embedded["proof"]["proofValue"][:-2] + "zz"
    resigned = data_integrity.sign({k: v for k, v in signed.items() if k != "proof"}, platform, platform_method,
                                   KEY_MADE + timedelta(days=40))
    result = await verify(resigned, registry.resolve, no_status, KEY_MADE + timedelta(days=41))
    assert result.status == "invalid" and result.reasons[0].startswith("credentialSubject.verifiableCredential[0]")


def test_verification_method_urls_map_to_registry_references_and_subjects_round_trip():
    assert key_reference(f"{ISSUER}/keys/key-2") == f"{ISSUER}#key-2"
    assert key_reference(f"{ISSUER}#key-2") == f"{ISSUER}#key-2"
    assert learner_subject_id("ada lovelace/1") == "urn:creditflow:learner:ada%20lovelace%2F1"
    assert learner_id_of(learner_subject_id("ada lovelace/1")) == "ada lovelace/1"
