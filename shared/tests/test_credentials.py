"""Signing and verification: tampering, key rotation, revocation, an unreachable status list, and a check by an
independent JOSE implementation."""

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from creditflow.credentials import jose, keys, ob_jwt, status_list
from creditflow.credentials.verify import RegisteredKey, any_of, check_proof, key_reference, registered_keys, verify
from creditflow.events import InstitutionRegisteredData, PublicKey

ISSUER = "https://issuer.example/institutions/uni-tartu"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def credential(valid_from=T0 + timedelta(days=10), index=42):
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:uuid:c1",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": ISSUER, "type": ["Profile"], "name": "University of Tartu"},
        "validFrom": valid_from.isoformat(),
        "credentialSubject": {"id": "learner-1", "achievement": {"name": "Data literacy"}},
        "credentialStatus": {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(index),
            "statusListCredential": ISSUER + "/status/revocation",
        },
    }


class Keyring:
    def __init__(self):
        self.keys = {}

    def add(self, key_id, valid_from=T0, retired_at=None):
        private = keys.generate()
        kid = f"{ISSUER}#{key_id}"
        self.keys[kid] = RegisteredKey(kid, "uni-tartu", ISSUER, private.public_key(), valid_from, retired_at)
        return private, kid

    async def resolve(self, kid):
        return self.keys.get(kid)


@pytest.fixture
def keyring():
    return Keyring()


def status_credential(private, kid, revoked_indexes=()):
    bits = status_list.empty()
    for index in revoked_indexes:
        bits = status_list.set_bit(bits, index)
    listed = {"@context": ["https://www.w3.org/ns/credentials/v2"], "issuer": ISSUER, "validFrom": T0.isoformat(),
              "type": ["VerifiableCredential", "BitstringStatusListCredential"],
              "credentialSubject": {"type": "BitstringStatusList", "statusPurpose": "revocation",
                                    "encodedList": status_list.encode(bits)}}
    return jose.sign(listed, private, kid)


def serving(document):
    async def fetch(url):
        return document

    return fetch


NOW = T0 + timedelta(days=30)


async def test_a_signed_credential_verifies_as_valid(keyring):
    private, kid = keyring.add("key-1")
    secured = jose.envelope(jose.sign(credential(), private, kid))
    result = await verify(secured, keyring.resolve, serving(status_credential(private, kid)), NOW)
    assert (result.status, result.reasons) == ("valid", [])


async def test_one_changed_byte_fails_verification(keyring):
    private, kid = keyring.add("key-1")
    jws = jose.sign(credential(), private, kid)
    header, payload, signature = jws.split(".")
    tampered_payload = keys.b64url(keys.b64url_decode(payload).replace(b"Data literacy", b"Data literacz"))
    for tampered in (f"{header}.{tampered_payload}.{signature}", jws[:-2] + ("A" if jws[-2] != "A" else "B") + jws[-1]):
        result = await check_proof(tampered, keyring.resolve)
        assert result.status == "invalid" and "signature does not verify" in result.reasons[0]


async def test_a_key_registered_to_nobody_is_refused(keyring):
    stranger = keys.generate()
    result = await check_proof(jose.sign(credential(), stranger, f"{ISSUER}#forged"), keyring.resolve)
    assert result.status == "invalid" and "is not registered" in result.reasons[0]


async def test_after_rotation_the_old_key_still_verifies_what_it_signed_but_signs_nothing_new(keyring):
    rotated_at = T0 + timedelta(days=20)
    old, old_kid = keyring.add("key-1", retired_at=rotated_at)
    new, new_kid = keyring.add("key-2", valid_from=rotated_at)
    before = jose.sign(credential(valid_from=T0 + timedelta(days=10)), old, old_kid)
    after_with_old = jose.sign(credential(valid_from=T0 + timedelta(days=25)), old, old_kid)
    after_with_new = jose.sign(credential(valid_from=T0 + timedelta(days=25)), new, new_kid)
    assert (await check_proof(before, keyring.resolve)).status == "valid"
    assert (await check_proof(after_with_new, keyring.resolve)).status == "valid"
    refused = await check_proof(after_with_old, keyring.resolve)
    assert refused.status == "invalid" and "was not valid for uni-tartu at validFrom" in refused.reasons[0]


