"""The fault matrix beyond learner-record (issue #17): two recognition instances deciding cases, two stacking
instances completing qualifications the issuer awards, each under a bounded load with faults injected halfway, then
checked by the pure folds of chaos_checker against the topics from offset 0, the projections (recognition cases,
stacking progress, the issuer's store) and the load generator's record of what was accepted.

Recognition's load: awards, and RecognitionRequested events published by the receiving institution on its inbound
topic (half the credentials' issuers accredited, so decided automatically; half not, so referred), and registrars
deciding the referred cases over HTTP on both instances, a request that fails in transit or with a 5xx sent again to
the other instance with the same idempotency key. Stacking's load: a published programme of three required
achievements that the issuer awards automatically on completion, enrolments on the institution's inbound topic, and
awards over the issuer's HTTP API that complete it for two learners in three."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from chaos_checker import (
    JUST_UNDER_LIMIT,
    Instances,
    as_admin,
    caught_up,
    compare_cases,
    compare_progress,
    expected_credits,
    fold_cases,
    publish,
    reference_letters,
    tear_down,
    topic_events,
    topic_fold,
)
from contract_factories import achievement
from creditflow.events import (
    CreditValue,
    CredentialAwarded,
    CredentialAwardedData,
    EctsConversion,
    Event,
    InstitutionRegistered,
    InstitutionRegisteredData,
    LearnerEnrolled,
    LearnerEnrolledData,
    LearningOutcome,
    ProgrammePublished,
    ProgrammePublishedData,
    RecognitionPolicyPublished,
    RecognitionRequested,
    RecognitionRequestedData,
    Requirement,
    encode,
)
from creditflow.events.permissions import INBOUND_PATTERN, inbound_topic
from creditflow.events.topics import INBOUND_CREDENTIALS, PROGRAMMES, PROGRESS, RECOGNITION_RULES, RECOGNITIONS
from creditflow.issuer import handlers as issuer_handlers
from creditflow.issuer.store import IssuerStore
from creditflow.recognition import handlers as recognition_handlers
from creditflow.recognition.store import RecognitionStore
from creditflow.runtime.mongo import mongo_client
from creditflow.stacking import handlers as stacking_handlers
from creditflow.stacking.store import StackingStore
from e2e_driver import achievement_body
from kafka_helpers import institution_login, publish_as_owner, publish_inbound
from kafka_waits import BOUND_S, start_after_end
from recognition_factories import ACCREDITED, OUTCOMES, policy, programme

# Columns that say how hard a fault hit, not what went wrong: records delivered again, HTTP requests sent again.
RESENT = "HTTP requests sent again"
DIAGNOSTIC = ("delivered more than once", RESENT)
MALFORMED = (b"{not json", b'{"hello": "world"}', b'{"event_type": "creditflow.issuer.credential.awarded.v1"}')


@dataclass
class Poison:
    """Where a fault puts records no consumer can take: a topic, the key whose partition must keep flowing, the
    consumer groups (of this run's processes) that read it, and what shows a record after the poison was applied."""
    topic: str
    key: str
    groups: tuple[str, ...]
    follow_up: Event | None = None
    applied: Callable[[], Awaitable[bool]] | None = None


@dataclass
class ServiceRun:
    """One scenario's processes and record, for faults to act on: `instances` are those a kill targets."""
    servers: object
    instances: Instances
    poison: list[Poison]
    checks: list[Callable[[], Awaitable[dict[str, int]]]] = field(default_factory=list)


async def _inbound_topics(servers) -> list[str]:
    admin = AIOKafkaAdminClient(**servers.admin.aiokafka())
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if re.match(INBOUND_PATTERN, t))
    finally:
        await admin.close()


async def from_now(servers, subscriptions: dict[str, tuple[str, ...]]) -> None:
    """Each group (group id -> its topics, () for the inbound pattern) starts after what earlier tests left; a pattern
    group with no inbound topic yet has nothing to skip."""
    inbound = await _inbound_topics(servers)
    for group, topics in subscriptions.items():
        if topics or inbound:
            await start_after_end(servers.admin, topics or inbound, group)


