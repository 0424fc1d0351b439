"""Credentials as the running services serve them, checked by code creditflow did not write.

One stacked scenario (two awards complete a programme, the issuer awards the qualification, the learner record
exports a CLR with associations), plus an award dated before its key existed and the OB 3.0 JWT form. Then:
- the 1EdTech JSON Schemas (tests/schemas, with PROVENANCE.md) validate every award, the qualification and the CLR;
- every credential expands with pyld against the bundled contexts with no dropped or undefined term, and jsonld.js
  expands it in safe mode; jsonld.js canonize in safe mode refuses what creditflow's safe mode refuses and gives
  creditflow's N-Quads for every shape it signs (no stack needed);
- Digital Bazaar's @digitalbazaar/vc + eddsa-rdfc-2022 cryptosuite verify every Data Integrity proof, dereferencing
  the verification methods and issuer profiles the services serve; the `jose` npm package verifies the JWT;
- creditflow's own POST /verify agrees; a one-character change fails each verifier.
"""

import copy
import json
from collections import Counter
import shutil
import subprocess
import uuid
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from e2e_driver import achievement_body, eventually
from pyld import jsonld

from creditflow.credentials import contexts, data_integrity
from creditflow.events import (
    CreditValue,
    LearningOutcome,
    Level,
    Module,
    ProgrammePublished,
    ProgrammePublishedData,
    Requirement,
)

# The module fixture builds a stacked qualification through four services: allow it more than the default 120 s.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

HERE = Path(__file__).parent
VERIFIERS = HERE / "verifiers"
SCHEMAS = HERE / "schemas"
OB_SCHEMA = json.loads((SCHEMAS / "ob_v3p0_achievementcredential_jsonschema1_2019-09.json").read_text())
CLR_SCHEMA = json.loads((SCHEMAS / "clr_v2p0_clrcredential_schema_draft4.json").read_text())
# The CLR copy predates VC 2.0 in a second place: its CredentialStatus allows only id and type, so no status list
# entry (VC 2.0 BitstringStatusListEntry, nor VC 1.1's StatusList2021Entry) can pass. 1EdTech's VC 2.0-era OB schema
# (same folder) defines CredentialStatus with additionalProperties true; the CLR check uses that one definition.
CLR_SCHEMA["$defs"]["CredentialStatus"] = OB_SCHEMA["$defs"]["CredentialStatus"]


@pytest.fixture(scope="module")
async def issued(running_stack):
    """Every kind of credential creditflow issues, as served: {name: credential}, plus the JWT and the URLs."""
    from e2e_driver import Driver

    driver = Driver(running_stack)
    try:
        home, headers = await driver.institution()
        for extra in ({"achievement_id": "ach-stats", "title": "Applied statistics"},
                      {"achievement_id": "ach-cert-ds", "title": "Certificate in Data Science",
                       "achievement_type": "Certificate", "workload_hours": 300,
                       "credits": {"value": 12, "framework": "ects"}, "assessment_type": "mixed"}):
            published = await driver.issuer.post("/achievements", headers=headers,
                                                 json=achievement_body(home, **extra))
            assert published.status_code == 201, published.text
        programme = ProgrammePublishedData(
            programme_id=f"cert-{uuid.uuid4().hex[:6]}", institution_id=home, version=1,
            effective_from=date(2025, 1, 1), title="Certificate in Data Science",
            total_credits=CreditValue(value=12, framework="ects"),
            modules=[Module(module_id="mod-ml", title="Machine learning", credits=CreditValue(value=6, framework="ects"),
                            level=Level(eqf=6), learning_outcomes=[LearningOutcome(
                                statement="Train and evaluate a classifier")])],
            requirements=[Requirement(requirement_id="ml", kind="required", options=["ach-ml-intro"]),
                          Requirement(requirement_id="stats", kind="required", options=["ach-stats"])],
            award_mode="automatic", achievement_id="ach-cert-ds")
        await driver.publish(ProgrammePublished(producer=home, data=programme))
        stacking = driver.registrar(home)

        async def programme_known():
            listed = (await driver.stacking.get("/programmes", headers=stacking)).json()
            return any(p["programme_id"] == programme.programme_id for p in listed)

        await eventually(programme_known, "stacking to accept the programme", timeout_s=60)
        learner = f"learner-{uuid.uuid4().hex[:8]}"
        ml = await driver.award(headers, learner, grade="A")
        stats = await driver.award(headers, learner, achievement_id="ach-stats")
        historical = await driver.issuer.post("/awards", headers=headers, json={
            "request_id": "historical", "learner_id": f"{learner}-2019", "achievement_id": "ach-ml-intro",
            "awarded_at": "2019-06-14T12:00:00+00:00"})
        registrar = driver.registrar(home)
        # In the whole suite stacking first catches up on every award earlier tests published: allow for it.
        record = await driver.record(learner, registrar, timeout_s=180,
                                     until=lambda r: any(a["built_from"] for a in r["achievements"])
                                     and r["qualifications"])
        [qualification] = [a for a in record["achievements"] if a["built_from"]]
        served = (await driver.issuer.get(f"/credentials/{qualification['credential_id']}", headers=headers)).json()
        clr = await driver.records.get(f"/learners/{learner}/clr", headers=registrar)
        assert clr.status_code == 200, clr.text
        token = await driver.issuer.get(f"/credentials/{ml['credential_id']}?format=jwt", headers=headers)
        assert token.status_code == 200 and token.headers["content-type"].startswith("application/jwt")
        yield {
            "credentials": {"award": ml["credential"], "second award": stats["credential"],
                            "award dated 2019": historical.json()["credential"],
                            "stacked qualification": served["credential"], "CLR": clr.json()},
            "jwt": token.text,
            "serve": [running_stack.urls["issuer"], running_stack.urls["learner-record"]],
            "issuer": running_stack.urls["issuer"],
        }
    finally:
        await driver.close()


