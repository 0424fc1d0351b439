"""eddsa-rdfc-2022 as creditflow implements it reproduces the W3C test vectors byte for byte: canonical forms,
hashes and signature, for the plain and the `employ` example (Data Integrity EdDSA Cryptosuites v1.0, Appendix A)."""

import hashlib
import json
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from creditflow.credentials import contexts, data_integrity, keys

VECTORS = Path(__file__).parent / "vectors" / "eddsa-rdfc-2022"
EXTRA = {
    "https://www.w3.org/ns/credentials/examples/v2": json.loads((VECTORS / "credentials-examples-v2.jsonld").read_text()),
    "https://w3id.org/citizenship/v4rc1": json.loads((VECTORS / "employ" / "citizenship-v4rc1.jsonld").read_text()),
}
LOADER = data_integrity.static_loader(EXTRA)
KEY_PAIR = json.loads((VECTORS / "keyPair.json").read_text())


def _private_key() -> Ed25519PrivateKey:
    decoded = keys.b58decode(KEY_PAIR["privateKeyMultibase"][1:])
    assert decoded[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return Ed25519PrivateKey.from_private_bytes(decoded[2:])


def _text(folder: Path, name: str) -> str:
    return (folder / name).read_text()


@pytest.mark.parametrize("folder", [VECTORS, VECTORS / "employ"], ids=["alumni", "employ"])
def test_w3c_vectors_reproduce_byte_for_byte(folder):
    unsigned = json.loads(_text(folder, "unsigned.json"))
    config = json.loads(_text(folder, "proofConfigDataInt.json"))

    canonical_document = data_integrity.canonical(unsigned, LOADER)
    canonical_proof = data_integrity.canonical(config, LOADER)
    assert canonical_document == _text(folder, "canonDocDataInt.txt")
    assert canonical_proof == _text(folder, "proofCanonDataInt.txt")
    assert hashlib.sha256(canonical_document.encode()).hexdigest() == _text(folder, "docHashDataInt.txt").strip()
    assert hashlib.sha256(canonical_proof.encode()).hexdigest() == _text(folder, "proofHashDataInt.txt").strip()
    assert data_integrity.hash_data(unsigned, config, LOADER).hex() == _text(folder, "combinedHashDataInt.txt").strip()

    created = datetime.fromisoformat(config["created"].replace("Z", "+00:00"))
    signed = data_integrity.sign(unsigned, _private_key(), config["verificationMethod"], created, LOADER)
    assert signed["proof"]["proofValue"] == _text(folder, "sigBTC58DataInt.txt").strip()
    assert keys.b58decode(signed["proof"]["proofValue"][1:]).hex() == _text(folder, "sigHexDataInt.txt").strip()
    assert signed == json.loads(_text(folder, "signedDataInt.json"))


def test_the_published_signed_vector_verifies_and_a_changed_one_does_not():
    public = keys.from_multibase(KEY_PAIR["publicKeyMultibase"])
    signed = json.loads(_text(VECTORS, "signedDataInt.json"))
    assert data_integrity.signature_valid(signed, public, LOADER)
    signed["credentialSubject"]["alumniOf"] = "The School of Exampled"
    assert not data_integrity.signature_valid(signed, public, LOADER)


def test_the_loader_never_fetches_a_context_it_does_not_bundle():
    with pytest.raises(data_integrity.UnknownContext, match="never fetched"):
        data_integrity.LOADER("https://example.org/ctx", {})
    assert "https://www.w3.org/ns/credentials/examples/v2" not in contexts.FILES


def test_a_proof_of_another_cryptosuite_is_refused_by_name():
    signed = json.loads(_text(VECTORS, "signedDataInt.json"))
    signed["proof"]["cryptosuite"] = "eddsa-jcs-2022"
    with pytest.raises(data_integrity.ProofError, match="eddsa-rdfc-2022"):
        data_integrity.split(signed)


def test_the_loader_serves_copies_of_bundled_and_given_documents_and_fetches_nothing():
    extra = {"https://example.org/ctx": {"@context": {"name": "https://schema.org/name"}}}
    load = data_integrity.static_loader(extra)
    served = load("https://example.org/ctx", {})
    assert served == {"contextUrl": None, "documentUrl": "https://example.org/ctx", "document": extra[
        "https://example.org/ctx"], "tag": "static"}
    served["document"]["@context"]["name"] = "changed"
    assert load("https://example.org/ctx", {})["document"] == {"@context": {"name": "https://schema.org/name"}}
    assert load(contexts.VC2, {})["document"] == contexts.document(contexts.VC2)
    with pytest.raises(data_integrity.UnknownContext, match="context https://example.org/other is not bundled"):
        load("https://example.org/other", {})
    with pytest.raises(data_integrity.UnknownContext):
        data_integrity.static_loader()("https://example.org/ctx", {})


def test_the_multikey_document_a_verification_method_dereferences_to():
    assert data_integrity.multikey_document("https://i.test/keys/key-1", "https://i.test", "z6Mkx") == {
        "@context": contexts.MULTIKEY_V1, "id": "https://i.test/keys/key-1", "type": "Multikey",
        "controller": "https://i.test", "publicKeyMultibase": "z6Mkx"}


PROOF = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "proofPurpose": "assertionMethod",
         "verificationMethod": "https://i.test/keys/key-1", "created": "2026-01-01T00:00:00Z", "proofValue": "z1"}