async def until(probe: Callable[[], Awaitable[bool]], bound_s: float = BOUND_S * 2) -> bool:
    """Whether `probe()` came true within the bound (polled)."""
    try:
        async with asyncio.timeout(bound_s):
            while not await probe():
                await asyncio.sleep(0.2)
        return True
    except TimeoutError:
        return False


async def settled(count: Callable[[], Awaitable[dict[str, int]]], clean: Callable[[dict[str, int]], bool]
                  ) -> dict[str, int]:
    """The counts once they are clean, or as they stand when the bound passed: what a killed instance stored but
    had not published is published by a survivor's relay once its claim lapses, so the topics settle after the
    consumers caught up."""
    deadline = time.monotonic() + BOUND_S * 4
    while True:
        counts = await count()
        if clean(counts) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(1)


# ------------------------------------------------------------------------------------------------------ faults

async def poison_records(run: ServiceRun) -> None:
    """On each topic the run's services read and only they: a record just under the broker's 1 MiB limit (its
    dead-letter copy does not fit, so it must be dead-lettered as a reference) and three malformed records, keyed so
    that a valid record published after them shares their partition; it must still be applied."""
    await as_admin(run.servers, [(p.topic, p.key.encode(), value) for p in run.poison
                                 for value in (b"x" * JUST_UNDER_LIMIT, *MALFORMED)])
    follow_ups = [p.follow_up for p in run.poison if p.follow_up is not None]
    if follow_ups:
        await publish_as_owner(run.servers, *follow_ups)

    async def letters() -> dict[str, int]:
        missing = 0
        for p in run.poison:
            for group in p.groups:
                for reference in (True, False):
                    found = await reference_letters(run.servers, p.key, group, {p.topic}, reference)
                    missing += p.topic not in found
        stopped = [p for p in run.poison if p.applied is not None and not await until(p.applied)]
        return {"oversized or malformed, not dead-lettered": missing, "partition stopped after the poison": len(stopped)}

    run.checks.append(letters)


# ------------------------------------------------------------------------------------------------------ recognition

def _recognition_award(learner: str, source: str, index: int) -> CredentialAwarded:
    """A credential matching the receiving module well, of an achievement of its own (no precedent of another
    learner's decision applies to it: each case is decided by its own analysis or registrar)."""
    return CredentialAwarded(producer=source, learner_id=learner, data=CredentialAwardedData(
        credential_id=f"urn:uuid:{uuid.uuid4()}", institution_id=source, achievement=achievement(
            achievement_id=f"ach-ml-{index}", institution_id=source, title="Applied machine learning",
            learning_outcomes=[LearningOutcome(statement=s) for s in OUTCOMES], field_of_study="0613",
            workload_hours=150),
        awarded_at=datetime.now(UTC) - timedelta(days=100), grade="B",
        credit_conversions=[EctsConversion(ects=6, method="identity", rule="already ECTS")]))


async def registrar_decisions(http: httpx.AsyncClient, urls: list[str], headers: dict[str, str], wanted: set[str],
                              accepted: dict[str, tuple[str, str]]) -> int:
    """Registrars working through the referred cases on both instances, eight at a time: each case decided once,
    granted or denied, with an idempotency key; a request that fails in transit or with a 5xx goes to the other
    instance with the same key. `accepted` records each 2xx answer (case -> decision id, outcome). Returns how many
    requests were sent again (the kill's mark on the load)."""
    slots, busy, resent = asyncio.Semaphore(8), set(), 0

    async def decide(index: int, case_id: str) -> None:
        outcome = ("granted", "denied")[index % 2]
        body = {"registrar": "Anna Tamm", "outcome": outcome, "reasons": ["checked by hand"],
                "recognised": [{"module_id": "mod-ml"}] if outcome == "granted" else [],
                "request_id": f"decide-{case_id}"}
        nonlocal resent
        async with slots:
            for attempt in range(100):
                resent += attempt == 1
                try:
                    answer = await http.post(f"{urls[(index + attempt) % len(urls)]}/cases/{case_id}/decisions",
                                             headers=headers, json=body)
                except httpx.TransportError:
                    continue
                if answer.status_code == 201:
                    accepted[case_id] = (answer.json()["decision_id"], outcome)
                    return
                assert answer.status_code >= 500, answer.text  # a refusal is a bug of the service or this load
                await asyncio.sleep(0.1)
            raise AssertionError(f"no decision on {case_id} accepted")

    async with asyncio.TaskGroup() as decisions:
        async with asyncio.timeout(BOUND_S * 6):
            while len(accepted) < len(wanted):
                for url in urls:
                    try:
                        queue = (await http.get(f"{url}/cases", headers=headers)).json()
                        break
                    except httpx.TransportError:
                        continue
                else:
                    raise AssertionError("no recognition instance answers")
                for item in queue:
                    if item["case_id"] in wanted and item["case_id"] not in busy \
                            and item["status"] == "awaiting-registrar":
                        busy.add(item["case_id"])
                        decisions.create_task(decide(sorted(wanted).index(item["case_id"]), item["case_id"]))
                await asyncio.sleep(0.3)
    return resent