async def test_a_credential_claiming_another_issuer_is_refused(keyring):
    private, kid = keyring.add("key-1")
    claimed = {**credential(), "issuer": {"id": "https://issuer.example/institutions/uni-helsinki"}}
    result = await check_proof(jose.sign(claimed, private, kid), keyring.resolve)
    assert result.status == "invalid" and "is not the holder of key" in result.reasons[0]


async def test_revocation_is_read_from_the_status_list(keyring):
    private, kid = keyring.add("key-1")
    secured = jose.sign(credential(index=42), private, kid)
    revoked = await verify(secured, keyring.resolve, serving(status_credential(private, kid, [42])), NOW)
    neighbour = await verify(secured, keyring.resolve, serving(status_credential(private, kid, [41, 43])), NOW)
    assert revoked.status == "revoked" and "index 42" in revoked.reasons[0]
    assert neighbour.status == "valid"


async def test_an_unreachable_status_list_gives_unknown_never_valid(keyring):
    private, kid = keyring.add("key-1")
    result = await verify(jose.sign(credential(), private, kid), keyring.resolve, serving(None), NOW)
    assert result.status == "unknown" and "could not be fetched" in result.reasons[0]


async def test_a_status_list_signed_by_someone_else_gives_unknown(keyring):
    private, kid = keyring.add("key-1")
    forger = keys.generate()
    fake_list = status_credential(forger, kid)
    result = await verify(jose.sign(credential(), private, kid), keyring.resolve, serving(fake_list), NOW)
    assert result.status == "unknown" and "does not verify" in result.reasons[0]


def test_status_lists_hold_at_least_131072_entries_and_round_trip():
    bits = status_list.set_bit(status_list.empty(), 131_071)
    decoded = status_list.decode(status_list.encode(bits))
    assert len(decoded) * 8 >= 131_072
    assert status_list.get(decoded, 131_071) and not status_list.get(decoded, 0)
    assert not status_list.get(status_list.set_bit(decoded, 131_071, False), 131_071)


def test_multibase_keys_round_trip():
    public = keys.generate().public_key()
    encoded = keys.to_multibase(public)
    assert encoded.startswith("z6Mk")  # the familiar prefix of Ed25519 did:key identifiers
    assert keys.raw_public(keys.from_multibase(encoded)) == keys.raw_public(public)


def test_an_independent_jose_library_verifies_a_creditflow_signature():
    private = keys.generate()
    jws = jose.sign(credential(), private, f"{ISSUER}#key-1")
    jwk = keys.to_jwk(private.public_key(), f"{ISSUER}#key-1")
    public = jwt.PyJWK(jwk).key
    payload = jwt.decode(jws, public, algorithms=["EdDSA"], options={"verify_aud": False})
    assert payload["credentialSubject"]["achievement"]["name"] == "Data literacy"
    assert jwt.get_unverified_header(jws)["typ"] == "vc+jwt"
    tampered = jws[:-4] + ("AAAA" if not jws.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, public, algorithms=["EdDSA"])


def test_a_registration_declares_one_key_per_public_key_with_its_window_and_none_without_an_issuer_id():
    first, second = keys.generate(), keys.generate()
    registration = InstitutionRegisteredData(
        institution_id="uni-tartu", name="University of Tartu", country="EE", credit_frameworks=["ects"],
        issuer_id=ISSUER, public_keys=[
            PublicKey(key_id="key-1", public_key_multibase=keys.to_multibase(first.public_key()), valid_from=T0,
                      retired_at=T0 + timedelta(days=30)),
            PublicKey(key_id="key-2", public_key_multibase=keys.to_multibase(second.public_key()),
                      valid_from=T0 + timedelta(days=30))])
    declared = registered_keys(registration)
    assert [(k.kid, k.institution_id, k.issuer_id, k.valid_from, k.retired_at) for k in declared] == [
        (f"{ISSUER}#key-1", "uni-tartu", ISSUER, T0, T0 + timedelta(days=30)),
        (f"{ISSUER}#key-2", "uni-tartu", ISSUER, T0 + timedelta(days=30), None)]
    assert [keys.to_multibase(k.public_key) for k in declared] == [
        keys.to_multibase(first.public_key()), keys.to_multibase(second.public_key())]
    assert registered_keys(registration.model_copy(update={"issuer_id": None})) == []


