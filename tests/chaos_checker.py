"""The fault matrix's parts (issue #17), shared by the short subset in `make test` (tests/test_chaos_subset.py) and
the full matrix of `make chaos` (tests/chaos/): service processes started and killed at will, a load generator that
keeps its own record of every write the broker (or an HTTP API) accepted, and a checker that folds the topics from
offset 0 and compares them with the projections and with that record: learner records (`compare`), recognition
cases (`fold_cases`, `compare_cases`) and stacking progress with the qualifications it completes
(`expected_credits`, `compare_progress`). The folds and comparisons are pure (tests/test_chaos_checker.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from contract_factories import achievement, awarded
from creditflow.events import (
    DEAD_LETTER_TOPIC,
    CredentialAwarded,
    Event,
    QualificationCompleted,
    QualificationInvalidated,
    RecognitionDecided,
    RecognitionRequested,
    StackingProgressUpdated,
    decode,
    encode,
)
from creditflow.events.permissions import writer_of
from creditflow.events.topics import CREDENTIALS
from creditflow.learner_record import handlers
from creditflow.learner_record.store import RecordStore
from creditflow.runtime.mongo import mongo_client
from kafka_waits import BOUND_S, _partitions, start_after_end, until_written, written

BATCH = 20  # small batches: a kill lands between the write of one and the commit of another
# Under the broker's 1 MiB limit with the key and record overhead, over it once the dlq.* headers are added
# (tests/security/test_poison_pill.py).
JUST_UNDER_LIMIT = (1 << 20) - 160


@dataclass
class Accepted:
    """The load generator's own record: every event the broker acknowledged, by event id."""
    events: dict[str, object] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instances:
    """Processes of one service, one consumer group and one database, started and killed at will. `extra_env(port)`
    adds what that service needs beyond the common settings (learner-record: its batch size and CLR key)."""

    def __init__(self, servers, tmp_path, settings, batch_size: int = BATCH,
                 extra_env: Callable[[int], dict[str, str]] | None = None) -> None:
        self.servers, self.tmp_path, self.settings = servers, tmp_path, settings
        self.extra_env = extra_env or (lambda port: {
            "CREDITFLOW_LEARNER_RECORD_BATCH_SIZE": str(batch_size),
            "CREDITFLOW_LEARNER_RECORD_KEY_FILE": str(tmp_path / f"key-{port}.pem")})
        self.running: list[subprocess.Popen] = []

    def start(self, port: int | None = None) -> subprocess.Popen:
        s, port = self.settings, port or free_port()
        prefix = "CREDITFLOW_" + s.service.upper().replace("-", "_") + "_"
        env = {**os.environ, **self.servers.stack.service_env(s.service, over_tls=False),
               "CREDITFLOW_KAFKA_BOOTSTRAP": s.kafka_bootstrap, "CREDITFLOW_MONGODB_URL": s.mongodb_url,
               prefix + "MONGODB_DATABASE": s.mongodb_database, prefix + "GROUP_ID": s.group_id,
               prefix + "HTTP_PORT": str(port),
               "CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE": s.identity_public_key_file, **self.extra_env(port)}
        log = open(self.tmp_path / f"{s.service}-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen([sys.executable, "-m", "creditflow." + s.service.replace("-", "_")], env=env,
                                   stdout=log, stderr=log)
        process.port = port  # type: ignore[attr-defined]
        self.running.append(process)
        return process

    async def ready(self, process: subprocess.Popen) -> None:
        async with asyncio.timeout(BOUND_S * 2), httpx.AsyncClient() as http:
            while True:
                assert process.poll() is None, f"{self.settings.service} on {process.port} exited"  # type: ignore[attr-defined]
                try:
                    url = f"http://127.0.0.1:{process.port}/readyz"  # type: ignore[attr-defined]
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.running.clear()