async def recognition_under_load(servers, tmp_path, faults, learners: int = 40) -> dict[str, int]:
    run_id = uuid.uuid4().hex[:8]
    settings = servers.settings("recognition", mongodb_database=f"t{run_id}_recognition",
                                group_id=f"creditflow.recognition.chaos{run_id}")
    receiver, accredited, unaccredited = f"chaos-r{run_id}", f"chaos-a{run_id}", f"chaos-u{run_id}"
    programme_id = f"msc-{run_id}"
    names = sorted(f"chaos-{run_id}-{n:02}" for n in range(learners))
    login = await institution_login(servers, receiver)
    groups = {settings.group_id: recognition_handlers.LEARNER_TOPICS,
              f"{settings.group_id}.registry": recognition_handlers.REGISTRY_TOPICS, f"{settings.group_id}.inbound": ()}
    await from_now(servers, groups)
    instances = Instances(servers, tmp_path, settings, extra_env=lambda port: {})
    client = mongo_client(settings)
    store = RecognitionStore(client[settings.mongodb_database])
    flow = f"flow-{run_id}"  # an institution whose policy follows the poison on the rules topic's partition
    run = ServiceRun(servers, instances, [
        Poison(RECOGNITION_RULES.name, flow, (f"{settings.group_id}.registry",),
               RecognitionPolicyPublished(producer=flow, data=policy(institution_id=flow)),
               lambda: _known(store.policy(flow, date.today()))),
        Poison(PROGRAMMES.name, f"msc-{flow}", (f"{settings.group_id}.registry",),
               ProgrammePublished(producer=flow, data=programme(programme_id=f"msc-{flow}", institution_id=flow)),
               lambda: _known(store.programme(f"msc-{flow}", date.today()))),
        # Keyed to a learner whose request comes after: it must still be republished and decided.
        Poison(inbound_topic(receiver), names[-1], (f"{settings.group_id}.inbound",))])
    try:
        started = [instances.start() for _ in range(2)]
        await asyncio.gather(*(instances.ready(p) for p in started))
        await publish_as_owner(servers, *[InstitutionRegistered(producer=i, data=InstitutionRegisteredData(
            institution_id=i, name=i, country="EE", credit_frameworks=["ects"], quality_assurance=list(quality)))
            for i, quality in ((receiver, ACCREDITED), (accredited, ACCREDITED), (unaccredited, ()))],
            ProgrammePublished(producer=receiver, data=programme(programme_id=programme_id, institution_id=receiver)),
            RecognitionPolicyPublished(producer=receiver, data=policy(institution_id=receiver)))
        assert await until(lambda: _known(
            store.institution(receiver), store.institution(accredited), store.institution(unaccredited),
            store.programme(programme_id, date.today()), store.policy(receiver, date.today()))), "registry not known"

        awards = {learner: _recognition_award(learner, (accredited, unaccredited)[n % 2], n)
                  for n, learner in enumerate(names)}
        await publish(servers, [(a.learner_id.encode(), encode(a)) for a in awards.values()])
        requests = [RecognitionRequested(producer=receiver, learner_id=learner, data=RecognitionRequestedData(
            case_id=f"case-{learner}", institution_id=receiver, programme_id=programme_id, module_ids=["mod-ml"],
            credential_ids=[awards[learner].data.credential_id])) for learner in names]
        rules = {r.data.case_id: ("granted", "referred")[n % 2] for n, r in enumerate(requests)}
        referred = {case for case, rule in rules.items() if rule == "referred"}
        decided: dict[str, tuple[str, str]] = {}
        registrar = servers.identity.bearer(receiver, "registrar")
        async with httpx.AsyncClient(timeout=30) as http:
            urls = [f"http://127.0.0.1:{p.port}" for p in started]
            half = len(requests) // 2
            await publish_inbound(login, receiver, *requests[:half])
            load = asyncio.create_task(registrar_decisions(http, urls, registrar, referred, decided))
            async with asyncio.timeout(BOUND_S * 4):
                while len(decided) < len(referred) // 8 and not load.done():
                    await asyncio.sleep(0.05)
            restores = [await fault(run) for fault in faults]
            await publish_inbound(login, receiver, *requests[half:])
            resent = await load
        for restore in restores:
            if restore is not None:
                await restore()
        await caught_up(servers, settings.group_id, recognition_handlers.LEARNER_TOPICS)
        await caught_up(servers, f"{settings.group_id}.inbound", (inbound_topic(receiver),))
        asked = {str(r.event_id) for r in requests}

        async def count() -> dict[str, int]:
            events = await topic_events(servers, [RECOGNITIONS.name], set(names))
            folded = fold_cases(events)
            projected = {}
            for case_id in rules:
                state = await store.case(case_id)
                projected[case_id] = None if state is None else [
                    (d.data.decision_id, d.data.outcome, d.data.decided_by) for d in state.decisions]
            counts = compare_cases(folded, rules, decided, projected)
            republished = {str(e.event_id) for e in events if isinstance(e, RecognitionRequested)}
            counts["accepted, not on the topic"] += len(asked - republished)
            counts["delivered more than once"] = sum(c["delivered"] for c in folded.values())
            counts[RESENT] = resent
            return counts

        counts = await settled(count, _clean)
        for check in run.checks:
            counts |= await check()
        return counts
    finally:
        await tear_down(client, [settings.mongodb_database], instances)