async def test_any_of_answers_the_first_key_a_resolver_knows_in_order():
    ring, other = Keyring(), Keyring()
    ring.add("key-1")
    other.add("key-1")
    other.add("key-2")
    resolve = any_of(ring.resolve, other.resolve)
    assert await resolve(f"{ISSUER}#key-1") is ring.keys[f"{ISSUER}#key-1"]
    assert await resolve(f"{ISSUER}#key-2") is other.keys[f"{ISSUER}#key-2"]
    assert await resolve(f"{ISSUER}#key-3") is None


def with_header(jws, **header):
    """The JWS with its protected header replaced (the signature is then over another input: it must not matter,
    the alg check comes first)."""
    _, payload, signature = jws.split(".")
    return ".".join([keys.b64url(json.dumps(header).encode()), payload, signature])


@pytest.mark.parametrize("header", [
    {"alg": "none", "typ": "vc+jwt"}, {"alg": "HS256", "typ": "vc+jwt"}, {"alg": "ES256", "typ": "vc+jwt"},
    {"alg": "EdDSA256", "typ": "vc+jwt"}, {"typ": "vc+jwt"}, {"alg": "ES256", "typ": "jwt"}])
async def test_only_eddsa_vc_jose_and_es256_open_badges_jwts_are_accepted(keyring, header):
    private, kid = keyring.add("key-1")
    unsigned = f"{keys.b64url(json.dumps({**header, 'kid': kid}).encode())}.{keys.b64url(b'{}')}."
    for jws, presented in ((with_header(jose.sign(credential(), private, kid), kid=kid, **header), credential()),
                           (unsigned, {})):
        result = await check_proof(jws, keyring.resolve)
        assert (result.status, result.credential) == ("invalid", presented)
        assert result.reasons == [f"unsupported JWS alg {header.get('alg')!r} / typ {header['typ']!r}: creditflow "
                                  "accepts ES256 JWT (Open Badges 3.0) and EdDSA vc+jwt (VC-JOSE)"]


async def test_an_eddsa_jws_naming_a_key_of_another_type_is_refused(keyring):
    private, kid = keyring.add("key-1")
    p256 = keys.generate_p256()
    keyring.keys[kid] = RegisteredKey(kid, "uni-tartu", ISSUER, p256.public_key(), T0)
    result = await check_proof(jose.sign(credential(), private, kid), keyring.resolve)
    assert (result.status, result.reasons) == ("invalid", [f"key {kid} is not a Ed25519PublicKey key"])


@pytest.mark.parametrize(("valid_until", "status"), [
    (NOW + timedelta(seconds=1), "valid"), (NOW, "invalid"), (NOW - timedelta(days=1), "invalid")])
async def test_a_credential_is_valid_until_its_valid_until_instant(keyring, valid_until, status):
    private, kid = keyring.add("key-1")
    expiring = {**credential(), "validUntil": valid_until.isoformat()}
    result = await verify(jose.sign(expiring, private, kid), keyring.resolve, None, NOW)
    assert result.status == status
    if status == "invalid":
        assert result.reasons == [f"expired at {valid_until.isoformat()}"]


async def test_a_valid_answer_carries_the_credential_the_key_and_the_format(keyring):
    private, kid = keyring.add("key-1")
    result = await verify(jose.envelope(jose.sign(credential(), private, kid)), keyring.resolve, None, NOW)
    assert (result.status, result.credential, result.key, result.format) == (
        "valid", credential(), keyring.keys[kid], "vc-jose")