def node(request: dict) -> dict:
    """Run tests/verifiers/check.mjs (installed by `make setup` with npm ci) on `request`."""
    assert shutil.which("node"), "node is required: deploy/local/setup.sh checks for it"
    assert (VERIFIERS / "node_modules").is_dir(), "run `make setup`: it installs tests/verifiers with npm ci"
    payload = {"contexts": {url: contexts.document(url) for url in contexts.FILES}, **request}
    done = subprocess.run(["node", str(VERIFIERS / "check.mjs")], input=json.dumps(payload), capture_output=True,
                          text=True, timeout=120, cwd=VERIFIERS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def one_character_changed(credential: dict) -> dict:
    changed = copy.deepcopy(credential)
    changed["name"] = changed["name"][:-1] + ("x" if changed["name"][-1] != "x" else "y")
    return changed


# ------------------------------------------------------------------------------------------------ JSON Schemas


def _with_issuance_date(credential: dict) -> dict:
    # The CLR 2.0 schema predates VC 2.0 and requires `issuanceDate`; VC 2.0 renamed it `validFrom`. The mapped
    # copy carries the same date under the old name: nothing else is changed.
    return {**credential, "issuanceDate": credential["validFrom"]}


def test_every_award_and_the_qualification_are_valid_open_badges_3_achievement_credentials(issued):
    validator = jsonschema.Draft201909Validator(OB_SCHEMA)
    for name, credential in issued["credentials"].items():
        if name == "CLR":
            continue
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(credential)]
        assert errors == [], f"{name}: {errors}"
    # The schema is not vacuous: a credential without its subject's achievement is refused.
    broken = copy.deepcopy(issued["credentials"]["award"])
    del broken["credentialSubject"]["achievement"]["criteria"]
    assert not validator.is_valid(broken)


def test_the_clr_is_a_valid_clr_2_credential_with_issuance_date_mapped_from_valid_from(issued):
    clr = _with_issuance_date(issued["credentials"]["CLR"])
    subject = clr["credentialSubject"]
    clr["credentialSubject"] = {**subject,
                                "verifiableCredential": [_with_issuance_date(c) for c in subject["verifiableCredential"]]}
    validator = jsonschema.Draft4Validator(CLR_SCHEMA)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(clr)]
    assert errors == []
    assert len(subject["verifiableCredential"]) == 3 and all("proof" in c for c in subject["verifiableCredential"])
    assert {a["associationType"] for a in subject["association"]} == {"isPartOf"} and len(subject["association"]) == 2
    enveloped = copy.deepcopy(clr)
    enveloped["credentialSubject"]["verifiableCredential"][0] = {"type": "EnvelopedVerifiableCredential",
                                                                 "id": "data:application/vc+jwt,e30"}
    assert not validator.is_valid(enveloped)  # what the CLR export used to carry