async def _known(*lookups: Awaitable[object]) -> bool:
    return all([(await lookup) is not None for lookup in lookups])


def _clean(counts: dict[str, int]) -> bool:
    return not any(n for column, n in counts.items() if column not in DIAGNOSTIC)


# ------------------------------------------------------------------------------------------------------ stacking

REQUIRED = {"ach-a": 5.0, "ach-b": 5.0, "ach-c": 5.0}
QUALIFICATION = "ach-q"


def _certificate(programme_id: str, institution_id: str, options: dict[str, float], **fields) -> ProgrammePublishedData:
    return ProgrammePublishedData(
        programme_id=programme_id, institution_id=institution_id, version=1, effective_from=date(2025, 1, 1),
        title="Certificate in Data Science", total_credits=CreditValue(value=sum(options.values()), framework="ects"),
        requirements=[Requirement(requirement_id=f"r-{a}", kind="required", options=[a]) for a in options], **fields)


async def http_awards(http: httpx.AsyncClient, urls: list[str], headers: dict[str, str],
                      requests: list[tuple[str, str, str]], accepted: dict[str, str]) -> int:
    """A registrar system's load: each award (learner, request id, achievement) POSTed to the instances in turn,
    eight at a time. A request that fails in transit or with a 5xx (an instance killed under it) is sent again with
    the same request id to the next instance, as a client should; `accepted` records every 2xx answer (request id ->
    credential id). Returns how many requests were sent again."""
    slots, resent = asyncio.Semaphore(8), 0

    async def one(index: int, learner: str, request_id: str, achievement_id: str) -> None:
        nonlocal resent
        async with slots:
            for attempt in range(100):
                resent += attempt == 1
                url = urls[(index + attempt) % len(urls)]
                try:
                    answer = await http.post(f"{url}/awards", headers=headers, json={
                        "request_id": request_id, "learner_id": learner, "achievement_id": achievement_id})
                except httpx.TransportError:
                    continue
                if answer.status_code in (200, 201):
                    accepted[request_id] = answer.json()["credential_id"]
                    return
                assert answer.status_code >= 500, answer.text  # a refusal is a bug of this load, not a fault
                await asyncio.sleep(0.1)
            raise AssertionError(f"{request_id} never accepted")

    await asyncio.gather(*(one(i, *request) for i, request in enumerate(requests)))
    return resent


