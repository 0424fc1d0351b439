"""`make chaos`: the fault matrix of issue #17 against a three-broker cluster (replication factor 3,
min.insync.replicas=2) started for the session, two learner-record processes per scenario, each scenario a bounded
load of awards with its faults injected while the group consumes. Every row must be 0 lost, 0 duplicated, 0 wrong,
and every accepted write on the topic; the table measured is written to docs/reliability.md.

Not part of `make test` (it needs the cluster and minutes): it runs only with CREDITFLOW_CHAOS=1, as `make chaos`
sets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path

import pytest
import stack
import httpx
from aiokafka import AIOKafkaProducer
from chaos_checker import (
    CLEAN,
    Instances,
    Run,
    free_port,
    add_an_instance,
    caught_up,
    clean,
    compare,
    duplicate_delivery,
    kill_an_instance,
    new_group,
    projection,
    publish,
    reference_letters,
    run_scenario,
    topic_fold,
)
from creditflow.events import (
    CreditAllocation,
    CredentialRevoked,
    CredentialRevokedData,
    CreditValue,
    QualificationCompleted,
    QualificationCompletedData,
    RecognisedCredit,
    RecognitionDecided,
    RecognitionDecidedData,
    RecognitionRequested,
    RecognitionRequestedData,
    StackingProgressUpdated,
    StackingProgressUpdatedData,
    decode,
    encode,
)
from creditflow.events.topics import CREDENTIALS, topic_of
from creditflow.learner_record import domain as lr_domain
from creditflow.issuer import handlers as issuer_handlers
from creditflow.learner_record.handlers import LEARNER_TOPICS, REGISTRY_TOPICS
from creditflow.learner_record.replay import replay
from creditflow.learner_record.store import RecordStore
from creditflow.runtime.mongo import mongo_client
from e2e_driver import achievement_body
from kafka_waits import BOUND_S, start_after_end

# Under the broker's 1 MiB limit with the key and record overhead, over it once the dlq.* headers are added
# (tests/security/test_poison_pill.py).
JUST_UNDER_LIMIT = (1 << 20) - 160

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900),
              pytest.mark.skipif(os.environ.get("CREDITFLOW_CHAOS") != "1", reason="make chaos runs the matrix")]
REPORT = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
ROWS: list[tuple[str, int, dict[str, int], float]] = []


def _kill(cfg, name: str) -> None:
    os.kill(stack._read_pid(cfg, name), signal.SIGKILL)


def _controller_leader(cfg) -> str:
    """The process name of the node leading the KRaft quorum, from a node's quorum state file."""
    for name in cfg.kafka_nodes:
        state = cfg.state_dir / name / "data" / "__cluster_metadata-0" / "quorum-state"
        if state.exists():
            leader = json.loads(state.read_text()).get("leaderId", -1)
            if leader > 0:
                return cfg.kafka_nodes[leader - 1]
    raise AssertionError("no quorum leader recorded")


def restarted_broker(pick):
    async def fault(run: Run):
        cfg = run.servers.stack
        _kill(cfg, pick(cfg))
        return lambda: asyncio.to_thread(stack.start_kafka, cfg)  # every node not running rejoins
    return fault


async def kill_ferretdb(run: Run):
    cfg = run.servers.stack
    _kill(cfg, "ferretdb")

    async def restart() -> None:
        await asyncio.to_thread(stack.start_ferretdb, cfg)

    return restart


async def oversized_records(run: Run) -> None:
    """On every topic learner-record reads, a record just under the broker's 1 MiB limit, keyed to a learner of the
    load: its dead-letter copy (with the dlq.* headers) no longer fits, so the consumer dead-letters a reference and
    the partition, with that learner's later awards, flows on."""
    learner, topics = sorted(run.learners)[0], {*LEARNER_TOPICS, *REGISTRY_TOPICS}
    await as_admin(run.servers, [(topic, learner.encode(), b"x" * JUST_UNDER_LIMIT) for topic in sorted(topics)])

    async def letters() -> dict[str, int]:
        found = await reference_letters(run.servers, learner, run.instances.settings.group_id, topics)
        return {"oversized, no reference letter": len(topics - found)}

    run.checks.append(letters)