async def publish(servers, values: list[tuple[bytes, bytes]]) -> None:
    """As the issuer (the one writer of the credentials topic), acks=all: what returns is accepted."""
    producer = AIOKafkaProducer(**servers.login(writer_of(CREDENTIALS.name)).aiokafka(), acks="all")
    await producer.start()
    try:
        await asyncio.gather(*(producer.send_and_wait(CREDENTIALS.name, value, key=key) for key, value in values))
    finally:
        await producer.stop()


async def as_admin(servers, records: list[tuple[str, bytes, bytes]]) -> None:
    """Records injected as the admin principal (any topic), in the order given, each acknowledged by all replicas."""
    producer = AIOKafkaProducer(**servers.admin.aiokafka(), acks="all")
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def topic_fold(servers, learners: set[str]) -> tuple[dict[str, dict[str, dict]], Counter, Counter]:
    """The expected state, folded from offset 0 of the topic to its current end: per learner, each credential's
    award; how often each event id was delivered (a count above 1 is a duplicate the consumer must absorb); and per
    credential, how many distinct events awarded it (above 1: issued twice, not delivered twice)."""
    expected: dict[str, dict[str, dict]] = {learner: {} for learner in learners}
    deliveries: Counter = Counter()
    awarded_by: dict[str, set[str]] = {}
    # Malformed records (never accepted as writes) are left out: the consumer dead-letters them.
    for event in await topic_events(servers, [CREDENTIALS.name], learners):
        if not isinstance(event, CredentialAwarded):
            continue  # revocations a fault injected: that fault's own check looks at them
        deliveries[str(event.event_id)] += 1
        awarded_by.setdefault(event.data.credential_id, set()).add(str(event.event_id))
        expected[event.learner_id][event.data.credential_id] = event.data.model_dump(mode="json")
    return expected, deliveries, Counter({credential: len(ids) for credential, ids in awarded_by.items()})