async def issuing_institution(http: httpx.AsyncClient, url: str, servers, institution_id: str,
                              achievements: list[dict]) -> dict[str, str]:
    """An institution registered at the issuer by the operator, with its achievements published; the bearer header
    of its issuing integration."""
    registered = await http.post(f"{url}/institutions", headers=servers.identity.bearer(), json={
        "institution_id": institution_id, "name": "University of Tartu", "country": "EE",
        "credit_frameworks": ["ects"], "quality_assurance": []})
    assert registered.status_code == 201, registered.text
    integration = servers.identity.bearer(institution_id, "issuer-integration")
    for body in achievements:
        published = await http.post(f"{url}/achievements", headers=integration, json=body)
        assert published.status_code == 201, published.text
    return integration


def issuer_settings(servers, run_id: str):
    """An issuer with a database and groups of its own, and what each of its groups reads (() for the pattern)."""
    issuer = servers.settings("issuer", mongodb_database=f"t{run_id}_issuer",
                              group_id=f"creditflow.issuer.chaos{run_id}")
    groups = {issuer.group_id: issuer_handlers.TOPICS,
              f"{issuer.group_id}.qualifications": issuer_handlers.QUALIFICATION_TOPICS,
              f"{issuer.group_id}.programmes": issuer_handlers.PROGRAMME_TOPICS, f"{issuer.group_id}.inbound": ()}
    return issuer, groups