async def as_admin(servers, records: list[tuple[str, bytes, bytes]]) -> None:
    """Records injected as the admin principal (any topic), in the order given, each acknowledged by all replicas."""
    producer = AIOKafkaProducer(**servers.admin.aiokafka(), acks="all")
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def out_of_order_across_topics(run: Run) -> None:
    """For ten learners whose awards are all still to come, the events that follow those awards, published before
    them and each topic's in reverse: a qualification completed before the progress that led to it, a recognition
    decided before it was requested, both citing credentials not yet awarded, and the revocation of a credential
    before its award. Once everything is in, each record must equal the fold of the same events in their true
    order (what an in-order delivery gives)."""
    awards = [decode(value) for _, value in run.values]
    now = datetime.now(UTC)
    late: dict[str, list] = {}  # per learner, every event in its true order
    early = []
    for learner in sorted(run.learners)[-10:]:  # the load publishes learner by learner: these come in the 2nd half
        held = [a for a in awards if a.learner_id == learner]
        following = follow_ups(learner, [a.data.credential_id for a in held[:2]], now)
        late[learner] = [*held, *following]
        early += reversed(following)
    await as_admin(run.servers, [(topic_of(e).name, e.learner_id.encode(), encode(e)) for e in early])

    async def records_match() -> dict[str, int]:
        wanted = {learner: reduce(lambda record, e: lr_domain.apply(e, record), events, lr_domain.empty(learner))
                  for learner, events in late.items()}
        try:
            async with asyncio.timeout(BOUND_S * 2):
                while (wrong := [learner for learner in late if not _same(await run.store.get(learner),
                                                                          wanted[learner])]):
                    await asyncio.sleep(0.5)
        except TimeoutError:
            pass
        return {"out of order, record differs from the in-order fold": len(wrong)}

    run.checks.append(records_match)


SECTIONS = ("recognition_requests", "recognitions", "progress", "qualifications")


def _same(stored, wanted) -> bool:
    if stored is None:
        return False
    revocations = [{a["credential_id"]: a["revocation"] for a in r["achievements"]} for r in (stored, wanted)]
    return all(stored[s] == wanted[s] for s in SECTIONS) and revocations[0] == revocations[1]


def follow_ups(learner: str, credential_ids: list[str], now: datetime) -> list:
    """What follows two awards of a learner, in its true order, a minute apart."""
    def at(minute: int) -> datetime:
        return now + timedelta(minutes=minute)

    case, programme = f"case-{learner}", "cert-chaos"
    return [
        RecognitionRequested(producer="uni-chaos", learner_id=learner, occurred_at=at(1), data=RecognitionRequestedData(
            case_id=case, institution_id="uni-chaos", programme_id=programme, credential_ids=credential_ids)),
        RecognitionDecided(producer="creditflow.recognition", learner_id=learner, occurred_at=at(2),
                           data=RecognitionDecidedData(
                               case_id=case, decision_id=f"d-{learner}", institution_id="uni-chaos",
                               programme_id=programme, outcome="granted", decided_by="automatic",
                               recognised=[RecognisedCredit(module_id="m1", credits=CreditValue(value=5, framework="ects"),
                                                            credential_ids=credential_ids)])),
        StackingProgressUpdated(producer="creditflow.stacking", learner_id=learner, occurred_at=at(3),
                                data=StackingProgressUpdatedData(
                                    programme_id=programme, institution_id="uni-chaos", programme_version=1,
                                    credits_counted=10, credits_required=10,
                                    allocations=[CreditAllocation(credential_id=c, requirement_id="r1", credits=5)
                                                 for c in credential_ids])),
        QualificationCompleted(producer="creditflow.stacking", learner_id=learner, occurred_at=at(4),
                               data=QualificationCompletedData(programme_id=programme, institution_id="uni-chaos",
                                                               programme_version=1, credential_ids=credential_ids)),
        CredentialRevoked(producer="uni-chaos", learner_id=learner, occurred_at=at(5), data=CredentialRevokedData(
            credential_id=credential_ids[0], institution_id="uni-chaos", reason="issued in error")),
    ]


