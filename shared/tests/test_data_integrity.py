"""eddsa-rdfc-2022 as creditflow implements it reproduces the W3C test vectors byte for byte: canonical forms,
hashes and signature, for the plain and the `employ` example (Data Integrity EdDSA Cryptosuites v1.0, Appendix A)."""

import hashlib
import json
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