async def stacking_under_load(servers, tmp_path, faults, learners: int = 30) -> dict[str, int]:
    run_id = uuid.uuid4().hex[:8]
    settings = servers.settings("stacking", mongodb_database=f"t{run_id}_stacking",
                                group_id=f"creditflow.stacking.chaos{run_id}")
    issuer, issuer_groups = issuer_settings(servers, run_id)
    institution_id, programme_id = f"chaos-h{run_id}", f"cert-{run_id}"
    names = sorted(f"chaos-{run_id}-{n:02}" for n in range(learners))
    login = await institution_login(servers, institution_id)
    await from_now(servers, {settings.group_id: stacking_handlers.LEARNER_TOPICS,
                             f"{settings.group_id}.registry": stacking_handlers.REGISTRY_TOPICS,
                             f"{settings.group_id}.inbound": (), **issuer_groups})
    issuers = Instances(servers, tmp_path, issuer, extra_env=lambda port: {
        "CREDITFLOW_ISSUER_KEY_DIR": str(tmp_path / "issuer-keys"),
        "CREDITFLOW_ISSUER_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    instances = Instances(servers, tmp_path, settings, extra_env=lambda port: {})
    client = mongo_client(settings)
    store, issued = StackingStore(client[settings.mongodb_database]), IssuerStore(client[issuer.mongodb_database])
    flow = f"flow-{run_id}"  # a programme following the poison on the programmes topic's partition
    run = ServiceRun(servers, instances, [
        Poison(PROGRAMMES.name, flow, (f"{settings.group_id}.registry", f"{issuer.group_id}.programmes"),
               ProgrammePublished(producer=institution_id, data=_certificate(flow, institution_id, {"ach-none": 5})),
               lambda: _flowed(store, issued, institution_id, flow)),
        # Keyed to a learner whose enrolment comes after: it must still be republished and applied.
        Poison(inbound_topic(institution_id), names[-1], (f"{settings.group_id}.inbound", f"{issuer.group_id}.inbound")),
        Poison(INBOUND_CREDENTIALS.name, names[-1], (issuer.group_id,))])
    try:
        stacking_processes = [instances.start() for _ in range(2)]
        issuer_process = issuers.start()
        await asyncio.gather(*(instances.ready(p) for p in stacking_processes), issuers.ready(issuer_process))
        url = f"http://127.0.0.1:{issuer_process.port}"
        async with httpx.AsyncClient(timeout=30) as http:
            integration = await issuing_institution(http, url, servers, institution_id, [achievement_body(
                institution_id, achievement_id=achievement_id, title=f"Part {achievement_id}",
                credits={"value": credits, "framework": "ects"}, workload_hours=int(credits * 25))
                for achievement_id, credits in (*REQUIRED.items(), (QUALIFICATION, sum(REQUIRED.values())))])
            await publish_as_owner(servers, ProgrammePublished(producer=institution_id, data=_certificate(
                programme_id, institution_id, REQUIRED, award_mode="automatic", achievement_id=QUALIFICATION)))
            assert await until(lambda: _flowed(store, issued, institution_id, programme_id)), "programme not known"

            enrolments = [LearnerEnrolled(producer=institution_id, learner_id=learner, data=LearnerEnrolledData(
                programme_id=programme_id, institution_id=institution_id, started_on=date.today()))
                for learner in names]
            # Two learners in three complete the programme; the others hold two of its three achievements.
            held = {learner: list(REQUIRED)[:3 if n % 3 else 2] for n, learner in enumerate(names)}
            awards = [(learner, f"{learner}-{a}", a) for a in REQUIRED for learner in names if a in held[learner]]
            accepted: dict[str, str] = {}
            half = len(names) // 2
            await publish_inbound(login, institution_id, *enrolments[:half])
            resent = await http_awards(http, [url], integration, [a for a in awards if a[0] in names[:half]],
                                       accepted)

            async def measuring() -> bool:
                return await store.learners.count_documents({}) >= half // 2

            assert await until(measuring), "stacking measures nobody"
            restores = [await fault(run) for fault in faults]
            await publish_inbound(login, institution_id, *enrolments[half:])
            resent += await http_awards(http, [url], integration, [a for a in awards if a[0] in names[half:]],
                                        accepted)
        for restore in restores:
            if restore is not None:
                await restore()
        await caught_up(servers, settings.group_id, stacking_handlers.LEARNER_TOPICS)
        credits = None

        async def count() -> dict[str, int]:
            nonlocal credits
            expected, deliveries, awarded_by = await topic_fold(servers, set(names))
            credits = expected_credits(expected, REQUIRED)
            progress = {learner: [] for learner in names}
            for event in await topic_events(servers, [PROGRESS.name], set(names)):
                if getattr(event.data, "programme_id", None) == programme_id and not isinstance(event, LearnerEnrolled):
                    progress[event.learner_id].append(event)
            projected = {}
            for learner in names:
                facts = await store.facts(learner)
                tracked = facts.programmes.get(programme_id) if facts else None
                projected[learner] = tracked.model_dump(mode="json") if tracked else None
            qualifications = {learner: sum(1 for a in held_.values()
                                           if a["achievement"]["achievement_id"] == QUALIFICATION)
                              for learner, held_ in expected.items()}
            counts = compare_progress(credits, sum(REQUIRED.values()), progress, projected, qualifications)
            stored = {d["_id"] async for d in issued.awards.find({"institution_id": institution_id}, {"_id": 1})}
            on_topic = set(awarded_by)
            counts["accepted, not on the topic"] = len(set(accepted.values()) - on_topic)
            counts["on the topic, never accepted"] = len(
                {c for learner in names for c, a in expected[learner].items()
                 if a["achievement"]["achievement_id"] != QUALIFICATION} - set(accepted.values()))
            counts["accepted, not in the issuer's store"] = len((set(accepted.values()) | on_topic) - stored)
            counts["issued twice"] += sum(1 for n in awarded_by.values() if n > 1)
            counts["delivered more than once"] = sum(1 for n in deliveries.values() if n > 1)
            counts[RESENT] = resent
            return counts

        counts = await settled(count, _clean)
        assert credits is not None and sum(1 for c in credits.values() if c >= 15) == sum(
            1 for learner in names if len(held[learner]) == 3)  # the load did complete the programme for some
        for check in run.checks:
            counts |= await check()
        return counts
    finally:
        await tear_down(client, [settings.mongodb_database, issuer.mongodb_database], instances, issuers)


async def _flowed(store: StackingStore, issued: IssuerStore, institution_id: str, programme_id: str) -> bool:
    """Whether stacking and the issuer both hold the programme."""
    return bool((await store.versions({programme_id})).get(programme_id)) and \
        await issued.programme(institution_id, programme_id, 1) is not None
