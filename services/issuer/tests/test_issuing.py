"""The issuer on the real broker and FerretDB: institutions, achievements, awards, tokens, revocation, outbox."""

import asyncio
import copy
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from kafka_helpers import records

from creditflow.credentials import contexts, keys, status_list
from creditflow.credentials.subjects import learner_subject_id
from creditflow.credentials.verify import check_proof, verification_method, verify
from creditflow.events import Achievement, decode
from creditflow.events.topics import CREDENTIALS, INSTITUTIONS
from creditflow.issuer import api, credential, domain
from creditflow.issuer.app import create_app, outboxes
from creditflow.runtime.outbox import OUTBOX, RELAY_GRACE, relay_all
from creditflow.issuer.keystore import FileKeyStore
from creditflow.issuer.rules import Institution
from creditflow.issuer.store import IssuerStore

pytestmark = pytest.mark.integration
PUBLIC_URL = "http://issuer.test"


class Issuer:
    def __init__(self, app, client, store, servers, key_store):
        self.app, self.client, self.store, self.servers, self.key_store = app, client, store, servers, key_store

    async def token(self, institution_id=None):
        return self.servers.identity.bearer(institution_id)

    async def institution(self, **overrides):
        institution_id = overrides.pop("institution_id", f"uni-{uuid.uuid4().hex[:8]}")
        body = {"institution_id": institution_id, "name": "University of Tartu", "country": "EE",
                "credit_frameworks": ["ects"], **overrides}
        response = await self.client.post("/institutions", json=body, headers=await self.token())
        assert response.status_code == 201, response.text
        return institution_id, await self.token(institution_id)

    async def achievement(self, institution_id, headers, **overrides):
        body = {"achievement_id": "ach-1", "institution_id": institution_id, "title": "Data literacy",
                "learning_outcomes": [{"statement": "Explain the limits of a data set"}], "workload_hours": 125,
                "credits": {"value": 5, "framework": "ects"}, "level": {"eqf": 6}, "assessment_type": "exam",
                "participation_form": "online", "quality_assurance_type": "external accreditation", **overrides}
        response = await self.client.post("/achievements", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return body["achievement_id"]

    async def issued(self, **award):
        """A new institution and achievement, and one award of it (the POST /awards answer), with its token."""
        institution_id, headers = await self.institution()
        await self.achievement(institution_id, headers)
        body = {"request_id": "r-1", "learner_id": "l-1", "achievement_id": "ach-1", **award}
        response = await self.client.post("/awards", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return institution_id, headers, response.json()

    async def verify(self, secured):
        """The shared verification function, as POST /verify runs it, with the status list read in-process."""
        resolve = self.store.key_resolver(credential.issuer_id(PUBLIC_URL, ""))
        return await verify(secured, resolve, self.status_list, datetime.now(UTC))

    async def status_list(self, url):
        response = await self.client.get(url.removeprefix(PUBLIC_URL))
        return response.text if response.status_code == 200 else None


@pytest.fixture
async def issuer(servers, tmp_path):
    settings = servers.settings("issuer", mongodb_database=f"t{servers.run_id}_issuer_{uuid.uuid4().hex[:6]}")
    options = api.Options(public_url=PUBLIC_URL, key_store=FileKeyStore(tmp_path / "keys"))
    app = create_app(settings, options)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
            yield Issuer(app, client, IssuerStore(app.state.runtime.db), servers, options.key_store)


async def test_first_award_is_signed_verifiable_and_published_once(issuer):
    institution_id, headers = await issuer.institution()
    achievement_id = await issuer.achievement(institution_id, headers)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    award = {"request_id": "r-1", "learner_id": learner, "achievement_id": achievement_id, "grade": "A"}

    first = await issuer.client.post("/awards", json=award, headers=headers)
    again = await issuer.client.post("/awards", json=award, headers=headers)

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["credential_id"] == first.json()["credential_id"]
    resolve = issuer.store.key_resolver(credential.issuer_id(PUBLIC_URL, ""))
    proof = await check_proof(first.json()["credential"], resolve)
    assert proof.valid, proof.reasons
    subject = proof.credential["credentialSubject"]
    assert subject["id"] == learner_subject_id(learner) and subject["achievement"]["name"] == "Data literacy"
    assert proof.format == "data-integrity" and first.json()["credential"]["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022"
    size = subject["achievement"]["euMicroCredential"]["sizeBand"]
    assert size["band"] == "micro" and "Common Microcredential Framework" in size["rule"]  # 125 h at EQF 6
    assert proof.credential["issuer"]["address"]["addressCountry"] == "EE"

    [published] = await records(issuer.servers.admin, CREDENTIALS.name, learner)
    event = decode(published.value)
    assert event.data.credential_id == first.json()["credential_id"]
    assert [c.method for c in event.data.credit_conversions] == ["identity"]


async def test_registration_publishes_the_public_keys_and_keeps_private_keys_private(issuer, tmp_path):
    institution_id, _ = await issuer.institution()
    [record] = await records(issuer.servers.admin, INSTITUTIONS.name, institution_id)
    assert decode(record.value).data.public_keys[0].public_key_multibase.startswith("z6Mk")
    assert b"PRIVATE" not in record.value
    pems = list((tmp_path / "keys").rglob("*.pem"))
    assert len(pems) == 2 and all(pem.stat().st_mode & 0o777 == 0o600 for pem in pems)  # Ed25519 and P-256
    assert {oct(folder.stat().st_mode & 0o777) for folder in [tmp_path / "keys", pems[0].parent]} == {"0o700"}
    jwks = (await issuer.client.get(f"/institutions/{institution_id}/jwks")).json()
    assert jwks["keys"][0]["kid"] == f"{PUBLIC_URL}/institutions/{institution_id}#key-1"


async def test_an_achievement_that_could_never_be_awarded_is_refused_at_publication_naming_each_field(issuer):
    institution_id, headers = await issuer.institution()
    base = {"achievement_id": "ach-x", "institution_id": institution_id, "title": "Data literacy",
            "learning_outcomes": [], "workload_hours": 40, "credits": {"value": 5, "framework": "ects"},
            "level": {"eqf": 6}, "assessment_type": "exam", "quality_assurance_type": "external accreditation"}
    response = await issuer.client.post("/achievements", json=base, headers=headers)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    # The award's names, relative to the achievement (the request body).
    assert [e["field"] for e in response.json()["errors"]] == ["learning_outcomes", "participation_form",
                                                               "credits"]
    assert "missing EU standard element 6 learning outcomes" in response.json()["detail"]
    assert "8.0 h per credit" in response.json()["detail"]
    award = await issuer.client.post(
        "/awards", json={"request_id": "r", "learner_id": "l-1", "achievement_id": "ach-x"}, headers=headers)
    assert award.status_code == 422 and award.json()["errors"][0]["field"] == "achievement_id"  # nothing stored


async def test_an_award_of_an_achievement_stored_before_the_publication_check_is_still_refused(issuer):
    """Achievements published before POST /achievements checked them may lack elements: the award names each."""
    institution_id, headers = await issuer.institution()
    incomplete = Achievement(achievement_id="ach-old", institution_id=institution_id, title="Data literacy",
                             workload_hours=40, credits={"value": 5, "framework": "ects"}, level={"eqf": 6},
                             assessment_type="exam", quality_assurance_type="external accreditation")
    now = datetime.now(UTC)
    await issuer.store.publish_achievement(incomplete, domain.achievement_published(incomplete, now, "c"), now)
    response = await issuer.client.post(
        "/awards", json={"request_id": "r", "learner_id": "l-1", "achievement_id": "ach-old"}, headers=headers)
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["achievement.learning_outcomes", "achievement.participation_form", "achievement.credits"]
    assert "Annex I" in response.json()["detail"] and "8.0 h per credit" in response.json()["detail"]
    unknown = await issuer.client.post(
        "/awards", json={"request_id": "r2", "learner_id": "l-1", "achievement_id": "nope"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "achievement_id"


async def test_a_token_acts_for_its_own_institution_only(issuer):
    a_id, a_headers = await issuer.institution()
    b_id, b_headers = await issuer.institution()
    await issuer.achievement(b_id, b_headers)
    award = await issuer.client.post(
        "/awards", json={"request_id": "r", "learner_id": "l-1", "achievement_id": "ach-1"}, headers=b_headers)
    credential_id = award.json()["credential_id"]

    attempts = [
        await issuer.client.post("/achievements", json={"achievement_id": "x", "institution_id": b_id, "title": "X"},
                                 headers=a_headers),
        await issuer.client.post(f"/credentials/{credential_id}/revoke", json={"reason": "x"}, headers=a_headers),
        await issuer.client.post(f"/institutions/{b_id}/keys/rotate", headers=a_headers),
        await issuer.client.get(f"/credentials/{credential_id}", headers=a_headers),
        await issuer.client.post("/institutions", json={"institution_id": "c", "name": "C", "country": "EE",
                                                        "credit_frameworks": ["ects"]}, headers=a_headers),
    ]
    # B's credentials are not found by A (0002: existence does not leak); the rest names what A may not do.
    assert [r.status_code for r in attempts] == [403, 404, 403, 404, 403]
    # A's token awarding B's achievement finds no such achievement of A: the award is refused, B issues nothing.
    cross = await issuer.client.post(
        "/awards", json={"request_id": "r9", "learner_id": "l-1", "achievement_id": "ach-1"}, headers=a_headers)
    assert cross.status_code == 422
    unauthenticated = await issuer.client.post("/awards", json={})
    assert unauthenticated.status_code == 401 and unauthenticated.headers["content-type"] == "application/problem+json"


async def test_malformed_and_oversized_requests_get_problems(issuer):
    institution_id, headers = await issuer.institution()
    invalid = await issuer.client.post("/awards", json={"learner_id": "has spaces"}, headers=headers)
    assert invalid.status_code == 422
    fields = {e["field"]: e["rule"] for e in invalid.json()["errors"]}
    assert fields["learner_id"].startswith("String should match pattern")
    assert fields["request_id"] == "Field required"
    huge = await issuer.client.post("/awards/bulk", content=b"x" * (3 << 20), headers=headers)
    assert huge.status_code == 413 and huge.json()["title"] == "Payload too large"


async def test_revocation_flips_the_status_list_bit_and_verification_says_revoked(issuer):
    institution_id, headers = await issuer.institution()
    await issuer.achievement(institution_id, headers)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    issued = (await issuer.client.post(
        "/awards", json={"request_id": "r", "learner_id": learner, "achievement_id": "ach-1"}, headers=headers)).json()
    resolve = issuer.store.key_resolver(credential.issuer_id(PUBLIC_URL, ""))
    now = datetime.now(UTC)
    assert (await verify(issued["credential"], resolve, issuer.status_list, now)).status == "valid"

    revoked = await issuer.client.post(f"/credentials/{issued['credential_id']}/revoke",
                                       json={"reason": "issued in error"}, headers=headers)
    twice = await issuer.client.post(f"/credentials/{issued['credential_id']}/revoke",
                                     json={"reason": "again"}, headers=headers)

    assert revoked.status_code == 200 and twice.status_code == 409
    result = await verify(issued["credential"], resolve, issuer.status_list, now)
    assert result.status == "revoked"
    events = await records(issuer.servers.admin, CREDENTIALS.name, learner, at_least=2)
    assert [decode(r.value).event_type for r in events] == [
        "creditflow.issuer.credential.awarded.v1", "creditflow.issuer.credential.revoked.v1"]


async def test_status_indexes_are_random_and_distinct(issuer):
    institution_id, headers = await issuer.institution()
    await issuer.achievement(institution_id, headers)
    indexes = []
    for n in range(5):
        issued = (await issuer.client.post("/awards", json={"request_id": f"r{n}", "learner_id": "l-1",
                                                            "achievement_id": "ach-1"}, headers=headers)).json()
        proof = await check_proof(issued["credential"], issuer.store.key_resolver(credential.issuer_id(PUBLIC_URL, "")))
        indexes.append(int(proof.credential["credentialStatus"]["statusListIndex"]))
    assert len(set(indexes)) == 5
    # Not handed out in sequence, from 0 or from anywhere: a verifier who sees one index learns nothing of another.
    ordered = sorted(indexes)
    assert len({b - a for a, b in zip(ordered, ordered[1:])}) > 1
    assert all(0 <= i < status_list.MIN_ENTRIES for i in indexes)


async def stored_award(issuer, institution_id, request_id, learner, status_index, queued_at):
    """An award of ach-1 signed and stored with its pending event, as the issuer does before it publishes."""
    registration = await issuer.store.registration(institution_id)
    key = domain.current_key(registration)
    event = domain.issue(
        public_url=PUBLIC_URL, request_id=request_id, learner_id=learner,
        institution=Institution(institution_id, registration.name, registration.country),
        achievement=await issuer.store.achievement(institution_id, "ach-1"), awarded_at=datetime.now(UTC),
        grade=None, status_index=status_index,
        signing_key=domain.SigningKey(verification_method(credential.issuer_id(PUBLIC_URL, institution_id),
                                                          key.key_id),
                                      issuer.key_store.load(institution_id, key.key_id)),
        signed_at=datetime.now(UTC),
    )
    assert await issuer.store.save_award(event, status_index, request_id, queued_at)
    return event


async def test_a_crash_between_store_and_publish_ends_with_exactly_one_event_after_the_relay(issuer):
    institution_id, headers = await issuer.institution()
    await issuer.achievement(institution_id, headers)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    # The crash: the award and its pending event are stored, and the process dies before publishing.
    event = await stored_award(issuer, institution_id, "crash-1", learner, 7, datetime(2000, 1, 1, tzinfo=UTC))

    # The restarted process relays it: the service's own background relay (a second relay called from here would
    # race it, and an at-least-once relay may then publish twice). Done once the award's outbox is empty.
    async with asyncio.timeout(30):
        while await issuer.store.awards.count_documents({f"{OUTBOX}.{event.event_id}": {"$exists": True}}):
            await asyncio.sleep(0.1)
    published = await records(issuer.servers.admin, CREDENTIALS.name, learner)
    assert [json.loads(r.value)["event_id"] for r in published] == [str(event.event_id)]
    # The institution retries the request: the stored award stands; still one credential, still one event.
    retry = await issuer.client.post("/awards", json={"request_id": "crash-1", "learner_id": learner,
                                                      "achievement_id": "ach-1"}, headers=headers)
    assert retry.json()["status"] == "duplicate"
    assert len(await records(issuer.servers.admin, CREDENTIALS.name, learner)) == 1


async def test_concurrent_revocations_all_reach_the_status_list(issuer):
    # On FerretDB two concurrent read-modify-writes of one bitstring both "succeed" and one bit is lost; status
    # entries are claimed and flipped one document each, so none can be.
    institution_id, headers = await issuer.institution()
    await issuer.achievement(institution_id, headers)
    issued = await asyncio.gather(*(issuer.client.post(
        "/awards", json={"request_id": f"r{n}", "learner_id": "l-1", "achievement_id": "ach-1"}, headers=headers)
        for n in range(12)))
    credentials = [r.json() for r in issued]
    revoked = await asyncio.gather(*(issuer.client.post(f"/credentials/{c['credential_id']}/revoke",
                                                        json={"reason": "batch withdrawn"}, headers=headers)
                                     for c in credentials))
    assert [r.status_code for r in revoked] == [200] * 12
    resolve = issuer.store.key_resolver(credential.issuer_id(PUBLIC_URL, ""))
    results = await asyncio.gather(*(verify(c["credential"], resolve, issuer.status_list, datetime.now(UTC))
                                     for c in credentials))
    assert [r.status for r in results] == ["revoked"] * 12


async def test_a_registration_that_failed_after_its_key_was_written_can_be_retried(issuer):
    institution_id = f"uni-{uuid.uuid4().hex[:8]}"
    leftover = keys.generate()
    issuer.key_store.save(institution_id, "key-1", leftover)  # the first attempt died right after this
    _, headers = await issuer.institution(institution_id=institution_id)
    await issuer.achievement(institution_id, headers)
    award = await issuer.client.post("/awards", json={"request_id": "r-1", "learner_id": "l-1",
                                                      "achievement_id": "ach-1"}, headers=headers)
    # Signed with the key the registration published, not with the leftover of the attempt that died.
    assert (await issuer.verify(award.json()["credential"])).status == "valid"


async def test_an_award_dated_before_its_key_existed_verifies_valid(issuer):
    # Defect 4: a late-recorded award (validFrom years back) is signed now, and the key is judged at signing time.
    _, _, answer = await issuer.issued(awarded_at="2019-06-14T12:00:00+00:00")
    issued = answer["credential"]
    assert issued["validFrom"] == "2019-06-14T12:00:00Z" and issued["proof"][0]["created"] > "2026"
    result = await issuer.verify(issued)
    assert (result.status, result.reasons, result.format) == ("valid", [], "data-integrity")


async def test_a_verifier_dereferences_the_profile_the_key_the_context_and_the_jwks(issuer):
    institution_id, headers, issued = await issuer.issued()
    method = issued["credential"]["proof"][0]["verificationMethod"]
    assert method == f"{PUBLIC_URL}/institutions/{institution_id}/keys/key-1"

    key = await issuer.client.get(method.removeprefix(PUBLIC_URL))
    assert key.headers["content-type"] == "application/ld+json"
    assert key.json()["type"] == "Multikey" and key.json()["controller"] == issued["credential"]["issuer"]["id"]
    profile = await issuer.client.get(f"/institutions/{institution_id}")
    assert profile.json()["type"] == ["Profile"] and profile.json()["assertionMethod"] == [method]
    context = await issuer.client.get("/contexts/creditflow/v1")
    assert context.headers["content-type"] == "application/ld+json"
    assert context.content == contexts.raw(contexts.CREDITFLOW_V1)
    jwks = await issuer.client.get(f"/institutions/{institution_id}/jwks")
    assert jwks.headers["content-type"] == "application/jwk-set+json"
    assert sorted(k["alg"] for k in jwks.json()["keys"]) == ["ES256", "EdDSA"]
    assert (await issuer.client.get(f"/institutions/{institution_id}/keys/key-9")).status_code == 404


async def test_the_open_badges_jwt_form_verifies_here_and_with_pyjwt(issuer):
    institution_id, headers, issued = await issuer.issued()
    response = await issuer.client.get(f"/credentials/{issued['credential_id']}?format=jwt", headers=headers)
    token = response.text
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["typ"]) == ("ES256", "JWT")
    jwk = (await issuer.client.get(header["kid"].removeprefix(PUBLIC_URL))).json()
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"], options={"verify_aud": False})
    assert claims["jti"] == issued["credential_id"] and claims["sub"] == learner_subject_id("l-1")
    assert set(claims) >= {"iss", "jti", "nbf", "sub", "iat", "vc"} and "proof" not in claims["vc"]
    result = await issuer.verify(token)
    assert (result.status, result.reasons, result.format) == ("valid", [], "ob-jwt")


async def test_a_one_character_change_fails_each_format(issuer):
    institution_id, headers, issued = await issuer.issued()
    tampered = json.loads(json.dumps(issued["credential"]))
    tampered["credentialSubject"]["achievement"]["euMicroCredential"]["workloadHours"] = 126
    result = await issuer.verify(tampered)
    assert result.status == "invalid" and "signature does not verify" in result.reasons[0]
    token = (await issuer.client.get(f"/credentials/{issued['credential_id']}?format=jwt", headers=headers)).text
    head, payload, signature = token.split(".")
    flipped = f"{head}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    assert (await issuer.verify(flipped)).status == "invalid"


async def test_an_award_time_without_zone_or_out_of_range_is_refused_naming_awarded_at(issuer):
    institution_id, headers = await issuer.institution()
    await issuer.achievement(institution_id, headers)
    answers = {}
    for case, awarded_at in {"naive": "2024-06-14T12:00:00", "before 1900": "1899-12-31T23:00:00+00:00",
                             "future": "2999-01-01T00:00:00+00:00"}.items():
        body = {"request_id": f"r-{case}", "learner_id": "l-1", "achievement_id": "ach-1", "awarded_at": awarded_at}
        answers[case] = await issuer.client.post("/awards", json=body, headers=headers)
    for case, answer in answers.items():
        assert answer.status_code == 422, case
        [error] = answer.json()["errors"]
        assert error["field"] == "awarded_at", case
    assert "timezone" in answers["naive"].json()["errors"][0]["rule"]
    assert "1900" in answers["before 1900"].json()["errors"][0]["rule"]
    assert "future" in answers["future"].json()["errors"][0]["rule"]


async def test_a_database_that_does_not_answer_gives_a_problem_body_with_the_correlation_id(servers, tmp_path):
    settings = servers.settings("issuer", mongodb_url="mongodb://127.0.0.1:9")  # nothing listens on port 9
    app = create_app(settings, api.Options(public_url=PUBLIC_URL, key_store=FileKeyStore(tmp_path / "keys")))
    async with app.router.lifespan_context(app):
        # The app still raises after answering (so servers log it); the client must see the answer, not the raise.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            response = await client.get("/institutions/uni-x", headers={"X-Correlation-ID": "corr-outage-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["X-Correlation-ID"] == "corr-outage-1"
    body = response.json()
    assert body["status"] == 500 and body["correlation_id"] == "corr-outage-1"
    assert "corr-outage-1" in body["detail"]


async def test_registering_an_external_key_never_breaks_awarding(issuer):
    """Before #14, the institution's own key retired the issuer-held one and every award looked for a private key
    file the issuer never had: 500."""
    institution_id, headers = await issuer.institution()
    await issuer.achievement(institution_id, headers)
    external = keys.generate()  # the institution's own key: its private half stays with the institution
    registered = await issuer.client.post(f"/institutions/{institution_id}/keys", headers=headers,
                                          json={"public_key_multibase": keys.to_multibase(external.public_key())})
    assert registered.status_code == 200, registered.text
    award = await issuer.client.post(
        "/awards", json={"request_id": "r-ext", "learner_id": "l-1", "achievement_id": "ach-1"}, headers=headers)
    assert award.status_code == 201, award.text
    secured = award.json()["credential"]
    # Signed by the issuer-held key, which the external key (key-2) did not retire.
    assert [p["verificationMethod"].rsplit("/", 1)[1] for p in secured["proof"]] == ["key-1"]
    result = await issuer.verify(secured)
    assert (result.status, result.reasons) == ("valid", [])


async def test_key_rotations_on_two_instances_at_once_each_register_the_key_whose_private_half_is_kept(issuer):
    institution_id, headers = await issuer.institution()
    await issuer.achievement(institution_id, headers)
    # A second issuer instance: the same database and key store, its own process state and connections.
    other = create_app(issuer.app.state.runtime.settings,
                       api.Options(public_url=PUBLIC_URL, key_store=issuer.key_store))
    async with other.router.lifespan_context(other):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url=PUBLIC_URL) as second:
            rotated = await asyncio.gather(*(client.post(f"/institutions/{institution_id}/keys/rotate",
                                                         headers=headers)
                                             for client in (issuer.client, second, issuer.client, second)))
            assert [r.status_code for r in rotated] == [200] * 4, [r.text for r in rotated]
            registration = await issuer.store.registration(institution_id)
            key_ids = [k.key_id for k in registration.public_keys]
            assert len(key_ids) == len(set(key_ids)) == 10  # registration and four rotations, two keys each
            for key in registration.public_keys:
                private = issuer.key_store.load(institution_id, key.key_id)
                assert keys.to_multibase(private.public_key()) == key.public_key_multibase, key.key_id
            awarded = await second.post("/awards", json={"request_id": "r-1", "learner_id": "l-1",
                                                         "achievement_id": "ach-1"}, headers=headers)
    assert (await issuer.verify(awarded.json()["credential"])).status == "valid"


async def test_after_a_key_rotation_awards_are_signed_with_the_new_key_and_earlier_ones_still_verify(issuer):
    institution_id, headers, before = await issuer.issued()
    rotated = await issuer.client.post(f"/institutions/{institution_id}/keys/rotate", headers=headers)
    assert rotated.status_code == 200, rotated.text
    current = [k for k in rotated.json()["public_keys"] if k["retired_at"] is None]
    assert sorted(k["key_id"] for k in current) == ["es256-key-2", "key-2"]  # a new Ed25519 and P-256 pair
    after = await issuer.client.post("/awards", json={"request_id": "r-2", "learner_id": "l-1",
                                                      "achievement_id": "ach-1"}, headers=headers)
    methods = [c["proof"][0]["verificationMethod"].rsplit("/", 1)[1] for c in (before["credential"],
                                                                               after.json()["credential"])]
    assert methods == ["key-1", "key-2"]
    for secured in (before["credential"], after.json()["credential"]):
        result = await issuer.verify(secured)
        assert (result.status, result.reasons) == ("valid", [])
    retired = {k["key_id"] for k in rotated.json()["public_keys"] if k["retired_at"] is not None}
    assert retired == {"key-1", "es256-key-1"}  # published as retired, not removed: what they signed still verifies


async def test_the_relay_leaves_an_event_queued_within_its_grace_to_the_request_publishing_it(issuer):
    institution_id, headers = await issuer.institution()
    await issuer.achievement(institution_id, headers)
    # Queued an hour from now, so the service's own relay (on the real clock) leaves it alone during this test.
    queued = datetime.now(UTC) + timedelta(hours=1)
    await stored_award(issuer, institution_id, "in-flight", f"learner-{uuid.uuid4().hex[:8]}", 8, queued)
    broker = issuer.app.state.runtime.broker
    assert await relay_all(outboxes(issuer.store), broker, queued + RELAY_GRACE - timedelta(seconds=1)) == 0
    assert await relay_all(outboxes(issuer.store), broker, queued + RELAY_GRACE + timedelta(seconds=1)) == 1


async def test_post_verify_answers_invalid_with_the_safe_mode_reason_for_a_term_added_to_a_signed_award(issuer):
    _, _, issued = await issuer.issued()
    credential = copy.deepcopy(issued["credential"])
    credential["credentialSubject"]["gradeOverride"] = "A+"  # no context defines it
    answer = await issuer.client.post("/verify", json={"credential": credential})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "invalid", "format": "data-integrity", "reasons": [
        "cannot canonicalise the credential: safe mode: property 'gradeOverride' is not defined by any context (it "
        "expands to \"gradeOverride\", not an absolute IRI), so the proof would not cover it"]}