@pytest.mark.parametrize(("proof", "message"), [
    ([PROOF, PROOF], "proof: one embedded Data Integrity proof is required (an object, or a list of one)"),
    ({**PROOF, "type": "Ed25519Signature2020"}, "proof: type DataIntegrityProof with cryptosuite eddsa-rdfc-2022 is "
                                                "required, not 'Ed25519Signature2020'/'eddsa-rdfc-2022'"),
    ({**PROOF, "cryptosuite": "eddsa-jcs-2022"}, "proof: type DataIntegrityProof with cryptosuite eddsa-rdfc-2022 is "
                                                 "required, not 'DataIntegrityProof'/'eddsa-jcs-2022'"),
    ({**PROOF, "proofPurpose": "authentication"},
     "proof.proofPurpose: assertionMethod is required, not 'authentication'"),
    ({k: v for k, v in PROOF.items() if k != "created"}, "proof.created: required"),
])
def test_a_malformed_proof_is_refused_naming_the_field_and_the_rule(proof, message):
    with pytest.raises(data_integrity.ProofError) as refused:
        data_integrity.split({"id": "urn:x", "proof": proof})
    assert str(refused.value) == message


def test_a_proof_in_a_list_of_one_is_the_proof():
    assert data_integrity.split({"id": "urn:x", "proof": [PROOF]}) == ({"id": "urn:x"}, PROOF)


@pytest.mark.parametrize(("value", "message"), [
    ("u1234", "proof.proofValue: must be multibase base58-btc ('z...')"),
    ("z0OIl", "proof.proofValue: "),
])
def test_a_proof_value_that_is_not_base58_btc_is_refused(value, message):
    with pytest.raises(data_integrity.ProofError) as refused:
        data_integrity.signature_valid({"id": "urn:x", "proof": {**PROOF, "proofValue": value}},
                                       Ed25519PrivateKey.generate().public_key())
    assert str(refused.value).startswith(message) and len(str(refused.value)) > len("proof.proofValue: ")


def test_a_document_that_is_not_json_ld_is_refused_with_pylds_own_words():
    with pytest.raises(data_integrity.CanonicalisationError) as refused:
        data_integrity.canonical({"@context": 5, "name": "x"})
    assert str(refused.value) == "Invalid JSON-LD syntax; @context must be an object."


# Beside VC 2.0, which defines every term of the proof options (safe mode refuses a term no context defines).
NAME = {"@context": {"alias": "https://schema.org/alternateName"}}


def fresh_context() -> str:
    """A context URL no call in this process resolved before: pyld caches a context by URL for the whole process
    (and the mutation run forks each mutant from a process that already ran these tests), so only a new URL shows
    which loader a step used."""
    return f"https://creditflow.invalid/{uuid.uuid4()}/v1"


def test_hashing_resolves_the_documents_contexts_with_the_loader_given():
    url = fresh_context()
    document = {"@context": [url], "alias": "Ada"}
    options = {"@context": contexts.VC2, "type": "DataIntegrityProof", "created": "2026-01-01T00:00:00Z"}
    loader = data_integrity.static_loader({url: NAME})
    combined = data_integrity.hash_data(document, options, loader)
    assert combined == (hashlib.sha256(data_integrity.canonical(options).encode()).digest()
                        + hashlib.sha256(data_integrity.canonical(document, loader).encode()).digest())


def test_signing_and_verifying_resolve_contexts_with_the_loader_given_and_the_proof_covers_the_rdf():
    private, signing, verifying = Ed25519PrivateKey.generate(), fresh_context(), fresh_context()
    signed = data_integrity.sign({"@context": [contexts.VC2, signing], "alias": "Ada"}, private, "https://i.test/keys/key-1",
                                 datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
                                 data_integrity.static_loader({signing: NAME}))
    # The same statements under another context URL: the signature is over the canonical RDF, not the JSON.
    moved = {**signed, "@context": [contexts.VC2, verifying]}
    assert data_integrity.signature_valid(moved, private.public_key(), data_integrity.static_loader({verifying: NAME}))


def test_a_proof_set_holds_the_one_proof_in_a_list():
    private = Ed25519PrivateKey.generate()
    unsigned = {"@context": [contexts.VC2], "id": "urn:x", "type": ["VerifiableCredential"]}
    created = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    single = data_integrity.sign(unsigned, private, "https://i.test/keys/key-1", created)
    assert data_integrity.sign(unsigned, private, "https://i.test/keys/key-1", created, proof_set=True) == {
        **unsigned, "proof": [single["proof"]]}