async def live_replay(run: Run):
    """`creditflow replay` of the scenario's database while the instances ingest the second half: it rebuilds the
    records from offset 0 into a new collection, has the live consumers write to both, and switches. The projection
    checked afterwards is the one served after the switch."""
    rebuilding = asyncio.create_task(replay(run.instances.settings, quiet=True))

    async def finished() -> None:
        async with asyncio.timeout(BOUND_S * 10):
            await rebuilding

    return finished


async def malformed_records(run: Run) -> None:
    """Records no consumer can take (not JSON; JSON that is no event; an event missing its data) beside the load:
    they go to the dead-letter topic and the partition flows on."""
    learner = sorted(run.learners)[0].encode()
    await publish(run.servers, [(learner, b"{not json"), (learner, b'{"hello": "world"}'),
                                (learner, b'{"event_type": "creditflow.issuer.credential.awarded.v1"}')])


SCENARIOS = {
    "kill -9 of a learner-record instance mid-batch": ([kill_an_instance], {}),
    "consumer rebalance (an instance removed, one added)": ([kill_an_instance, add_an_instance], {}),
    "duplicate delivery (a quarter re-published)": ([duplicate_delivery], {}),
    "kill -9 of one broker, then restart": ([restarted_broker(lambda cfg: cfg.kafka_nodes[-1])], {}),
    "kill -9 of the controller leader, then restart": ([restarted_broker(_controller_leader)], {}),
    "FerretDB kill -9 and restart": ([kill_ferretdb], {}),
    "malformed records on the credentials topic": ([malformed_records], {}),
    "oversized records on every learner-record topic": ([oversized_records], {}),
    "live replay of learner-record while ingesting": ([live_replay], {}),
    "out-of-order delivery across topics": ([out_of_order_across_topics], {}),
    "10x burst (4,000 awards)": ([], {"awards_each": 100}),
}


@pytest.fixture(scope="module", autouse=True)
def report(servers):
    yield
    if ROWS:
        write_report(servers.stack)


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_scenario_loses_duplicates_and_corrupts_nothing(name, servers, tmp_path):
    faults, load = SCENARIOS[name]
    began = time.monotonic()
    counts = await run_scenario(servers, tmp_path, faults, **load)
    ROWS.append((name, 40 * load.get("awards_each", 10), counts, time.monotonic() - began))
    assert clean(counts) and not any(counts[c] for c in counts if c not in CLEAN and c != "delivered more than once"), counts


# ------------------------------------------------------------------------- faults under load through the HTTP APIs

async def http_awards(http: httpx.AsyncClient, urls: list[str], headers: dict[str, str],
                      requests: list[tuple[str, str]], accepted: dict[str, str]) -> None:
    """A registrar system's load: each award POSTed to the instances in turn, eight at a time. A request that fails
    in transit or with a 5xx (an instance killed under it) is sent again with the same request id to the next
    instance, as a client should; `accepted` records every 2xx answer (request id -> credential id)."""
    slots = asyncio.Semaphore(8)

    async def one(index: int, learner: str, request_id: str) -> None:
        async with slots:
            for attempt in range(100):
                url = urls[(index + attempt) % len(urls)]
                try:
                    answer = await http.post(f"{url}/awards", headers=headers, json={
                        "request_id": request_id, "learner_id": learner, "achievement_id": "ach-ml-intro"})
                except httpx.TransportError:
                    continue
                if answer.status_code in (200, 201):
                    accepted[request_id] = answer.json()["credential_id"]
                    return
                assert answer.status_code >= 500, answer.text  # a refusal is a bug of this load, not a fault
                await asyncio.sleep(0.1)
            raise AssertionError(f"{request_id} never accepted")

    await asyncio.gather(*(one(i, learner, request_id) for i, (learner, request_id) in enumerate(requests)))