# ------------------------------------------------------------------------------------------------ JSON-LD


def _document_leaves(document, values: Counter, types: list) -> None:
    """The scalar values of a compact document (each becomes one @value or @id when expanded), and its types."""
    if isinstance(document, list):
        for item in document:
            _document_leaves(item, values, types)
    elif isinstance(document, dict):
        for key, value in document.items():
            if key == "@context":
                continue
            if key == "type":
                types.extend(value if isinstance(value, list) else [value])
            else:
                _document_leaves(value, values, types)
    else:
        values[json.dumps(document)] += 1


def _expanded_leaves(expanded, values: Counter, types: list) -> None:
    if isinstance(expanded, list):
        for item in expanded:
            _expanded_leaves(item, values, types)
    elif isinstance(expanded, dict):
        if "@value" in expanded:
            values[json.dumps(expanded["@value"])] += 1
            return
        if "@id" in expanded:
            values[json.dumps(expanded["@id"])] += 1
        types.extend(expanded.get("@type", []))
        for key, value in expanded.items():
            if not key.startswith("@") or key in ("@graph", "@list", "@set", "@included"):
                _expanded_leaves(value, values, types)


def pyld_problems(document: dict) -> list[str]:
    """pyld has no safe mode; the same guarantee checked directly: every value of the document survives expansion
    (a term no context defines is dropped with its values, and so is a relative IRI such as a bare learner id),
    and every type is defined."""
    expanded = jsonld.expand(document, {"documentLoader": data_integrity.LOADER})
    before, after, compact_types, expanded_types = Counter(), Counter(), [], []
    _document_leaves(document, before, compact_types)
    _expanded_leaves(expanded, after, expanded_types)
    # Values typed @vocab (proofPurpose, statusPurpose...) expand to the vocabulary IRI they name.
    vocabulary = [json.loads(v) for v in after if isinstance(json.loads(v), str)]
    dropped = [v for v in sorted((before - after).elements())
               if not (isinstance(json.loads(v), str) and any(i.endswith("#" + json.loads(v)) for i in vocabulary))]
    problems = [f"dropped by expansion: {value}" for value in dropped]
    problems += [f"undefined type {t!r}" for t in expanded_types if ":" not in t]
    if len(compact_types) != len(expanded_types):
        problems.append(f"{len(compact_types)} types in the document, {len(expanded_types)} expanded")
    return problems


def test_every_credential_expands_with_pyld_with_no_dropped_or_undefined_term(issued):
    for name, credential in issued["credentials"].items():
        assert pyld_problems(credential) == [], name
    undefined = copy.deepcopy(issued["credentials"]["award"])
    undefined["credentialSubject"]["achievement"]["euMicroCredential"]["notATerm"] = "no context defines me"
    undefined["credentialSubject"]["id"] = "learner-ada"  # a bare id, as subjects were before
    assert pyld_problems(undefined) == ['dropped by expansion: "learner-ada"',
                                        'dropped by expansion: "no context defines me"']


def test_every_credential_expands_in_jsonld_js_safe_mode(issued):
    documents = list(issued["credentials"].values())
    undefined = copy.deepcopy(issued["credentials"]["award"])
    undefined["credentialSubject"]["achievement"]["euMicroCredential"]["notATerm"] = 1
    results = node({"expand": [*documents, undefined]})["expand"]
    assert [r["error"] for r in results[:-1]] == [None] * len(documents)
    assert results[-1]["ok"] is False and "notATerm" in results[-1]["error"]


SAFE_MODE_CODES = {
    "empty object", "free-floating scalar", "invalid @language value", "invalid property", "null @id value",
    "null @value value", "object with only @id", "object with only @language", "object with only @list",
    "object with only @value", "relative @id reference", "relative @type reference", "relative @vocab reference",
    "reserved @id value", "reserved @reverse value", "reserved term", "blank node predicate",
    "relative graph reference", "relative object reference", "relative predicate reference",
    "relative subject reference", "rdfDirection not set"}


