"""creditflow's canonicaliser gives pyld's canonical N-Quads byte for byte, and refuses what pyld refuses with pyld's
words, for every credential shape creditflow signs or verifies and for hypothesis-made variations of them.

`data_integrity.canonical` remembers the active contexts that scoped contexts yield, and IRI expansions, across
documents; the reference here is `jsonld.normalize` itself, a fresh pyld processor per call. Each document is
canonicalised twice by creditflow, and the examples run one after another in one process, so what is remembered is
reused across documents the way the services reuse it. creditflow canonicalises in JSON-LD safe mode, which pyld 3.3
lacks: the byte-for-byte comparison is of the remembering processor without safe mode; in safe mode each document
must then give the same bytes, or be refused with a safe-mode reason (what pyld would drop or rewrite; which ones and
why: shared/tests/test_safe_mode.py). The refusal cases below are what pyld itself raises on.
"""

from __future__ import annotations

import copy
import json
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pyld import jsonld

from creditflow.credentials import contexts, data_integrity, keys
from creditflow.credentials.verify import verification_method
from creditflow.events import Achievement, Alignment, CreditValue, LearningOutcome, Level
from creditflow.issuer import credential, domain, rules
from creditflow.learner_record.domain import clr_credential

VECTORS = Path(__file__).parent / "vectors" / "eddsa-rdfc-2022"
VECTOR_LOADER = data_integrity.static_loader({
    "https://www.w3.org/ns/credentials/examples/v2":
        json.loads((VECTORS / "credentials-examples-v2.jsonld").read_text()),
    "https://w3id.org/citizenship/v4rc1": json.loads((VECTORS / "employ" / "citizenship-v4rc1.jsonld").read_text()),
})
PUBLIC_URL = "https://issuer.example"
INSTITUTION = rules.Institution("uni-tartu", "University of Tartu", "EE")
ISSUER = credential.issuer_id(PUBLIC_URL, INSTITUTION.institution_id)
METHOD = verification_method(ISSUER, "key-1")
KEY = keys.generate()
AT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def pyld(document: Any, loader: data_integrity.DocumentLoader) -> tuple[str, str]:
    """What pyld answers: ("canonical", N-Quads) or ("refused", the root cause's message and type)."""
    try:
        return "canonical", jsonld.normalize(
            copy.deepcopy(document),
            {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": loader})
    except jsonld.JsonLdError as exc:
        cause = data_integrity._root_cause(exc)
        return "refused", str(cause.args[0] if cause.args else cause)
    except Exception as exc:  # pyld lets some errors out unwrapped; creditflow must let out the same ones
        return "refused", f"{type(exc).__name__}: {exc}"


def creditflow(document: Any, loader: data_integrity.DocumentLoader) -> tuple[str, str]:
    try:
        return "canonical", data_integrity.canonical(document, loader)
    except data_integrity.SafeModeError as exc:
        return "refused in safe mode", str(exc)
    except data_integrity.CanonicalisationError as exc:
        return "refused", str(exc)
    except Exception as exc:
        return "refused", f"{type(exc).__name__}: {exc}"


# One for the whole session, as the services have one: what it remembers is reused across documents.
UNSAFE = data_integrity._RememberingProcessor()


@contextmanager
def without_safe_mode():
    with mock.patch.object(data_integrity, "_PROCESSOR", UNSAFE):
        yield


def assert_same_as_pyld(document: Any, loader: data_integrity.DocumentLoader = data_integrity.LOADER) -> str:
    """"canonical" or "refused" as pyld answers, or "refused in safe mode" where pyld canonicalises (or refuses
    later, for another reason)."""
    expected = pyld(document, loader)
    unchanged = copy.deepcopy(document)
    with without_safe_mode():
        assert creditflow(document, loader) == expected
        assert creditflow(document, loader) == expected  # again, from what the first call remembered
    safe = creditflow(document, loader)
    assert safe == expected or (safe[0] == "refused in safe mode" and safe[1].startswith("safe mode: ")), safe
    assert creditflow(document, loader) == safe
    assert document == unchanged
    return safe[0]


def award(achievement: Achievement, grade: str | None = "A", built_from: list[str] | None = None) -> dict[str, Any]:
    """The award as the issuer builds it (conversions and size band by the issuer's own rules)."""
    conversions = rules.to_ects(achievement)
    return credential.achievement_credential(
        public_url=PUBLIC_URL, credential_id="urn:uuid:530f11bf-b909-5984-92b1-e3c213be519a", learner_id="learner-ada",
        institution=INSTITUTION, achievement=achievement, awarded_at=AT, grade=grade, conversions=conversions,
        size=rules.classify_size(achievement, conversions[0].ects if conversions else None), status_index=4242,
        built_from=built_from)


FULL = Achievement(
    achievement_id="ach-ml", institution_id="uni-tartu", title="Introduction to machine learning",
    description="Classifiers, their evaluation, overfitting",
    learning_outcomes=[LearningOutcome(statement="Train and evaluate a classifier", alignments=[
        Alignment(target_url="http://data.europa.eu/esco/skill/ml", target_name="machine learning", framework="ESCO"),
        Alignment(target_url="https://onetonline.org/x")])],
    workload_hours=150, credits=CreditValue(value=6, framework="ects"),
    level=Level(eqf=6, national_framework="EstQF", national_level=6), field_of_study="0613",
    assessment_type="project", participation_form="online", quality_assurance_type="external accreditation",
    prerequisites=["Linear algebra"])
BARE = Achievement(achievement_id="ach-bare", institution_id="uni-tartu", title="Bare")
SCQF = Achievement(achievement_id="ach-scqf", institution_id="uni-tartu", title="Data ethics",
                   credits=CreditValue(value=20, framework="scqf"), level=Level(national_framework="SCQF",
                                                                               national_level=7))


def signed(document: dict[str, Any]) -> dict[str, Any]:
    return data_integrity.sign(document, KEY, METHOD, AT, proof_set=True)


def verified_parts(secured: dict[str, Any]) -> list[dict[str, Any]]:
    """What verification canonicalises: the document without its proof, and the proof options."""
    unsecured, proof = data_integrity.split(secured)
    return [unsecured, {**{k: v for k, v in proof.items() if k != "proofValue"}, "@context": secured["@context"]}]


def clr(*credentials: dict[str, Any]) -> dict[str, Any]:
    achievements = [{"credential_id": c["id"], "institution_id": "uni-tartu", "achievement_id": f"a{i}",
                     "credential": c, "revocation": None, "built_from": []} for i, c in enumerate(credentials)]
    record = {"learner_id": "learner-ada", "achievements": sorted(achievements, key=lambda a: a["credential_id"]),
              "qualifications": [{"status": "completed", "institution_id": "uni-tartu", "programme_id": "msc-ds",
                                  "credential_ids": [c["id"] for c in credentials]}]}
    return clr_credential(record, False, platform_id="https://records.example/platform", clr_id="urn:uuid:clr",
                          issued_at=AT)


def issued_award() -> dict[str, Any]:
    return domain.issue(public_url=PUBLIC_URL, request_id="r-1", learner_id="learner-ada", institution=INSTITUTION,
                        achievement=FULL, awarded_at=AT, grade="B+", status_index=7,
                        signing_key=domain.SigningKey(METHOD, KEY), signed_at=AT).data.credential


def creditflow_documents() -> dict[str, dict[str, Any]]:
    """Every shape creditflow signs or verifies with eddsa-rdfc-2022, and the documents beside them."""
    full, bare = award(FULL), award(BARE, grade=None)
    qualification = award(FULL.model_copy(update={"achievement_type": "Certificate"}),
                          built_from=["urn:uuid:c1", "urn:uuid:c2"])
    issued = issued_award()
    documents = {
        "award with every optional field": full, "award with none": bare, "award in SCQF credits": award(SCQF),
        "stacked qualification": qualification, "award as issued": issued,
        "clr of signed awards": clr(signed(full), issued, signed(qualification)),
        "clr signed": signed(clr(issued)),
        "proof options": data_integrity.proof_options(full, METHOD, AT),
        "status list": credential.status_list_credential(public_url=PUBLIC_URL, institution=INSTITUTION,
                                                         encoded_list="uH4sIAAAAAAAA", valid_from=AT),
        "multikey": data_integrity.multikey_document(METHOD, ISSUER,
                                                     "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
    }
    for name in ("award as issued", "clr signed"):
        unsecured, options = verified_parts(documents[name])
        documents[f"{name}, verified: document"], documents[f"{name}, verified: proof options"] = unsecured, options
    return documents


@pytest.mark.parametrize(("name", "document"), creditflow_documents().items())
def test_every_credential_shape_creditflow_signs_is_canonicalised_as_pyld_does_in_safe_mode(name, document):
    assert assert_same_as_pyld(document) == "canonical"


@pytest.mark.parametrize("folder", [VECTORS, VECTORS / "employ"], ids=["alumni", "employ"])
@pytest.mark.parametrize("name", ["unsigned.json", "proofConfigDataInt.json", "signedDataInt.json"])
def test_the_w3c_vectors_are_canonicalised_as_pyld_does_in_safe_mode(folder, name):
    assert assert_same_as_pyld(json.loads((folder / name).read_text()), VECTOR_LOADER) == "canonical"


AWARD_CONTEXT = credential.AWARD_CONTEXT
VC = {"@context": AWARD_CONTEXT, "type": ["VerifiableCredential", "OpenBadgeCredential"]}  # defines issuer, ...
REFUSED = {
    "context not an object": {"@context": 5, "name": "x"},
    "context not bundled": {"@context": ["https://example.org/ctx"], "name": "x"},
    "protected term redefined": {"@context": [*AWARD_CONTEXT, {"name": "https://example.org/name"}], "name": "x"},
    "protected context nullified": {"@context": [*AWARD_CONTEXT, None], "name": "x"},
    "version 1.0": {"@context": {"@version": 1.0}, "name": "x"},
    "id not a string": {"@context": AWARD_CONTEXT, "id": 5},
    "type not a string": {"@context": AWARD_CONTEXT, "type": [5]},
    "value object with a stray key": {"@context": AWARD_CONTEXT, "name": {"@value": "x", "name": "y"}},
    "language not a string": {"@context": AWARD_CONTEXT, "name": {"@value": "x", "@language": 5}},
    "protected term redefined in a node": {**VC, "id": "urn:x", "issuer": {
        "@context": {"name": "https://example.org/name"}, "type": ["Profile"], "name": "x"}},
    "protected term redefined under a type": {**VC, "credentialSubject": {
        "type": ["AchievementSubject"],
        "achievement": {"@context": {"type": "https://example.org/t"}, "type": ["Achievement"]}}},
    "scoped context not an object": {"@context": {"@version": 1.1, "t": {"@id": "https://example.org/t",
                                                                         "@context": 5}}, "t": {"a": 1}},
}
ACCEPTED_AS_PYLD_DOES = {
    "json literal holding json-ld keywords": {"@context": {"@version": 1.1, "j": {"@id": "https://example.org/j",
                                                                                 "@type": "@json"}}, "j": {"@id": 5}},
    "blank node id": {"@context": AWARD_CONTEXT, "id": "_:b0", "name": "x"},
    # The same scoped context, of the same active context, as a type's (does not propagate into `creator`) and as a
    # property's (does).
    "a type as a property": {"@context": AWARD_CONTEXT, "id": "urn:x", "type": ["Achievement"], "Achievement": {
        "id": "urn:y", "creator": {"achievementType": "z", "name": "q"}}},
    "value with language": {"@context": AWARD_CONTEXT, "id": "urn:x", "name": {"@value": "x", "@language": "EN-gb"}},
    "typed value": {**VC, "id": "urn:x", "validFrom": {"@value": "x", "@type": "xsd:date"}},
    "json literal": {"@context": AWARD_CONTEXT, "id": "urn:x", "type": ["VerifiableCredential"],
                     "credentialSchema": {"id": "urn:s", "type": "JsonSchema", "jsonSchema": {"b": [1.5, None, "é"],
                                                                                              "a": True}}},
    "context inline, type-scoped and property-scoped": {"@context": [{"@version": 1.1, "@vocab": "https://ex.org/#",
        "T": {"@id": "https://ex.org/T", "@context": {"p": {"@id": "https://ex.org/p", "@type": "@id"}}},
        "q": {"@id": "https://ex.org/q", "@context": {"p": {"@id": "https://ex.org/p2"}}}}],
        "type": "T", "p": "rel", "q": {"p": "lit", "type": "T", "r": {"p": "again"}}},
}
# pyld drops or rewrites these (creditflow without safe mode does the same, byte for byte); safe mode refuses them.
REFUSED_IN_SAFE_MODE = {
    # Without a credential type, no context defines `issuer` or `credentialSubject` (pyld drops them, and with them
    # the protected terms their own contexts redefine).
    "protected term redefined in an undefined node": {"@context": AWARD_CONTEXT, "id": "urn:x", "issuer": {
        "@context": {"name": "https://example.org/name"}, "type": ["Profile"], "name": "x"}},
    "protected term redefined under an undefined type": {"@context": AWARD_CONTEXT, "credentialSubject": {
        "type": ["AchievementSubject"],
        "achievement": {"@context": {"type": "https://example.org/t"}, "type": ["Achievement"]}}},
    "undefined term": {"@context": AWARD_CONTEXT, "noContextDefinesMe": "x"},
    "undefined term, another context": {"@context": [contexts.CLR2], "id": "urn:x", "noContextDefinesMe": "x"},
    "relative id": {"@context": AWARD_CONTEXT, "id": "learner-ada", "name": "x"},
    "relative type": {"@context": AWARD_CONTEXT, "id": "urn:x", "type": ["../Thing"]},
    "keyword-like key": {"@context": AWARD_CONTEXT, "id": "urn:x", "@ignoreMe": "x", "name": "y"},
    # The same string, in the same active context, as a type (a term) and as an id (a relative IRI).
    "a term as an id": {"@context": AWARD_CONTEXT, "id": "urn:x", "type": ["name"],
                        "https://example.org/p": {"id": "name"}},
}


@pytest.mark.parametrize(("name", "document"), REFUSED.items())
def test_what_pyld_refuses_creditflow_refuses_with_pylds_words(name, document):
    assert assert_same_as_pyld(document) == "refused"


@pytest.mark.parametrize(("name", "document"), ACCEPTED_AS_PYLD_DOES.items())
def test_what_pyld_takes_without_safe_mode_creditflow_takes_the_same_way(name, document):
    assert assert_same_as_pyld(document) == "canonical"


@pytest.mark.parametrize(("name", "document"), REFUSED_IN_SAFE_MODE.items())
def test_what_pyld_drops_or_rewrites_creditflow_refuses_in_safe_mode(name, document):
    assert assert_same_as_pyld(document) == "refused in safe mode"


def test_a_context_import_is_answered_as_pyld_answers_it():
    """pyld 3.3 merges an importing context into the imported one's cached document, so its answer depends on what
    it processed before (here: canonical in a fresh process, refused after the Multikey document); creditflow leaves
    every `@import` to pyld and answers the same either way."""
    document = {"@context": [{"@version": 1.1, "@import": contexts.MULTIKEY_V1, "label": "https://example.org/label"}],
                "id": "urn:x", "type": "Multikey", "label": "x", "controller": "urn:y"}
    assert_same_as_pyld(document)
    assert_same_as_pyld(data_integrity.multikey_document(METHOD, ISSUER, "z6Mk"))
    assert_same_as_pyld(document)


def test_a_context_one_loader_cannot_resolve_is_refused_after_another_loader_resolved_it():
    """pyld shares a context it loaded by URL between loaders only when the loader tagged it static; a type-scoped
    context whose own scoped context needs an untagged one is refused with a loader that lacks it (pyld checks
    scoped contexts when it processes the context holding them), even after another loader had it."""
    outer, inner = f"https://creditflow.invalid/{uuid.uuid4()}/outer", f"https://creditflow.invalid/{uuid.uuid4()}/in"
    nested = {"@context": {"@version": 1.1, "T": {"@id": "https://example.org/T", "@context": {
        "p": {"@id": "https://example.org/p", "@context": inner}}}}}
    lacking = data_integrity.static_loader({outer: nested})

    def having(url: str, options: dict | None = None) -> dict[str, Any]:
        if url == inner:
            return {"contextUrl": None, "documentUrl": url, "document": {"@context": {"q": "https://example.org/q"}}}
        return lacking(url, options)

    document = {"@context": outer, "@id": "urn:x", "@type": "T"}
    assert assert_same_as_pyld(document, having) == "canonical"
    assert assert_same_as_pyld(document, lacking) == "refused"


def test_a_second_award_reuses_every_scoped_context_and_iri_the_first_one_processed():
    """The property the speed comes from, so that the equivalence above is not shown on a path never taken."""
    processor = data_integrity._PROCESSOR
    data_integrity.canonical(award(FULL))
    remembered = dict(processor._memo), dict(processor._iris)
    second = award(FULL)
    second["credentialSubject"]["result"][0]["value"] = "B"
    data_integrity.canonical(second)
    assert all(remembered) and (processor._memo, processor._iris) == remembered


# Hypothesis: variations of the credentials, placed anywhere in them, that exercise what canonicalisation depends on:
# terms of every context (and none), types with type-scoped contexts, inline contexts, strings, numbers, dates,
# nested arrays, keywords.
def keys_of(document: Any) -> set[str]:
    if isinstance(document, dict):
        return set(document) | {k for v in document.values() for k in keys_of(v)}
    return {k for v in document for k in keys_of(v)} if isinstance(document, list) else set()


TYPES = ["VerifiableCredential", "OpenBadgeCredential", "AchievementCredential", "EndorsementCredential",
         "ClrCredential", "ClrSubject", "Achievement", "AchievementSubject", "Profile", "Address", "Result",
         "ResultDescription", "Alignment", "Evidence", "Association", "IdentityObject", "Criteria",
         "EndorsementSubject", "DataIntegrityProof", "BitstringStatusListEntry", "Multikey", "Unknown", "ex:T",
         "https://example.org/T", "@json"]
TERMS = sorted(keys_of(list(creditflow_documents().values())) | set(TYPES) | {
    "id", "type", "@id", "@type", "@value", "@language", "@list", "@set", "@graph", "@index", "@reverse", "@included",
    "@nest", "ex:p", "https://example.org/p", "undefinedTerm"})  # a type as a key: its scoped context as a property's
IRIS = ["urn:uuid:1", "https://example.org/a#b", "relative/path", "_:b1", "did:example:123", "mailto:ada@example.org",
        "http://[::1]/x", "https://example.org/ spaced", "ex:curie", "", "#frag", "//host/p"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12), st.sampled_from(IRIS),
    st.datetimes(timezones=st.sampled_from([None, UTC])).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01", "P1D", "-0", "1e400", "0.1"]))
CONTEXTS = st.dictionaries(
    st.sampled_from(["name", "type", "ex", "p", "T", "@vocab", "@version", "@protected", "@propagate", "@base",
                     "@language"]),
    st.one_of(st.sampled_from(["https://example.org/x", "https://example.org/", "@id", 1.1, True, False, None, "en",
                               "relative"]),
              st.fixed_dictionaries({"@id": st.sampled_from(["https://example.org/p", "ex:p", "@type"])},
                                    optional={"@type": st.sampled_from(["@id", "@vocab", "@json", "xsd:string"]),
                                              "@container": st.sampled_from(["@set", "@list", "@graph", "@language"]),
                                              "@protected": st.booleans(),
                                              "@context": st.just({"q": "https://example.org/q"})})),
    max_size=3)
VALUES = st.recursive(
    SCALARS | st.sampled_from(TYPES).map(lambda t: {"type": [t]}),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(TERMS), inner, max_size=4),
        st.builds(lambda t, body: {"type": t, **body}, st.lists(st.sampled_from(TYPES), min_size=1, max_size=2),
                  st.dictionaries(st.sampled_from(TERMS), inner, max_size=3)),
        st.builds(lambda ctx, body: {"@context": ctx, **body}, CONTEXTS,
                  st.dictionaries(st.sampled_from(TERMS), inner, max_size=3))),
    max_leaves=10)


def objects(document: Any, path: tuple = ()) -> list[tuple]:
    """The path of every JSON object in the document."""
    if isinstance(document, dict):
        return [path] + [p for k, v in document.items() for p in objects(v, (*path, k))]
    if isinstance(document, list):
        return [p for i, v in enumerate(document) for p in objects(v, (*path, i))]
    return []


BASES = list(creditflow_documents().values())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), data=st.data())
def test_variations_of_creditflows_credentials_are_canonicalised_as_pyld_does(base, data):
    document = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(objects(document)))
        node = document
        for step in path:
            node = node[step]
        node[data.draw(st.sampled_from(TERMS))] = copy.deepcopy(data.draw(VALUES))  # no object shared twice
    event(assert_same_as_pyld(document))