async def issuer_killed_under_http_load(servers, tmp_path, learners: int = 20, awards_each: int = 10
                                        ) -> dict[str, int]:
    """Two issuer processes (one database, one key folder, one group) take awards over HTTP; once a quarter is
    accepted the first is killed -9, the load carries on against the other. Then every accepted award must be on the
    credentials topic once (its event may be delivered twice: the outbox relay of the survivor publishes what the
    killed one had stored but not published), in the issuer's store, and in the learner's record."""
    run_id, records_settings = await new_group(servers, "chaoshttp")
    issuer = servers.settings("issuer", mongodb_database=f"t{run_id}_issuer",
                              group_id=f"creditflow.issuer.chaos{run_id}")
    for topics, group in ((issuer_handlers.TOPICS, issuer.group_id),
                          (issuer_handlers.QUALIFICATION_TOPICS, f"{issuer.group_id}.qualifications"),
                          (issuer_handlers.PROGRAMME_TOPICS, f"{issuer.group_id}.programmes")):
        await start_after_end(servers.admin, topics, group)
    survivor_port = free_port()  # every instance signs with the same public URL: the one that stays up
    issuers = Instances(servers, tmp_path, issuer, extra_env=lambda port: {
        "CREDITFLOW_ISSUER_KEY_DIR": str(tmp_path / "issuer-keys"),
        "CREDITFLOW_ISSUER_PUBLIC_URL": f"http://127.0.0.1:{survivor_port}"})
    records = Instances(servers, tmp_path, records_settings)
    client = mongo_client(records_settings)
    names = {f"chaos-{run_id}-{n}" for n in range(learners)}
    accepted: dict[str, str] = {}
    try:
        doomed, survivor = issuers.start(), issuers.start(survivor_port)
        await asyncio.gather(*(issuers.ready(p) for p in (doomed, survivor)), records.ready(records.start()))
        urls = [f"http://127.0.0.1:{p.port}" for p in (doomed, survivor)]
        institution_id = f"chaos-{run_id}"
        async with httpx.AsyncClient(timeout=30) as http:
            registered = await http.post(f"{urls[1]}/institutions", headers=servers.identity.bearer(), json={
                "institution_id": institution_id, "name": "University of Tartu", "country": "EE",
                "credit_frameworks": ["ects"], "quality_assurance": []})
            assert registered.status_code == 201, registered.text
            integration = servers.identity.bearer(institution_id, "issuer-integration")
            published = await http.post(f"{urls[1]}/achievements", headers=integration,
                                        json=achievement_body(institution_id))
            assert published.status_code == 201, published.text
            requests = [(learner, f"{learner}-{n}") for n in range(awards_each) for learner in sorted(names)]
            load = asyncio.create_task(http_awards(http, urls, integration, requests, accepted))
            async with asyncio.timeout(BOUND_S * 4):
                while len(accepted) < len(requests) // 4:
                    await asyncio.sleep(0.02)
            issuers.kill(doomed)
            await load
        wanted = set(accepted.values())
        async with asyncio.timeout(BOUND_S * 4):  # the survivor's relay takes the killed one's claims once they lapse
            while True:
                expected, deliveries, awarded_by = await topic_fold(servers, names)
                if wanted <= set(awarded_by):
                    break
                await asyncio.sleep(1)
        await caught_up(servers, records_settings.group_id)
        counts = compare(expected, await projection(RecordStore(client[records_settings.mongodb_database]), names))
        stored = {d["_id"] async for d in client[issuer.mongodb_database]["awards"].find(
            {"institution_id": institution_id}, {"_id": 1})}
        counts["accepted, not on the topic"] = len(wanted - set(awarded_by))
        counts["on the topic, never accepted"] = len(set(awarded_by) - wanted)
        counts["accepted, not in the issuer's store"] = len(wanted - stored)
        counts["issued twice"] = sum(1 for n in awarded_by.values() if n > 1)
        counts["delivered more than once"] = sum(1 for n in deliveries.values() if n > 1)
        return counts
    finally:
        issuers.stop_all()
        records.stop_all()
        for database in (records_settings.mongodb_database, issuer.mongodb_database):
            await client.drop_database(database)
        await client.close()