def test_jsonld_js_in_safe_mode_refuses_what_creditflow_refuses_and_gives_the_same_bytes_for_the_rest():
    """creditflow's safe mode against the reference one (jsonld.js canonize with `safe: true`, no running stack):
    every document creditflow refuses in safe mode jsonld.js refuses too, every shape creditflow signs it
    canonicalises to the same N-Quads, and what pyld takes in safe mode it takes."""
    from test_canonical_equivalence import ACCEPTED_AS_PYLD_DOES, REFUSED_IN_SAFE_MODE, creditflow_documents
    from test_safe_mode import ALTERED, REFUSED, issued_award

    altered = []
    for alter, _ in ALTERED.values():
        award = issued_award()
        alter(award)
        altered.append(award)
    refused = [*altered, *(document for document, _ in REFUSED.values()), *REFUSED_IN_SAFE_MODE.values()]
    for document in refused:
        with pytest.raises(data_integrity.SafeModeError):
            data_integrity.canonical(document)
    shapes = list(creditflow_documents().values())
    accepted = list(ACCEPTED_AS_PYLD_DOES.values())
    results = node({"canonize": [*refused, *shapes, *accepted]})["canonize"]
    # Each for a condition of safe mode (jsonld.js lib/events.js), not for another error.
    assert {r["error"] for r in results[:len(refused)]} <= SAFE_MODE_CODES, results[:len(refused)]
    assert [r["nquads"] for r in results[len(refused):][:len(shapes)]] == [data_integrity.canonical(s) for s in shapes]
    assert [r["error"] for r in results[len(refused) + len(shapes):]] == [None] * len(accepted)


def test_the_served_creditflow_context_is_the_bundled_one(issued):
    import httpx

    served = httpx.get(issued["issuer"] + "/contexts/creditflow/v1")
    assert served.headers["content-type"] == "application/ld+json"
    assert served.content == contexts.raw(contexts.CREDITFLOW_V1)
    assert "@vocab" not in served.text


# ------------------------------------------------------------------------------------------------ proofs


def test_digital_bazaar_verifies_every_data_integrity_proof_and_refuses_a_changed_one(issued):
    credentials = issued["credentials"]
    names = list(credentials)
    inner = credentials["CLR"]["credentialSubject"]["verifiableCredential"]
    tampered = [one_character_changed(credentials["award"]), one_character_changed(credentials["CLR"])]
    results = node({"serve": issued["serve"], "di": [*credentials.values(), *inner, *tampered]})["di"]
    verdicts = {name: (r["verified"], r["error"]) for name, r in zip(names, results)}
    assert verdicts == {name: (True, None) for name in names}
    assert [r["verified"] for r in results[len(names):len(names) + len(inner)]] == [True] * len(inner)
    assert [r["verified"] for r in results[-2:]] == [False, False]


def test_the_jose_library_verifies_the_open_badges_jwt_and_refuses_a_changed_one(issued):
    token = issued["jwt"]
    head, payload, signature = token.split(".")
    changed = f"{head}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    good, bad = node({"serve": issued["serve"], "jwt": [token, changed]})["jwt"]
    assert good["verified"], good["error"]
    assert good["header"]["typ"] == "JWT" and good["header"]["alg"] == "ES256"
    assert {"iss", "jti", "nbf", "sub", "vc"} <= set(good["payload"])
    assert good["payload"]["jti"] == issued["credentials"]["award"]["id"]
    assert bad["verified"] is False


def test_creditflow_verify_accepts_every_format_it_issues_and_refuses_a_changed_one(issued):
    import httpx

    secured = [*issued["credentials"].values(), issued["jwt"]]
    answers = [httpx.post(issued["issuer"] + "/verify", json={"credential": c}, timeout=30).json() for c in secured]
    assert [(a["status"], a["reasons"]) for a in answers] == [("valid", [])] * len(secured)
    assert [a["format"] for a in answers] == ["data-integrity"] * 5 + ["ob-jwt"]
    changed = httpx.post(issued["issuer"] + "/verify", json={"credential": one_character_changed(
        issued["credentials"]["stacked qualification"])}, timeout=30).json()
    assert changed["status"] == "invalid"

