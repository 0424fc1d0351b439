"""`make demo`: a populated creditflow to look at, seeded into a running stack (`make run`) through its public doors.

Five institutions in four credit frameworks register and publish their achievements over the issuer's HTTP API; the
receiving university publishes a stackable certificate (electives, caps on micro-credentials and recognised credits),
its recognition policy and an articulation agreement on its own Kafka inbound topic, as its own principal; a few
thousand learners receive awards in bulk (with the progress bar of `creditflow award --file`); learners ask for
recognition and get every outcome (granted, by agreement too, partial, conditional, denied, referred, invalidated);
registrars decide and a learner appeals over HTTP; some learners complete the certificate, which the issuer awards;
finally the operator clock (development stacks only) is moved past the four-month deadline until recognition marks
the open cases overdue, and moved back.

    python -m creditflow.cli.demo [--learners 2000] [--tag TAG] [--summary FILE]

It reads the settings every command reads (CREDITFLOW_*: the services' URLs or HTTP ports, the Kafka admin's password
file, the identity key, CREDITFLOW_CLOCK_FILE). Running it again with the same tag publishes nothing new.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

SERVICES = {"issuer": 8101, "learner-record": 8102, "recognition": 8103, "stacking": 8104, "console": 8105}
NAMESPACE = uuid.UUID("5f0e7c4e-3b59-4d8e-9a57-1c2f9d0b6a11")  # event ids derived from content: re-runs repeat them
CLOCK_MOVE = "+125d"  # past the four-month deadline (at most 123 days) of a case opened today
PROGRAMME = "cert-data-science"


def url(service: str) -> str:
    """CREDITFLOW_<SERVICE>_URL, else 127.0.0.1 on the port the service itself reads (CREDITFLOW_<SERVICE>_HTTP_PORT)."""
    prefix = "CREDITFLOW_" + service.upper().replace("-", "_")
    return os.environ.get(prefix + "_URL") or f"http://127.0.0.1:{os.environ.get(prefix + '_HTTP_PORT', SERVICES[service])}"


# ---------------------------------------------------------------------------------------------------- the world


def outcomes(*statements: str) -> list[dict[str, str]]:
    return [{"statement": s} for s in statements]


ML = outcomes("Train and evaluate a classifier on real data", "Explain bias and variance in supervised learning")
STATS = outcomes("Apply hypothesis tests to experimental data", "Fit and interpret linear regression models")
ETHICS = outcomes("Assess the privacy risks of a data project", "Explain fairness in automated decisions")


def achievement(achievement_id: str, title: str, credits: float, framework: str, hours: float, eqf: int,
                learning: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {"achievement_id": achievement_id, "title": title, "credits": {"value": credits, "framework": framework},
            "workload_hours": hours, "level": {"eqf": eqf}, "learning_outcomes": learning,
            "assessment_type": "exam", "participation_form": "online",
            "quality_assurance_type": "internal and external review", **extra}


@dataclass(frozen=True)
class Institution:
    key: str  # its role in the world; the id carries the tag
    name: str
    country: str
    framework: str
    quality_assurance: list[dict[str, str]]
    achievements: list[dict[str, Any]]


def qa(body: str) -> list[dict[str, str]]:
    return [{"body": body, "scope": "institutional", "valid_from": "2020-01-01"}]


PART_OF = {"part_of": [PROGRAMME]}
INSTITUTIONS = [
    Institution("uni-tartu", "University of Tartu", "EE", "ects", qa("EKKA"), [
        achievement("ach-python", "Programming in Python", 6, "ects", 156, 6,
                    outcomes("Write and test Python programs"), **PART_OF),
        achievement("ach-stats", "Statistics for data science", 6, "ects", 156, 6, STATS, **PART_OF),
        achievement("ach-viz", "Data visualisation", 6, "ects", 156, 6,
                    outcomes("Design charts that answer a question"), **PART_OF),
        achievement("ach-ml", "Machine learning", 6, "ects", 156, 6, ML, **PART_OF),
        achievement("ach-capstone", "Data science capstone project", 6, "ects", 156, 6,
                    outcomes("Deliver a data analysis for a client"), assessment_type="project", **PART_OF),
        achievement("ach-cert-ds", "Certificate in Data Science", 30, "ects", 780, 6,
                    outcomes("Carry a data science project from question to answer"), achievement_type="Certificate",
                    assessment_type="portfolio"),
    ]),
    Institution("uni-edinburgh", "University of Edinburgh", "GB", "scqf", qa("QAA Scotland"), [
        achievement("ach-ml-ed", "Machine learning", 12, "scqf", 120, 7, ML,
                    level={"eqf": 7, "national_framework": "SCQF", "national_level": 11}),
        achievement("ach-ethics-ws", "Data ethics workshop", 6, "scqf", 60, 6, ETHICS,
                    assessment_type="participation-only", participation_form="onsite"),
        achievement("ach-ai-found", "Foundations of artificial intelligence", 10, "scqf", 100, 6,
                    outcomes("Describe search and planning methods")),
    ]),
    Institution("ara-poly", "Ara Institute of Canterbury", "NZ", "nzqf", qa("NZQA"), [
        achievement("ach-stats-nz", "Applied statistics", 12, "nzqf", 120, 6, STATS,
                    level={"eqf": 6, "national_framework": "NZQF", "national_level": 7}),
        achievement("ach-ml-basics", "Machine learning basics", 6, "nzqf", 60, 6, ML),
        achievement("ach-data-eng", "Data engineering", 15, "nzqf", 150, 6,
                    outcomes("Build a reproducible data pipeline"), participation_form="blended"),
    ]),
    Institution("state-college", "Lakeside State College", "US", "us-semester", qa("HLC"), [
        achievement("ach-stats-intro", "Introductory statistics", 3, "us-semester", 135, 4, STATS),
        achievement("ach-sql", "Databases and SQL", 3, "us-semester", 135, 5,
                    outcomes("Query and model relational data")),
    ]),
    Institution("open-mooc", "OpenCourse Academy", "NL", "ects", [], [  # a MOOC provider with no external QA
        achievement("ach-ml-mooc", "Machine learning specialisation", 6, "ects", 160, 6, ML),
        achievement("ach-python-mooc", "Python for everybody", 4, "ects", 110, 5,
                    outcomes("Write and test Python programs")),
    ]),
]
CREDIT_FRAMEWORKS = sorted({i.framework for i in INSTITUTIONS})

# Recognition scenarios at the receiving university: which credential, for which module, and the outcome it gets.
SCENARIOS = {
    "granted": ("uni-edinburgh", "ach-ml-ed", "mod-ml"),  # the five elements hold
    "agreement": ("ara-poly", "ach-stats-nz", "mod-stats"),  # granted by the articulation agreement
    "partial": ("ara-poly", "ach-ml-basics", "mod-ml"),  # 3 ECTS offered for a 6 ECTS module
    "conditional": ("uni-edinburgh", "ach-ethics-ws", "mod-ethics"),  # participation only: pass the assessment
    "denied": ("state-college", "ach-stats-intro", "mod-stats"),  # EQF 4, below the policy's minimum
    "referred": ("open-mooc", "ach-ml-mooc", "mod-ml"),  # quality cannot be verified: a registrar decides
    "invalidated": ("uni-edinburgh", "ach-ml-ed", "mod-ml"),  # granted, then the credential is revoked
}
COMPLETION = ("ach-python", "ach-capstone", "ach-stats", "ach-viz")  # plus mod-ml recognised from Edinburgh


def programme(institution_id: str) -> dict[str, Any]:
    def module(module_id: str, title: str, credits: float, learning: list[dict[str, str]]) -> dict[str, Any]:
        return {"module_id": module_id, "title": title, "credits": {"value": credits, "framework": "ects"},
                "level": {"eqf": 6}, "learning_outcomes": learning}

    return {"programme_id": PROGRAMME, "institution_id": institution_id, "version": 1, "effective_from": "2025-01-01",
            "title": "Certificate in Data Science", "total_credits": {"value": 30, "framework": "ects"},
            "min_level": {"eqf": 5},
            "modules": [module("mod-ml", "Machine learning", 6, ML), module("mod-stats", "Statistics", 6, STATS),
                        module("mod-ethics", "Data ethics", 3, ETHICS)],
            "requirements": [
                {"requirement_id": "core", "kind": "required", "options": ["ach-python", "ach-capstone"]},
                {"requirement_id": "methods", "kind": "elective", "min_items": 3,
                 "options": ["ach-stats", "ach-viz", "ach-ml", "mod-ml", "mod-stats"]}],
            # At most 24 of the 30 credits from micro-credentials, at most 9 recognised from elsewhere.
            "max_micro_credential_share": 0.8, "max_recognised_share": 0.3,
            "award_mode": "automatic", "achievement_id": "ach-cert-ds"}


def policy(institution_id: str) -> dict[str, Any]:
    return {"institution_id": institution_id, "version": 1, "effective_from": "2025-01-01",
            "accepted_qa_bodies": ["EKKA", "QAA Scotland", "NZQA", "HLC"], "min_level": {"eqf": 5},
            "conversion": "convention", "recency_years": 5, "max_recognised_share": 0.3,
            "outcome_overlap_threshold": 0.6, "automatic_decisions": True, "level_difference": "partial"}


# ---------------------------------------------------------------------------------------------------- the seeding


@dataclass
class Demo:
    learners: int
    tag: str
    ids: dict[str, str] = field(default_factory=dict)  # world key -> id with the tag
    tokens: dict[tuple[str | None, str], str] = field(default_factory=dict)  # (institution id, role) -> token
    logins: dict[str, Any] = field(default_factory=dict)  # institution id -> KafkaLogin
    counts: dict[str, Any] = field(default_factory=dict)
    cases: dict[str, list[str]] = field(default_factory=dict)  # scenario -> case ids
    started: float = field(default_factory=time.monotonic)

    def id(self, key: str) -> str:
        return self.ids.setdefault(key, f"{key}-{self.tag}" if self.tag else key)

    def learner(self, kind: str, number: int) -> str:
        return f"learner-{self.tag + '-' if self.tag else ''}{kind}{number:05d}"

    def event_id(self, *parts: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, "/".join((self.tag, *parts)))


def step(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def token(demo: Demo, institution_id: str | None, role: str) -> str:
    """A token signed with the platform's identity key and recorded in the token registry, as `creditflow token
    create` does: the demo acts as the operator, and hands each institution its own."""
    if (institution_id, role) not in demo.tokens:
        import asyncio
        from datetime import UTC, datetime

        from creditflow.events import Actor, TokenIssued, TokenIssuedData
        from creditflow.runtime import identity, token_registry
        from creditflow.runtime.settings import admin_login

        person = "ops@creditflow.demo" if institution_id is None else f"{role}@{institution_id}.demo"
        signed, claims = identity.create(identity.load_private_key(identity.key_file()), sub=person, name=None,
                                         inst=institution_id, roles=[role])
        at = {k: datetime.fromtimestamp(claims[k], UTC) for k in ("iat", "exp")}
        event = TokenIssued(producer="creditflow-admin", data=TokenIssuedData(**{**claims, **at}),
                            actor=Actor(person="make demo", institution_id=None, roles=["operator"]))
        asyncio.run(token_registry.publish(admin_login(os.environ), event))
        demo.tokens[(institution_id, role)] = signed
    return demo.tokens[(institution_id, role)]


def bearer(demo: Demo, institution_id: str | None, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(demo, institution_id, role)}"}


def check(response, *ok: int) -> dict[str, Any] | list[Any]:
    if response.status_code not in ok:
        raise SystemExit(f"{response.request.method} {response.request.url} answered {response.status_code}: "
                         f"{response.text[:500]}")
    return response.json() if response.content else {}


def stack_ready() -> None:
    import httpx

    for service in SERVICES:
        try:
            httpx.get(f"{url(service)}/readyz", timeout=30).raise_for_status()  # a busy machine answers slowly
        except httpx.HTTPError as exc:
            raise SystemExit(f"{service} is not ready at {url(service)} ({exc}): start the stack with `make run` "
                             "(and the same CREDITFLOW_*_HTTP_PORT settings) first") from None


def register(demo: Demo, http) -> None:
    from creditflow.runtime.principals import KafkaAdmin, new_password
    from creditflow.runtime.settings import admin_login
    from pydantic import SecretStr

    admin = admin_login(os.environ)
    kafka = KafkaAdmin(admin)
    secrets = Path(os.environ.get("CREDITFLOW_STATE_DIR", ".state")) / "demo"
    secrets.mkdir(parents=True, exist_ok=True)
    operator = bearer(demo, None, "operator")
    for institution in INSTITUTIONS:
        institution_id = demo.id(institution.key)
        check(http.post(f"{url('issuer')}/institutions", headers=operator, json={
            "institution_id": institution_id, "name": institution.name, "country": institution.country,
            "credit_frameworks": [institution.framework], "quality_assurance": institution.quality_assurance}),
            201, 409)
        issuer = bearer(demo, institution_id, "issuer-integration")
        for body in institution.achievements:
            check(http.post(f"{url('issuer')}/achievements", headers=issuer,
                            json={**body, "institution_id": institution_id}), 200, 201)
        # Its Kafka login: the principal that may write only creditflow.inbound.<institution_id> (decision 0001).
        password = new_password()
        kafka.create_institution(institution_id, password)
        (secrets / f"{institution_id}.password").write_text(password + "\n")
        demo.logins[institution_id] = admin.model_copy(update={
            "username": f"inst-{institution_id}", "password": SecretStr(password)})
    demo.counts["institutions"] = len(INSTITUTIONS)
    demo.counts["achievements"] = sum(len(i.achievements) for i in INSTITUTIONS)


def publish(demo: Demo, institution_id: str, events: list) -> None:
    """As the institution: on its own inbound topic, with its own Kafka principal, keyed as the contract keys them."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from creditflow.events import encode, topic_of
    from creditflow.events.permissions import inbound_topic

    async def send() -> None:
        producer = AIOKafkaProducer(**demo.logins[institution_id].aiokafka(), acks="all", linger_ms=20)
        await producer.start()
        try:
            sent = [await producer.send(inbound_topic(institution_id), encode(e), key=topic_of(e).key_of(e).encode())
                    for e in events]
            for future in sent:
                await future
        finally:
            await producer.stop()

    asyncio.run(send())


def rules(demo: Demo, http) -> None:
    from creditflow.events import (
        ArticulationAgreementPublished,
        ArticulationAgreementPublishedData,
        ProgrammePublished,
        ProgrammePublishedData,
        RecognitionPolicyPublished,
        RecognitionPolicyPublishedData,
    )

    tartu = demo.id("uni-tartu")
    agreement = ArticulationAgreementPublishedData(
        agreement_id=f"agr-ara-stats-{demo.tag or 'demo'}", institution_id=tartu,
        source_institution_id=demo.id("ara-poly"), source_achievement_id="ach-stats-nz", programme_id=PROGRAMME,
        module_id="mod-stats", credits={"value": 6, "framework": "ects"}, effective_from=date(2025, 1, 1))
    publish(demo, tartu, [
        ProgrammePublished(event_id=demo.event_id("programme"), producer=tartu,
                           data=ProgrammePublishedData.model_validate(programme(tartu))),
        RecognitionPolicyPublished(event_id=demo.event_id("policy"), producer=tartu,
                                   data=RecognitionPolicyPublishedData.model_validate(policy(tartu))),
        ArticulationAgreementPublished(event_id=demo.event_id("agreement"), producer=tartu, data=agreement)])
    registrar = bearer(demo, tartu, "registrar")

    def known() -> bool:
        seen = check(http.get(f"{url('recognition')}/rules", headers=registrar), 200)
        programmes = check(http.get(f"{url('stacking')}/programmes", headers=registrar), 200)
        return bool(seen["policy"] and seen["agreements"] and PROGRAMME in seen["programmes"] and programmes)

    wait(known, "recognition and stacking to receive the programme, the policy and the agreement")
    demo.counts["programmes"], demo.counts["agreements"] = 1, 1


def wait(probe, what: str, timeout_s: float = 300.0, every_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)
    return found


def mass_awards(demo: Demo, workdir: Path) -> None:
    """Each learner's award (a fifth of them from two institutions), written as one CSV file per institution and
    issued with the bulk command's own code: its progress bar, refused lines named, nothing issued twice."""
    from creditflow.cli.award import bulk

    rng = random.Random(f"creditflow-demo-{demo.tag}")
    rows: dict[str, list[str]] = {}
    for number in range(demo.learners):
        learner = demo.learner("", number)
        for institution in rng.sample(INSTITUTIONS, k=rng.choice((1, 1, 1, 1, 2))):
            body = rng.choice([a for a in institution.achievements if a.get("achievement_type") != "Certificate"])
            rows.setdefault(institution.key, []).append(
                f"demo-{demo.tag}-{learner}-{body['achievement_id']},{learner},{body['achievement_id']},"
                f"{rng.choice(('A', 'B', 'B', 'C', 'pass'))}\n")
    for key, lines in rows.items():
        path = workdir / f"awards-{demo.id(key)}.csv"
        path.write_text("request_id,learner_id,achievement_id,grade\n" + "".join(lines), encoding="utf-8")
        if bulk(path, url("issuer"), token(demo, demo.id(key), "issuer-integration")) != 0:
            raise SystemExit(f"some awards in {path} were refused (see above)")
    demo.counts["learners"] = demo.learners
    demo.counts["bulk_awards"] = sum(len(lines) for lines in rows.values())


def award(demo: Demo, http, key: str, learner: str, achievement_id: str) -> str:
    institution_id = demo.id(key)
    done = check(http.post(f"{url('issuer')}/awards", headers=bearer(demo, institution_id, "issuer-integration"),
                           json={"request_id": f"demo-{demo.tag}-{learner}-{achievement_id}", "learner_id": learner,
                                 "achievement_id": achievement_id, "grade": "B"}), 200, 201)
    return done["credential_id"]


def recognition_cases(demo: Demo, http, per_outcome: int) -> dict[str, str]:
    """Each scenario's learners hold the credential and ask the university to recognise it; returns each case's
    credential, for the revocations."""
    from creditflow.events import RecognitionRequested, RecognitionRequestedData

    from tqdm import tqdm

    tartu = demo.id("uni-tartu")
    plan = [(scenario, n) for scenario in SCENARIOS for n in range(per_outcome)]
    credentials, requests = {}, []
    for scenario, n in tqdm(plan, desc="recognition requests", unit="case"):
        key, achievement_id, module_id = SCENARIOS[scenario]
        learner = demo.learner(f"rec-{scenario}-", n)
        credential_id = award(demo, http, key, learner, achievement_id)
        case_id = f"case-{demo.tag + '-' if demo.tag else ''}{scenario}-{n}"
        credentials[case_id] = credential_id
        demo.cases.setdefault(scenario, []).append(case_id)
        requests.append(RecognitionRequested(
            event_id=demo.event_id("request", case_id), producer=tartu, learner_id=learner,
            data=RecognitionRequestedData(case_id=case_id, institution_id=tartu, programme_id=PROGRAMME,
                                          module_ids=[module_id], credential_ids=[credential_id])))
    publish(demo, tartu, requests)
    return credentials


def latest_outcomes(demo: Demo, http) -> dict[str, str | None]:
    registrar = bearer(demo, demo.id("uni-tartu"), "registrar")
    cases = check(http.get(f"{url('recognition')}/cases", params={"status": "all"}, headers=registrar), 200)
    return {c["case_id"]: c["latest_outcome"] for c in cases}


def decided(demo: Demo, http, expected: dict[str, str]) -> dict[str, str | None]:
    """Wait until every case has the outcome its scenario leads to; says which do not."""
    from tqdm import tqdm

    with tqdm(total=len(expected), desc="decisions", unit="case") as progress:
        def probe():
            now = latest_outcomes(demo, http)
            done = sum(now.get(c) == o for c, o in expected.items())
            progress.update(done - progress.n)
            return now if done == len(expected) else None

        try:
            return wait(probe, "recognition to decide the cases", timeout_s=600)
        except SystemExit:
            now = latest_outcomes(demo, http)
            wrong = {c: now.get(c) for c, o in expected.items() if now.get(c) != o}
            raise SystemExit(f"cases without the expected outcome: {wrong}") from None


def registrars_and_appeals(demo: Demo, http, credentials: dict[str, str]) -> None:
    """The registrar grants one referred case and denies another, which the learner appeals; a revocation at
    Edinburgh invalidates the decisions that relied on its credential."""
    from creditflow.events import RecognitionAppealed, RecognitionAppealedData

    tartu = demo.id("uni-tartu")
    registrar = bearer(demo, tartu, "registrar")
    referred = demo.cases["referred"]
    if len(referred) >= 3:  # the rest stay open for the registrar, and become overdue
        granted, denied = referred[0], referred[1]
        check(http.post(f"{url('recognition')}/cases/{granted}/decisions", headers=registrar, json={
            "registrar": "Mari Maasikas", "outcome": "granted", "recognised": [{"module_id": "mod-ml"}],
            "reasons": ["the provider's assessment was checked by hand: proctored exam with identity check"]}),
            201, 409)
        refusal = check(http.post(f"{url('recognition')}/cases/{denied}/decisions", headers=registrar, json={
            "registrar": "Mari Maasikas", "outcome": "denied",
            "reasons": ["the provider's quality assurance could not be established"]}), 201, 409)
        if "decision_id" in refusal:
            learner = demo.learner("rec-referred-", 1)
            publish(demo, tartu, [RecognitionAppealed(
                event_id=demo.event_id("appeal", denied), producer=tartu, learner_id=learner,
                data=RecognitionAppealedData(case_id=denied, institution_id=tartu,
                                             decision_id=refusal["decision_id"],
                                             grounds="The provider is accredited abroad; the certificate is attached."))])
    edinburgh = demo.id("uni-edinburgh")
    for case_id in demo.cases["invalidated"]:
        check(http.post(f"{url('issuer')}/credentials/{credentials[case_id]}/revoke",
                        headers=bearer(demo, edinburgh, "issuer-integration"),
                        json={"reason": "awarded in error: the exam was not passed"}), 200, 409)


def completions(demo: Demo, http, count: int) -> list[str]:
    """Learners who hold the four Tartu micro-credentials and had Edinburgh's machine learning recognised for
    mod-ml: stacking completes the certificate and the issuer awards it."""
    from creditflow.events import LearnerEnrolled, LearnerEnrolledData, RecognitionRequested, RecognitionRequestedData

    from tqdm import tqdm

    tartu = demo.id("uni-tartu")
    learners, events = [], []
    for n in tqdm(range(count), desc="certificate learners", unit="learner"):
        learner = demo.learner("cert-", n)
        learners.append(learner)
        for achievement_id in COMPLETION:
            award(demo, http, "uni-tartu", learner, achievement_id)
        credential_id = award(demo, http, "uni-edinburgh", learner, "ach-ml-ed")
        case_id = f"case-{demo.tag + '-' if demo.tag else ''}cert-{n}"
        events += [
            LearnerEnrolled(event_id=demo.event_id("enrol", learner), producer=tartu, learner_id=learner,
                            data=LearnerEnrolledData(programme_id=PROGRAMME, institution_id=tartu,
                                                     started_on=date(2025, 9, 1))),
            RecognitionRequested(event_id=demo.event_id("request", case_id), producer=tartu, learner_id=learner,
                                 data=RecognitionRequestedData(case_id=case_id, institution_id=tartu,
                                                               programme_id=PROGRAMME, module_ids=["mod-ml"],
                                                               credential_ids=[credential_id]))]
    publish(demo, tartu, events)
    registrar = bearer(demo, tartu, "registrar")

    def certified(learner: str) -> bool:
        found = http.get(f"{url('learner-record')}/learners/{learner}/record", headers=registrar)
        return found.status_code == 200 and any(
            a["achievement_id"] == "ach-cert-ds" for a in found.json()["record"]["achievements"])

    with tqdm(total=count, desc="certificates awarded", unit="learner") as progress:
        def probe():
            done = sum(certified(learner) for learner in learners)
            progress.update(done - progress.n)
            return done == count

        wait(probe, "the certificates to be completed and awarded", timeout_s=600, every_s=2)
    return learners


def overdue(demo: Demo, http) -> int:
    """Move the operator clock past the deadline until recognition marks the open cases overdue, then back."""
    from tqdm import tqdm

    clock = Path(os.environ.get("CREDITFLOW_CLOCK_FILE")
                 or Path(os.environ.get("CREDITFLOW_STATE_DIR", ".state")) / "clock")
    registrar = bearer(demo, demo.id("uni-tartu"), "registrar")
    wanted = set(demo.cases["referred"][2:]) if len(demo.cases["referred"]) >= 3 else set(demo.cases["referred"])
    before = clock.read_text() if clock.exists() else None
    clock.write_text(CLOCK_MOVE + "\n")
    try:
        with tqdm(total=len(wanted), desc=f"overdue (clock {CLOCK_MOVE})", unit="case") as progress:
            def probe():
                queue = check(http.get(f"{url('recognition')}/cases", headers=registrar), 200)
                done = len(wanted & {c["case_id"] for c in queue if c["overdue"]})
                progress.update(done - progress.n)
                return done == len(wanted)

            wait(probe, f"recognition to mark cases overdue under the moved clock (is it a development stack reading "
                        f"CREDITFLOW_CLOCK_FILE={clock}? `make run` is)", timeout_s=300)
    finally:
        if before is None:
            clock.unlink(missing_ok=True)
        else:
            clock.write_text(before)
    return len(wanted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="creditflow demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=1000, help="learners with bulk awards (default 1000)")
    parser.add_argument("--tag", default="", help="suffix of every id, to seed a second world beside the first")
    parser.add_argument("--summary", type=Path, help="also write what was seeded, as JSON, to this file")
    args = parser.parse_args(argv)
    if args.learners < 1:
        parser.error("--learners: at least 1")
    if args.tag and not args.tag.replace("-", "").isalnum():
        parser.error("--tag: letters, digits and hyphens only")

    import tempfile

    import httpx

    if "CREDITFLOW_KAFKA_PORT" in os.environ:  # as `make run` reads it, when no bootstrap is given
        os.environ.setdefault("CREDITFLOW_KAFKA_BOOTSTRAP", f"127.0.0.1:{os.environ['CREDITFLOW_KAFKA_PORT']}")
    demo = Demo(learners=args.learners, tag=args.tag)
    per_outcome = max(3, min(5, args.learners // 200))
    stack_ready()
    with httpx.Client(timeout=60) as http, tempfile.TemporaryDirectory(prefix="creditflow-demo-") as workdir:
        step(f"{len(INSTITUTIONS)} institutions in {len(CREDIT_FRAMEWORKS)} credit frameworks "
             f"({', '.join(CREDIT_FRAMEWORKS)}): registered, achievements published, Kafka logins created")
        register(demo, http)
        step("Tartu publishes its certificate, recognition policy and an agreement with Ara on its inbound topic")
        rules(demo, http)
        step(f"{per_outcome} recognition requests per outcome at Tartu")
        credentials = recognition_cases(demo, http, per_outcome)
        expected = {c: ("granted" if s in ("agreement", "invalidated") else s)
                    for s, cases in demo.cases.items() for c in cases}
        decided(demo, http, expected)
        step("Registrars decide referred cases, a learner appeals, Edinburgh revokes a credential")
        registrars_and_appeals(demo, http, credentials)
        if len(demo.cases["referred"]) >= 3:
            expected |= {demo.cases["referred"][0]: "granted", demo.cases["referred"][1]: "denied"}
        expected |= dict.fromkeys(demo.cases["invalidated"], "invalidated")
        decided(demo, http, expected)
        step("Learners complete the stacked Certificate in Data Science")
        certified = completions(demo, http, per_outcome)
        step("The operator clock moves past the four-month deadline, then back")
        demo.counts["overdue"] = overdue(demo, http)
        outcomes_now = latest_outcomes(demo, http)
        # The crowd comes last, so that the cases above are not queued behind thousands of awards at each consumer.
        step(f"{args.learners} learners: bulk awards at every institution")
        mass_awards(demo, Path(workdir))
    tally: dict[str, int] = {}
    for outcome in outcomes_now.values():
        tally[outcome or "open"] = tally.get(outcome or "open", 0) + 1
    demo.counts |= {"cases": len(outcomes_now), "outcomes": tally, "certificates": len(certified),
                    "seconds": round(time.monotonic() - demo.started)}
    summary = {"counts": demo.counts, "institutions": {i.key: demo.id(i.key) for i in INSTITUTIONS},
               "programme": PROGRAMME, "cases": demo.cases, "certified_learners": certified,
               "example_learner": demo.learner("", 0)}
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2))
    where(demo, summary)
    return 0


def where(demo: Demo, summary: dict[str, Any]) -> None:
    tartu = demo.id("uni-tartu")
    counts = summary["counts"]
    print(f"\nSeeded in {counts['seconds']} s: {counts['institutions']} institutions, {counts['achievements']} "
          f"achievements, 1 stackable programme, 1 agreement, {counts['learners']} learners with "
          f"{counts['bulk_awards']} bulk awards, {counts['cases']} recognition cases "
          f"({', '.join(f'{n} {o}' for o, n in sorted(counts['outcomes'].items()))}; {counts['overdue']} overdue), "
          f"{counts['certificates']} certificates completed.")
    registrar = token(demo, tartu, "registrar")
    learner, certified = summary["example_learner"], summary["certified_learners"][0]
    print(f"""
Where to look (a registrar of {tartu}; its token, valid 30 days, signs in to the console too):
  REGISTRAR={registrar}
  console      {url('console')}          sign in with $REGISTRAR: the queue (overdue first), cases, records
  recognition  curl -H "Authorization: Bearer $REGISTRAR" {url('recognition')}/cases
               curl -H "Authorization: Bearer $REGISTRAR" {url('recognition')}/cases/{summary['cases']['referred'][-1]}
  records      curl -H "Authorization: Bearer $REGISTRAR" {url('learner-record')}/learners/{certified}/record
  stacking     curl -H "Authorization: Bearer $REGISTRAR" {url('stacking')}/learners/{certified}/programmes/{PROGRAMME}/progress
  issuer       {url('issuer')}/docs   (each institution's status list: /institutions/{tartu}/status/revocation)
Example learners: {certified} (completed the certificate), {demo.learner('rec-partial-', 0)} (partial
  recognition), {learner} (bulk awards: a registrar sees a learner holding one of its institution's credentials).
The services project the bulk awards for a while after this ends: /metrics (operator token) shows the lag.
Each institution's Kafka password is in {Path(os.environ.get('CREDITFLOW_STATE_DIR', '.state')) / 'demo'} (docs/integration.md).""")


if __name__ == "__main__":
    sys.exit(main())