HTTP_SCENARIOS = {"kill -9 of an issuer instance under HTTP award load": issuer_killed_under_http_load}


@pytest.mark.parametrize("name", list(HTTP_SCENARIOS))
async def test_http_scenario_loses_duplicates_and_corrupts_nothing(name, servers, tmp_path):
    began = time.monotonic()
    counts = await HTTP_SCENARIOS[name](servers, tmp_path)
    ROWS.append((name, 200, counts, time.monotonic() - began))
    assert clean(counts) and counts["accepted, not in the issuer's store"] == counts["issued twice"] == 0, counts


EXTRA = ["oversized, no reference letter", "out of order, record differs from the in-order fold",
         "accepted, not in the issuer's store", "issued twice"]


def write_report(cfg) -> None:
    columns = [*CLEAN, *EXTRA, "delivered more than once"]
    lines = ["| scenario | awards | " + " | ".join(columns) + " | seconds |",
             "|---|---|" + "---|" * len(columns) + "---|"]
    for name, awards, counts, seconds in ROWS:
        lines.append(f"| {name} | {awards:,} | " + " | ".join(str(counts.get(c, "–")) for c in columns)
                     + f" | {seconds:.0f} |")
    REPORT.write_text(f"""# Reliability: the fault matrix, measured

Written by `make chaos` (tests/chaos/test_matrix.py) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: a
cluster of {cfg.brokers} KRaft brokers (replication factor {cfg.replication_factor}, min.insync.replicas
{cfg.min_insync_replicas}, {CREDENTIALS.name} with {stack.CLUSTER_LEARNER_PARTITIONS if cfg.brokers > 1 else 3}
partitions), FerretDB, and two learner-record processes per scenario (batches of 20 records). Each scenario publishes
half its awards, injects its faults once some batches are written, publishes the other half while the faults last,
then restores what it broke. The checker waits until the group committed the topic's end, folds the topic from
offset 0 and compares it with the projection: **lost** (a credential on the topic missing from the learner's
record), **duplicated** (an entry twice in a record), **wrong** (an entry whose achievement or institution differs
from the award), and the load generator's own record of every write the broker acknowledged against the topic.
"delivered more than once" counts event ids the consumers saw twice (duplicate delivery working as intended).

Scenarios with their own checks ("–" where a column does not apply):

- **oversized records**: on each of the five topics learner-record reads (credentials, recognitions, progress,
  consents, institutions), a record just under the broker's 1 MiB limit, keyed to a learner of the load; its
  dead-letter copy does not fit, so each must be dead-lettered as a reference (counted if missing) while that
  learner's later awards flow on.
- **out-of-order delivery across topics**: for ten learners whose awards are still to come, a qualification completed
  before its progress, a recognition decided before it was requested (both citing credentials not yet awarded) and a
  revocation before its award, each topic's events in reverse; each record must equal the fold of the same events in
  their true order.
- **live replay**: `creditflow replay` (the function behind it) rebuilds the scenario's records from offset 0 into a
  new collection while the two instances ingest the second half, then switches; the served collection is checked.
- **kill -9 of an issuer instance under HTTP load**: two issuer processes (one database, one key folder), 200 awards
  POSTed eight at a time to both in turn; once a quarter is accepted the first is killed -9; a request that fails in
  transit or with a 5xx is sent again with the same request id to the other instance, as a client should. The load
  generator's record is every 2xx answer's credential id: each must be on the credentials topic, awarded by exactly
  one event (**issued twice** otherwise), in the issuer's store and in the learner's record (one learner-record
  process beside them).

{chr(10).join(lines)}

Every row must read 0 in every column but the last. Not in the matrix yet (issue #17): kill -9 of recognition and
stacking instances under load (recognition takes registrar decisions over HTTP, stacking has no HTTP write: its load
is Kafka events), and oversized records on the topics only the other services read. Except for the issuer row, the
load is published to the credentials topic as the issuer's principal, and the accepted writes are the broker's
acknowledgements.
""")