async def topic_events(servers, topics: list[str], keys: set[str]) -> list[Event]:
    """Every event with one of these keys on the topics, from offset 0 to their current end, each partition in its
    order (a key's events keep theirs); records that are no event (a fault's poison) are left out."""
    partitions = await _partitions(servers.admin, topics)
    consumer = AIOKafkaConsumer(**servers.admin.aiokafka(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[tuple[str, int, int], Event]] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(BOUND_S * 2):
            while any([await consumer.position(p) < ends[p] for p in partitions]):
                for partition, records in (await consumer.getmany(timeout_ms=500)).items():
                    for record in records:
                        if record.offset >= ends[partition] or record.key is None or record.key.decode() not in keys:
                            continue
                        try:
                            found.append(((record.topic, record.partition, record.offset), decode(record.value)))
                        except ValueError:
                            continue
    finally:
        await consumer.stop()
    return [event for _, event in sorted(found, key=lambda f: f[0])]


async def caught_up(servers, group_id: str, topics: tuple[str, ...] = (CREDENTIALS.name,),
                    bound_s: float = BOUND_S * 4) -> None:
    """Wait until the group committed the end the topics have now: every record on them was handled (or
    dead-lettered). The bound allows for the rebalance after a kill -9 (the dead member's session must lapse)."""
    partitions = await _partitions(servers.admin, topics)
    consumer = AIOKafkaConsumer(**servers.admin.aiokafka(), group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(bound_s):
            while any([((await consumer.committed(p)) or 0) < ends[p] for p in partitions]):
                await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def projection(store: RecordStore, learners: set[str]) -> dict[str, list[dict]]:
    return {learner: ((await store.get(learner)) or {"achievements": []})["achievements"] for learner in learners}


def compare(expected: dict[str, dict[str, dict]], projected: dict[str, list[dict]]) -> dict[str, int]:
    lost = duplicated = wrong = 0
    for learner, credentials in expected.items():
        held = Counter(a["credential_id"] for a in projected[learner])
        lost += sum(1 for c in credentials if c not in held)
        duplicated += sum(n - 1 for n in held.values() if n > 1)
        for entry in projected[learner]:
            award = credentials.get(entry["credential_id"])
            if award is None or (entry["achievement_id"], entry["institution_id"]) != (
                    award["achievement"]["achievement_id"], award["institution_id"]):
                wrong += 1
    return {"lost": lost, "duplicated": duplicated, "wrong": wrong}




Restore = Callable[[], Awaitable[None]]


@dataclass
class Run:
    """One scenario's load, processes and the record of what was accepted, for faults to act on."""
    servers: object
    instances: Instances
    store: RecordStore
    learners: set[str]
    values: list[tuple[bytes, bytes]]
    accepted: Accepted
    # What a fault asks the checker to look at once the group has caught up, beyond the awards: each returns its
    # counts (all 0 when the projection is right).
    checks: list[Callable[[], Awaitable[dict[str, int]]]] = field(default_factory=list)

    async def progressed(self, at_least: int) -> None:
        """Once the projection holds `at_least` credentials: the group is consuming, some batches are written."""
        async with asyncio.timeout(BOUND_S * 4):
            while sum(len(a) for a in (await projection(self.store, self.learners)).values()) < at_least:
                await asyncio.sleep(0.05)


Fault = Callable[[Run], Awaitable[Restore | None]]


def load(learners: set[str], awards_each: int, accepted: Accepted) -> list[tuple[bytes, bytes]]:
    values = []
    for learner in sorted(learners):
        for n in range(awards_each):
            event = awarded(learner_id=learner, credential_id=f"urn:uuid:{uuid.uuid4()}",
                            achievement=achievement(achievement_id=f"ach-{n}"))
            accepted.events[str(event.event_id)] = event
            values.append((learner.encode(), encode(event)))
    return values


async def new_group(servers, kind: str):
    """A run id, and learner-record settings with a database and consumer group of their own; the group starts after
    what earlier tests left on the shared topics (the checker folds all of it anyway)."""
    run_id = uuid.uuid4().hex[:8]
    settings = servers.settings("learner-record", mongodb_database=f"t{run_id}_{kind}",
                                group_id=f"creditflow.learner-record.{kind}{run_id}")
    await start_after_end(servers.admin, handlers.LEARNER_TOPICS, settings.group_id)
    await start_after_end(servers.admin, handlers.REGISTRY_TOPICS, f"{settings.group_id}.registry")
    return run_id, settings


async def run_scenario(servers, tmp_path, faults: list[Fault], *, learners: int = 40, awards_each: int = 10,
                       instances: int = 2) -> dict[str, int]:
    """Two learner-record processes (one group, one database) take a load of awards; half is published, the faults
    are injected once some batches are written, the other half is published while they last, then each fault's
    restore runs. Once the group has committed the topic's end, the counts: lost, duplicated and wrong entries of
    the projection against the topic folded from offset 0, and accepted writes missing from the topic."""
    run_id, settings = await new_group(servers, "chaos")
    names = {f"chaos-{run_id}-{n}" for n in range(learners)}
    accepted = Accepted()
    values = load(names, awards_each, accepted)
    processes = Instances(servers, tmp_path, settings)
    client = mongo_client(settings)
    run = Run(servers, processes, RecordStore(client[settings.mongodb_database]), names, values, accepted)
    try:
        started = [processes.start() for _ in range(instances)]
        await asyncio.gather(*(processes.ready(p) for p in started))
        half = len(values) // 2
        await publish(servers, values[:half])
        await run.progressed(BATCH)
        restores = [await fault(run) for fault in faults]
        await publish(servers, values[half:])
        for restore in restores:
            if restore is not None:
                await restore()
        expected, deliveries, _ = await topic_fold(servers, names)
        await caught_up(servers, settings.group_id)
        counts = compare(expected, await projection(run.store, names))
        on_topic = set(deliveries)
        counts["accepted, not on the topic"] = len(set(accepted.events) - on_topic)
        counts["on the topic, never accepted"] = len(on_topic - set(accepted.events))
        counts["delivered more than once"] = sum(1 for n in deliveries.values() if n > 1)
        for check in run.checks:
            counts |= await check()
        return counts
    finally:
        await tear_down(client, [settings.mongodb_database], processes)


async def tear_down(client, databases: list[str], *processes: Instances) -> None:
    """A run's end, whatever happened: its processes stopped, its databases dropped."""
    for instances in processes:
        instances.stop_all()
    for database in databases:
        await client.drop_database(database)
    await client.close()


async def reference_letters(servers, key: str, group_id: str, wanted: set[str], reference: bool = True) -> set[str]:
    """The source topics of the reference letters (with `reference=False`: of the letters carrying the record itself)
    the group (or one of its extra groups, `<group_id>.registry`, ...) dead-lettered for this key, once all of
    `wanted` are there or the bound passed."""
    def topics(records) -> set[str]:
        return {dict(r.headers)["dlq.source.topic"].decode() for r in records
                if (dict(r.headers).get("dlq.reference") == b"true") == reference
                and dict(r.headers).get("dlq.consumer.group", b"").decode().startswith(group_id)}

    try:
        return topics(await until_written(servers.admin, DEAD_LETTER_TOPIC, key, lambda rs: wanted <= topics(rs)))
    except TimeoutError:
        return topics(await written(servers.admin, DEAD_LETTER_TOPIC, key))


CLEAN = {"lost": 0, "duplicated": 0, "wrong": 0, "accepted, not on the topic": 0, "on the topic, never accepted": 0}


def clean(counts: dict[str, int]) -> bool:
    return {k: counts[k] for k in CLEAN} == CLEAN


# ------------------------------------------------------------------------------------------------------ faults


async def kill_an_instance(run: Run) -> None:
    """kill -9 of a learner-record instance while the group consumes (some batches written, others in flight)."""
    run.instances.kill(run.instances.running[0])


async def add_an_instance(run: Run) -> None:
    """A rebalance: a new member joins the group."""
    await run.instances.ready(run.instances.start())


async def duplicate_delivery(run: Run) -> None:
    """A quarter of the records published again, byte for byte (what a producer retry without idempotence does)."""
    await publish(run.servers, run.values[::4])


# ------------------------------------------------------------------------------- recognition cases, stacking progress

def fold_cases(events: list[Event]) -> dict[str, dict]:
    """Per case on the recognitions topic: the distinct requests that opened it, and its decisions in topic order,
    each decision event once however often it was delivered (`delivered` counts the extra deliveries)."""
    cases: dict[str, dict] = {}
    for event in events:
        if not isinstance(event, RecognitionRequested | RecognitionDecided):
            continue
        case = cases.setdefault(event.data.case_id, {"requests": set(), "decisions": {}, "delivered": 0})
        if isinstance(event, RecognitionRequested):
            case["requests"].add(str(event.event_id))
        elif str(event.event_id) in case["decisions"]:
            case["delivered"] += 1
        else:
            case["decisions"][str(event.event_id)] = (event.data.decision_id, event.data.outcome,
                                                      event.data.decided_by)
    return {case_id: {"requests": len(c["requests"]), "decisions": list(c["decisions"].values()),
                      "delivered": c["delivered"]} for case_id, c in cases.items()}


def compare_cases(folded: dict[str, dict], rules: dict[str, str], accepted: dict[str, tuple[str, str]],
                  projected: dict[str, list[tuple[str, str, str]] | None]) -> dict[str, int]:
    """Every request decided exactly once per its rules. `rules[case]` is what the analysis must decide ("granted":
    one automatic decision; "referred": a referral, then the one decision a registrar made over HTTP); `accepted[case]`
    is the (decision_id, outcome) of that registrar's 2xx answer; `projected[case]` the case's decisions as the
    recognition store holds them (None: no case). Lost: a request with no case, or a case missing a decision its rules
    call for; duplicated: a decision beyond those (or a request twice); wrong: a decision other than the rules (or
    the accepted answer) say, or a case whose stored decisions differ from the topic's."""
    counts = dict.fromkeys(["lost", "duplicated", "wrong", "accepted, not on the topic", "on the topic, never accepted",
                            "accepted, not in the case"], 0)
    for case_id, rule in rules.items():
        case = folded.get(case_id, {"requests": 0, "decisions": [], "delivered": 0})
        decisions, wanted = case["decisions"], 1 if rule == "granted" else 2
        decision_ids = [d[0] for d in decisions]
        counts["lost"] += case["requests"] == 0 or projected.get(case_id) is None or len(decisions) < wanted
        counts["duplicated"] += max(0, case["requests"] - 1) + max(0, len(decisions) - wanted) \
            + len(decision_ids) - len(set(decision_ids))
        automatic = [d for d in decisions if d[2] == "automatic"]
        by_registrar = [d for d in decisions if d[2] != "automatic"]
        counts["wrong"] += bool(decisions and decisions[0][1:] != (rule, "automatic")) or (
            rule == "granted" and bool(by_registrar)) or (rule == "referred" and len(automatic) > 1) or (
            projected.get(case_id) is not None and projected[case_id] != decisions)
        if rule != "referred":
            continue
        answer = accepted.get(case_id)
        on_topic = {d[0]: d[1] for d in by_registrar}
        if answer is None:
            counts["on the topic, never accepted"] += len(on_topic)
            continue
        counts["accepted, not on the topic"] += answer[0] not in on_topic
        counts["on the topic, never accepted"] += len(set(on_topic) - {answer[0]})
        counts["accepted, not in the case"] += answer[0] not in [d[0] for d in projected.get(case_id) or []]
        counts["wrong"] += answer[0] in on_topic and on_topic[answer[0]] != answer[1]
    return counts


def expected_credits(awards: dict[str, dict[str, dict]], required: dict[str, float]) -> dict[str, float]:
    """Per learner, the credits a programme of required achievements (achievement_id -> credits) counts from the
    awards folded from the credentials topic: each required achievement once, however many credentials of it."""
    return {learner: sum(credits for achievement_id, credits in required.items()
                         if any(a["achievement"]["achievement_id"] == achievement_id for a in held.values()))
            for learner, held in awards.items()}


def compare_progress(expected: dict[str, float], required: float, published: dict[str, list[Event]],
                     projected: dict[str, dict | None], qualifications: dict[str, int]) -> dict[str, int]:
    """Stacking progress against the fold. `expected[learner]` is what the credentials topic says the learner counts
    (complete at `required`); `published[learner]` the learner's progress-topic events for the programme in topic
    order; `projected[learner]` what stacking stores for the programme (its `Tracked`: published progress,
    completed_with; None if nothing); `qualifications[learner]` how many distinct qualification credentials the
    issuer awarded the learner. Lost: a learner who completed with no completion or qualification credential;
    duplicated: a completion twice, or a credential counted twice in an allocation; wrong: progress (on the topic or
    stored) that is not the fold, a completion (or qualification) of a learner who did not complete, an
    invalidation; issued twice: a qualification awarded more than once."""
    counts = dict.fromkeys(["lost", "duplicated", "wrong", "issued twice"], 0)
    for learner, credits in expected.items():
        complete = credits >= required
        events = published.get(learner, [])
        updates = [e.data for e in events if isinstance(e, StackingProgressUpdated)]
        completions = {str(e.event_id) for e in events if isinstance(e, QualificationCompleted)}
        tracked = projected.get(learner) or {}
        stored = tracked.get("published") or {}
        issued = qualifications.get(learner, 0)
        last = updates[-1] if updates else None
        counts["lost"] += complete and (not completions or not issued)
        counts["duplicated"] += max(0, len(completions) - 1) + sum(
            len(ids) - len(set(ids)) for ids in [[a.credential_id for a in u.allocations] for u in updates[-1:]]
            + [[a["credential_id"] for a in stored.get("allocations", [])]])
        counts["wrong"] += (credits > 0 and (last is None or last.credits_counted != credits
                                            or stored.get("credits_counted") != credits)) or (
            not complete and (bool(completions) or issued > 0 or tracked.get("completed_with") is not None)) or (
            complete and tracked.get("completed_with") is None) or any(
            isinstance(e, QualificationInvalidated) for e in events)
        counts["issued twice"] += max(0, issued - 1)
    return counts