@pytest.mark.parametrize("proof", [None, [], {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022"}])
async def test_a_malformed_data_integrity_proof_is_invalid_naming_it(keyring, proof):
    secured = {**credential(), "proof": proof}
    result = await check_proof(secured, keyring.resolve)
    assert (result.status, result.credential, result.format) == ("invalid", secured, "data-integrity")
    assert len(result.reasons) == 1 and result.reasons[0].startswith("proof")


@pytest.mark.parametrize(("jws", "reason"), [
    ("a.b", "a compact JWS has three dot-separated parts"), ("not base64!.e30.", "undecodable JWS: "),
    ("e30.e30.e30.e30", "a compact JWS has three dot-separated parts"),
    ("WzFd.e30.", "JWS header and payload must be JSON objects")])
async def test_a_malformed_jws_is_invalid_with_the_reason(keyring, jws, reason):
    result = await check_proof(jws, keyring.resolve)
    assert (result.status, result.credential, result.format) == ("invalid", None, None)
    assert len(result.reasons) == 1 and result.reasons[0].startswith(reason)


def ob_credential():
    return {**credential(), "id": "urn:uuid:c1", "credentialSubject": {"id": "did:example:learner-1"},
            "validFrom": T0.isoformat().replace("+00:00", "Z")}


async def test_an_open_badges_jwt_whose_claims_disagree_with_its_credential_is_invalid_naming_each(keyring):
    p256 = keys.generate_p256()
    kid = f"{ISSUER}#es256-key-1"
    keyring.keys[kid] = RegisteredKey(kid, "uni-tartu", ISSUER, p256.public_key(), T0)
    token = ob_jwt.sign(ob_credential(), p256, kid, T0 + timedelta(days=1))
    header, payload, _ = token.split(".")
    claims = {**json.loads(keys.b64url_decode(payload)), "sub": "did:example:someone-else"}
    forged = f"{header}.{keys.b64url(json.dumps(claims).encode())}.{token.split('.')[2]}"
    result = await check_proof(forged, keyring.resolve)
    assert (result.status, result.credential, result.format) == ("invalid", ob_credential(), "ob-jwt")
    assert result.reasons == ["sub: 'did:example:someone-else' differs from the credential's 'did:example:learner-1'"]


@pytest.mark.parametrize(("valid_from", "retired_at", "status"), [
    (timedelta(seconds=0.5), None, "valid"),  # a key made within the iat second signed in that second
    (timedelta(seconds=1) - timedelta(microseconds=1), None, "valid"),  # made in its last microsecond
    (timedelta(seconds=1), None, "invalid"),  # made after it
    (timedelta(days=-1), timedelta(seconds=1), "valid"),  # retired as the second ended
    (timedelta(days=-1), timedelta(seconds=0.5), "invalid"),  # retired within it: judged at the second's end
])
async def test_an_open_badges_jwt_is_judged_at_the_end_of_its_iat_second(keyring, valid_from, retired_at, status):
    signed_at = T0 + timedelta(days=1)  # a whole second: iat = signed_at
    p256 = keys.generate_p256()
    kid = f"{ISSUER}#es256-key-1"
    keyring.keys[kid] = RegisteredKey(kid, "uni-tartu", ISSUER, p256.public_key(), signed_at + valid_from,
                                      signed_at + retired_at if retired_at else None)
    result = await check_proof(ob_jwt.sign(ob_credential(), p256, kid, signed_at), keyring.resolve)
    assert result.status == status, result.reasons
    if status == "invalid":
        assert result.reasons[0].startswith(f"key {kid} was not valid for uni-tartu at iat ")


def test_a_key_may_sign_from_its_first_instant_until_before_its_retirement():
    key = RegisteredKey("k", "uni-tartu", ISSUER, keys.generate().public_key(), T0, T0 + timedelta(days=1))
    assert [key.may_sign_at(T0 - timedelta(microseconds=1)), key.may_sign_at(T0),
            key.may_sign_at(T0 + timedelta(days=1) - timedelta(microseconds=1)),
            key.may_sign_at(T0 + timedelta(days=1))] == [False, True, True, False]


async def test_each_embedded_credential_that_fails_is_named_by_its_position(keyring):
    private, kid = keyring.add("key-1")
    good = jose.envelope(jose.sign(credential(), private, kid))
    forged = jose.envelope(jose.sign(credential(), keys.generate(), kid))
    clr = {**credential(), "credentialSubject": {"id": "learner-1", "verifiableCredential": [forged, good, forged]}}
    result = await verify(jose.sign(clr, private, kid), keyring.resolve, None, NOW)
    reason = f"signature does not verify with key {kid}"
    assert (result.status, result.reasons) == ("invalid", [f"credentialSubject.verifiableCredential[{n}]: {reason}"
                                                           for n in (0, 2)])
    one = {**credential(), "credentialSubject": {"id": "learner-1", "verifiableCredential": forged}}
    result = await verify(jose.sign(one, private, kid), keyring.resolve, None, NOW)
    assert result.reasons == [f"credentialSubject.verifiableCredential[0]: {reason}"]


async def test_only_revocation_entries_are_read_and_each_from_its_own_list(keyring):
    private, kid = keyring.add("key-1")
    fetched = []

    async def fetch(url):
        fetched.append(url)
        return status_credential(private, kid, [42])

    suspension = {"type": "BitstringStatusListEntry", "statusPurpose": "suspension", "statusListIndex": "42",
                  "statusListCredential": ISSUER + "/status/suspension"}
    entries = [suspension, credential()["credentialStatus"]]
    result = await verify(jose.sign({**credential(), "credentialStatus": entries}, private, kid), keyring.resolve,
                          fetch, NOW)
    assert (result.status, fetched) == ("revoked", [ISSUER + "/status/revocation"])
    assert result.reasons == [f"revoked in {ISSUER}/status/revocation at index 42"]


async def test_a_status_list_of_another_issuer_or_unreadable_gives_unknown_with_the_reason(keyring):
    private, kid = keyring.add("key-1")
    other, other_kid = keyring.add("key-9")
    other_issuer = "https://issuer.example/institutions/uni-helsinki"
    keyring.keys[other_kid] = RegisteredKey(other_kid, "uni-helsinki", other_issuer, other.public_key(), T0)
    listed = {**jose.parse(status_credential(other, other_kid))[1], "issuer": other_issuer}
    url = ISSUER + "/status/revocation"
    secured = jose.sign(credential(), private, kid)
    result = await verify(secured, keyring.resolve, serving(jose.sign(listed, other, other_kid)), NOW)
    assert (result.status, result.reasons) == ("unknown", [f"status list {url} does not verify: signed by another "
                                                           "issuer"])
    unreadable = {**jose.parse(status_credential(private, kid))[1], "credentialSubject": {}}
    result = await verify(secured, keyring.resolve, serving(jose.sign(unreadable, private, kid)), NOW)
    assert (result.status, result.credential, result.key) == ("unknown", credential(), keyring.keys[kid])
    assert result.reasons == [f"status list {url} is unreadable: 'encodedList'"]


async def test_an_invalid_answer_still_says_what_was_presented_and_which_key_it_named(keyring):
    private, kid = keyring.add("key-1")
    unknown = await check_proof(jose.sign(credential(), private, f"{ISSUER}#key-7"), keyring.resolve)
    assert (unknown.reasons, unknown.credential, unknown.key, unknown.format) == (
        [f"key '{ISSUER}#key-7' is not registered to any institution"], credential(), None, "vc-jose")
    forged = await check_proof(jose.sign(credential(), keys.generate(), kid), keyring.resolve)
    assert (forged.credential, forged.key, forged.format) == (credential(), keyring.keys[kid], "vc-jose")
    keyring.keys[kid] = RegisteredKey(kid, "uni-tartu", ISSUER, keys.generate_p256().public_key(), T0)
    wrong_type = await check_proof(jose.sign(credential(), private, kid), keyring.resolve)
    assert (wrong_type.credential, wrong_type.key, wrong_type.format) == (credential(), keyring.keys[kid], "vc-jose")
    nothing = await check_proof({"id": "urn:x"}, keyring.resolve)
    assert nothing.status == "invalid" and nothing.reasons[0].startswith("not a credential creditflow can verify")


@pytest.mark.parametrize(("method", "reference"), [
    ("https://i.test/institutions/uni-x/keys/key-1", "https://i.test/institutions/uni-x#key-1"),
    ("https://i.test/keys/a/keys/key-1", "https://i.test/keys/a#key-1"),  # the last /keys/ names the key
    ("https://i.test/keys/key-1/extra", "https://i.test/keys/key-1/extra"),
    ("https://i.test/keys/", "https://i.test/keys/"),
    ("https://i.test#key-1", "https://i.test#key-1"),  # already a reference (a legacy JWS kid)
])
def test_a_verification_method_url_names_the_registrys_key_reference(method, reference):
    assert key_reference(method) == reference


async def test_a_jws_naming_no_key_is_refused_naming_no_key(keyring):
    private, kid = keyring.add("key-1")
    result = await check_proof(with_header(jose.sign(credential(), private, kid), alg="EdDSA", typ="vc+jwt"),
                               keyring.resolve)
    assert (result.status, result.reasons) == ("invalid", ["key '' is not registered to any institution"])


async def test_a_vc_jose_credential_without_a_valid_from_is_refused_naming_it(keyring):
    private, kid = keyring.add("key-1")
    undated = {k: v for k, v in credential().items() if k != "validFrom"}
    result = await check_proof(jose.sign(undated, private, kid), keyring.resolve)
    assert (result.status, result.reasons) == ("invalid", ["validFrom is missing or not a date-time"])


def es256_token(claims, private, kid):
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})


async def test_an_open_badges_jwt_without_a_credential_or_with_a_text_iat_is_invalid_naming_the_claim(keyring):
    p256 = keys.generate_p256()
    kid = f"{ISSUER}#es256-key-1"
    keyring.keys[kid] = RegisteredKey(kid, "uni-tartu", ISSUER, p256.public_key(), T0)
    claims = ob_jwt.claims(ob_credential(), T0 + timedelta(days=1))
    no_vc = {**claims, "vc": "urn:uuid:c1"}
    result = await check_proof(es256_token(no_vc, p256, kid), keyring.resolve)
    assert (result.status, result.reasons) == ("invalid", ["vc: the JWT must carry the credential in its vc claim"])
    assert result.credential == no_vc  # what was presented, as it was
    text_iat = {**claims, "iat": (T0 + timedelta(days=1)).isoformat()}
    result = await check_proof(es256_token(text_iat, p256, kid), keyring.resolve)
    assert (result.status, result.reasons) == ("invalid", ["iat is missing or not a date-time"])


async def test_a_credential_with_several_subjects_embeds_nothing_and_verifies(keyring):
    private, kid = keyring.add("key-1")
    several = {**credential(), "credentialSubject": [{"id": "learner-1"}, {"id": "learner-2"}]}
    assert (await verify(jose.sign(several, private, kid), keyring.resolve, None, NOW)).status == "valid"


async def test_a_status_list_failing_several_checks_names_each_and_one_without_a_url_is_unknown(keyring):
    private, kid = keyring.add("key-1")
    url = ISSUER + "/status/revocation"
    early = {**jose.parse(status_credential(private, kid))[1], "issuer": "https://issuer.example/other",
             "validFrom": (T0 - timedelta(days=1)).isoformat()}
    result = await verify(jose.sign(credential(), private, kid), keyring.resolve,
                          serving(jose.sign(early, private, kid)), NOW)
    assert (result.status, result.reasons) == ("unknown", [
        f"status list {url} does not verify: issuer 'https://issuer.example/other' is not the holder of key {kid}; "
        f"key {kid} was not valid for uni-tartu at validFrom {(T0 - timedelta(days=1)).isoformat()}"])
    entry = {k: v for k, v in credential()["credentialStatus"].items() if k != "statusListCredential"}
    result = await verify(jose.sign({**credential(), "credentialStatus": entry}, private, kid), keyring.resolve,
                          serving(None), NOW)
    assert (result.status, result.reasons) == ("unknown", ["status list  could not be fetched"])
