"""`make bench-credentials` (also run by `make bench`): the cost of securing and verifying one award, per format.

In one process, on one core, with no I/O: the award the issuer builds (domain.issue: rules, ECTS conversion, size
checks, the OB 3.0 credential) and its proof. Canonicalisation (JSON-LD expansion to RDF and RDFC-1.0) is the
expensive step of Data Integrity, so it is also timed alone, cold (first use of each context in the process) and warm:
creditflow's (pyld remembering what each scoped context yields, data_integrity.canonical), pyld's own
`jsonld.normalize` as it was used before (resolved-context cache filled), and pyld's RDF with pyoxigraph's (Rust)
RDFC-1.0; all three are checked to give the same bytes. Prints a Markdown table; awards/s = 1 / (median seconds per
issued award).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pyoxigraph
from pyld import jsonld

from creditflow.credentials import data_integrity, jose, keys, ob_jwt
from creditflow.credentials.verify import RegisteredKey, check_proof, key_reference, verification_method
from creditflow.events import Achievement, CreditValue, LearningOutcome, Level
from creditflow.issuer import credential, domain
from creditflow.issuer.rules import Institution

PUBLIC_URL = "https://issuer.example"
INSTITUTION = Institution("uni-tartu", "University of Tartu", "EE")
ISSUER = credential.issuer_id(PUBLIC_URL, INSTITUTION.institution_id)
ACHIEVEMENT = Achievement(
    achievement_id="ach-ml-intro", institution_id="uni-tartu", title="Introduction to machine learning",
    learning_outcomes=[LearningOutcome(statement="Train and evaluate a classifier"),
                       LearningOutcome(statement="Explain overfitting and how to detect it")],
    workload_hours=150, credits=CreditValue(value=6, framework="ects"), level=Level(eqf=6),
    assessment_type="project", participation_form="online", quality_assurance_type="external accreditation")


def timed(action: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each run: on a shared machine the CPU time is what another process's load
    does not inflate (much)."""
    seconds, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        action()
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return seconds, cpu


def creditflow_rdf(document: dict) -> str:
    """The document's RDF from creditflow's pyld processor (the one data_integrity.canonical uses)."""
    return data_integrity._PROCESSOR.to_rdf(document, {"documentLoader": data_integrity.LOADER,
                                                        "format": "application/n-quads"})


def compiled_canonical(document: dict) -> str:
    """creditflow's pyld processor expands the document to RDF (pyoxigraph's JSON-LD parser has no document loader,
    and with the contexts inline it parses them per document); pyoxigraph canonicalises it with RDFC-1.0 and the
    quads are serialised in code-point order, as RDFC-1.0 wants."""
    quads = creditflow_rdf(document)
    dataset = pyoxigraph.Dataset(pyoxigraph.parse(quads, format=pyoxigraph.RdfFormat.N_QUADS))
    dataset.canonicalize(pyoxigraph.CanonicalizationAlgorithm.RDFC_1_0)
    return "".join(sorted(f"{quad} .\n" for quad in dataset))


def pyld_canonical(document: dict) -> str:
    """pyld's own normalize, a fresh processor per document: what data_integrity.canonical must equal."""
    return jsonld.normalize(document, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                       "documentLoader": data_integrity.LOADER})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    repeat = parser.parse_args().repeat
    now = datetime.now(UTC)
    ed25519, p256 = keys.generate(), keys.generate_p256()
    method, jwt_method = verification_method(ISSUER, "key-1"), verification_method(ISSUER, "es256-key-1")
    registry = {key_reference(m): RegisteredKey(key_reference(m), "uni-tartu", ISSUER, k.public_key(),
                                                datetime(2020, 1, 1, tzinfo=UTC))
                for m, k in ((method, ed25519), (jwt_method, p256))}
    registry[f"{ISSUER}#key-1"] = registry[key_reference(method)]

    async def resolve(reference: str) -> RegisteredKey | None:
        return registry.get(reference)

    counter = iter(range(10**9))

    def award() -> object:
        return domain.issue(public_url=PUBLIC_URL, request_id=f"r-{next(counter)}", learner_id="learner-ada",
                            institution=INSTITUTION, achievement=ACHIEVEMENT, awarded_at=now, grade="A",
                            status_index=4242, signing_key=domain.SigningKey(method, ed25519), signed_at=now)

    unsigned = credential.achievement_credential(
        public_url=PUBLIC_URL, credential_id="urn:uuid:0", learner_id="learner-ada", institution=INSTITUTION,
        achievement=ACHIEVEMENT, awarded_at=now, grade="A", conversions=[], size=None, status_index=1)
    cold_started = time.perf_counter()
    data_integrity.canonical(unsigned)
    cold = time.perf_counter() - cold_started

    assert compiled_canonical(unsigned) == pyld_canonical(unsigned) == data_integrity.canonical(unsigned), \
        "the canonicalisers disagree"
    signed = data_integrity.sign(unsigned, ed25519, method, now, proof_set=True)
    token = ob_jwt.sign(unsigned, p256, jwt_method, now)
    legacy = jose.envelope(jose.sign(unsigned, ed25519, f"{ISSUER}#key-1"))

    import asyncio

    def verify(secured: object) -> Callable[[], object]:
        return lambda: asyncio.run(check_proof(secured, resolve))

    rows = [
        ("canonicalise the award: creditflow (pyld, scoped contexts remembered)",
         timed(lambda: data_integrity.canonical(unsigned), repeat)),
        ("canonicalise the award: pyld jsonld.normalize (RDFC-1.0, warm cache)",
         timed(lambda: pyld_canonical(unsigned), repeat)),
        ("canonicalise the award: creditflow's RDF + pyoxigraph RDFC-1.0",
         timed(lambda: compiled_canonical(unsigned), repeat)),
        ("expand the award to RDF only (creditflow)", timed(lambda: creditflow_rdf(unsigned), repeat)),
        ("expand the award to RDF only (pyld jsonld.to_rdf)", timed(lambda: jsonld.to_rdf(unsigned, {
            "documentLoader": data_integrity.LOADER, "format": "application/n-quads"}), repeat)),
        ("issue an award: rules + credential + eddsa-rdfc-2022 proof", timed(award, repeat)),
        ("sign eddsa-rdfc-2022 (2 canonicalisations + Ed25519)",
         timed(lambda: data_integrity.sign(unsigned, ed25519, method, now, proof_set=True), repeat)),
        ("verify eddsa-rdfc-2022 (shared check_proof)", timed(verify(signed), repeat)),
        ("sign OB 3.0 JWT (ES256)", timed(lambda: ob_jwt.sign(unsigned, p256, jwt_method, now), repeat)),
        ("verify OB 3.0 JWT (shared check_proof)", timed(verify(token), repeat)),
        ("sign legacy VC-JOSE (EdDSA)", timed(lambda: jose.sign(unsigned, ed25519, f"{ISSUER}#key-1"), repeat)),
        ("verify legacy VC-JOSE (shared check_proof)", timed(verify(legacy), repeat)),
    ]
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, {repeat} runs each; "
          f"first canonicalisation in the process (contexts parsed): {cold * 1000:.1f} ms\n")
    print("| step | median ms | p95 ms | per second | median CPU ms |")
    print("|---|---|---|---|---|")
    for name, (seconds, cpu) in rows:
        median = statistics.median(seconds)
        p95 = sorted(seconds)[int(len(seconds) * 0.95) - 1]
        print(f"| {name} | {median * 1000:.2f} | {p95 * 1000:.2f} | {1 / median:,.0f} | "
              f"{statistics.median(cpu) * 1000:.2f} |")


if __name__ == "__main__":
    main()
