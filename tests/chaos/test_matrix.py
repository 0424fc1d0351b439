"""`make chaos`: the fault matrix of issue #17 against a three-broker cluster (replication factor 3,
min.insync.replicas=2) started for the session, two learner-record processes per scenario, each scenario a bounded
load of awards with its faults injected while the group consumes; then the issuer, recognition and stacking under
their own loads (tests/chaos_services.py). Every row must be 0 lost, 0 duplicated, 0 wrong, and every accepted write
on the topic and in the projections; the table measured is written to docs/reliability.md.

Not part of `make test` (it needs the cluster and minutes): it runs only with CREDITFLOW_CHAOS=1, as `make chaos`
sets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path

import pytest
import stack
import httpx
from aiokafka.admin import AIOKafkaAdminClient
from chaos_checker import (
    CLEAN,
    JUST_UNDER_LIMIT,
    Instances,
    as_admin,
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
    tear_down,
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
from creditflow.events.permissions import inbound_topic
from creditflow.events.topics import CREDENTIALS, topic_of
from creditflow.learner_record import domain as lr_domain
from creditflow.learner_record.handlers import LEARNER_TOPICS, REGISTRY_TOPICS
from creditflow.learner_record.replay import replay
from creditflow.learner_record.store import RecordStore
from creditflow.runtime.mongo import mongo_client
from chaos_services import (
    DIAGNOSTIC,
    MALFORMED,
    RESENT,
    from_now,
    http_awards,
    issuer_settings,
    issuing_institution,
    poison_records,
    recognition_under_load,
    stacking_under_load,
)
from e2e_driver import achievement_body
from kafka_helpers import institution_login
from kafka_waits import BOUND_S

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900),
              pytest.mark.skipif(os.environ.get("CREDITFLOW_CHAOS") != "1", reason="make chaos runs the matrix")]
REPORT = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
ROWS: list[tuple[str, str, dict[str, int], float]] = []


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
    await publish(run.servers, [(learner, value) for value in MALFORMED])


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
    ROWS.append((name, f"{40 * load.get('awards_each', 10):,} awards", counts, time.monotonic() - began))
    assert clean(counts) and not any(counts[c] for c in counts if c not in CLEAN and c != "delivered more than once"), counts


# ------------------------------------------------------------------------- faults under load through the HTTP APIs

async def issuer_killed_under_http_load(servers, tmp_path, learners: int = 20, awards_each: int = 10
                                        ) -> dict[str, int]:
    """Two issuer processes (one database, one key folder, one group) take awards over HTTP; once a quarter is
    accepted the first is killed -9, the load carries on against the other. Then every accepted award must be on the
    credentials topic once (its event may be delivered twice: the outbox relay of the survivor publishes what the
    killed one had stored but not published), in the issuer's store, and in the learner's record."""
    run_id, records_settings = await new_group(servers, "chaoshttp")
    issuer, groups = issuer_settings(servers, run_id)
    await from_now(servers, groups)
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
            integration = await issuing_institution(http, urls[1], servers, institution_id,
                                                    [achievement_body(institution_id)])
            requests = [(learner, f"{learner}-{n}", "ach-ml-intro") for n in range(awards_each)
                        for learner in sorted(names)]
            load = asyncio.create_task(http_awards(http, urls, integration, requests, accepted))
            async with asyncio.timeout(BOUND_S * 4):
                while len(accepted) < len(requests) // 4:
                    await asyncio.sleep(0.02)
            issuers.kill(doomed)
            resent = await load
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
        counts[RESENT] = resent
        return counts
    finally:
        await tear_down(client, [records_settings.mongodb_database, issuer.mongodb_database], issuers, records)


HTTP_SCENARIOS = {"kill -9 of an issuer instance under HTTP award load": issuer_killed_under_http_load}


@pytest.mark.parametrize("name", list(HTTP_SCENARIOS))
async def test_http_scenario_loses_duplicates_and_corrupts_nothing(name, servers, tmp_path):
    began = time.monotonic()
    counts = await HTTP_SCENARIOS[name](servers, tmp_path)
    ROWS.append((name, "200 awards over HTTP", counts, time.monotonic() - began))
    assert clean(counts) and counts["accepted, not in the issuer's store"] == counts["issued twice"] == 0, counts


RECOGNITION_LOAD = "40 awards, 40 requests, 20 decisions over HTTP"
STACKING_LOAD = "30 enrolments, 80 awards over HTTP, 20 completions"
SERVICE_SCENARIOS = {
    "kill -9 of a recognition instance under HTTP decision load": (recognition_under_load, kill_an_instance,
                                                                   RECOGNITION_LOAD),
    "kill -9 of a stacking instance mid-load": (stacking_under_load, kill_an_instance, STACKING_LOAD),
    "oversized and malformed records on the topics recognition reads (rules, programmes, inbound)": (
        recognition_under_load, poison_records, RECOGNITION_LOAD),
    "oversized and malformed records on the topics stacking and the issuer read (programmes, inbound, inbound "
    "credentials)": (stacking_under_load, poison_records, STACKING_LOAD),
}


@pytest.mark.parametrize("name", list(SERVICE_SCENARIOS))
async def test_recognition_and_stacking_scenario_loses_duplicates_and_corrupts_nothing(name, servers, tmp_path):
    scenario, fault, load = SERVICE_SCENARIOS[name]
    began = time.monotonic()
    counts = await scenario(servers, tmp_path, [fault])
    ROWS.append((name, load, counts, time.monotonic() - began))
    assert not any(n for column, n in counts.items() if column not in DIAGNOSTIC), counts


async def test_an_institution_created_on_the_cluster_gets_an_inbound_topic_with_its_replication(servers):
    """`creditflow kafka-principal create` runs long after the stack made its topics: the inbound topic it makes must
    be replicated as the cluster is (3), not left on one broker, or losing that broker stops the institution."""
    institution_id = f"uni-{uuid.uuid4().hex[:8]}"
    await institution_login(servers, institution_id)
    admin = AIOKafkaAdminClient(**servers.admin.aiokafka())
    await admin.start()
    try:
        [described] = await admin.describe_topics([inbound_topic(institution_id)])
    finally:
        await admin.close()
    assert {len(p["replicas"]) for p in described["partitions"]} == {servers.stack.replication_factor} == {3}


EXTRA = ["oversized, no reference letter", "out of order, record differs from the in-order fold",
         "accepted, not in the issuer's store", "issued twice", "accepted, not in the case",
         "oversized or malformed, not dead-lettered", "partition stopped after the poison"]


def write_report(cfg) -> None:
    columns = [*CLEAN, *EXTRA, *DIAGNOSTIC]
    lines = ["| scenario | load | " + " | ".join(columns) + " | seconds |",
             "|---|---|" + "---|" * len(columns) + "---|"]
    for name, load, counts, seconds in ROWS:
        lines.append(f"| {name} | {load} | " + " | ".join(str(counts.get(c, "–")) for c in columns)
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
"delivered more than once" counts event ids the consumers saw twice (duplicate delivery working as intended), and
"HTTP requests sent again" the requests of an HTTP load that failed in transit or with a 5xx and went to the other
instance (a kill that hit requests in flight); neither is a fault.

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
- **kill -9 of a recognition instance under HTTP decision load** (tests/chaos_services.py): two recognition
  processes (one database, one group); a receiving institution publishes 40 recognition requests on its inbound topic,
  half now and half after the fault, each offering a credential of its own achievement (no precedent carries from one
  case to another): those of an accredited provider must be decided automatically (granted), those of an
  unaccredited one referred, then decided by a registrar. Registrars work through the queue on both instances, eight
  decisions at a time, each with an idempotency key (`request_id`); the first instance is killed -9 once a few are
  accepted, and a decision that fails in transit or with a 5xx is sent again with the same key to the other
  instance. The checker folds the recognitions topic: **lost** (a request with no case, or a decision its rules call
  for missing), **duplicated** (a second decision, or request), **wrong** (a decision other than the rules or the
  accepted answer say, or a case whose stored decisions differ from the topic's), every accepted HTTP decision on the
  topic and in the case (**accepted, not in the case**), every accepted request republished on the topic.
- **kill -9 of a stacking instance mid-load**: two stacking processes and one issuer; a programme of three required
  achievements that the issuer awards automatically on completion, 30 enrolments on the institution's inbound topic,
  awards over the issuer's API (two learners in three get all three achievements), the first stacking instance
  killed -9 halfway. The checker folds the credentials topic into the credits each learner must count and compares
  it with the last progress on the progress topic and with stacking's store (**wrong** otherwise), counts
  completions (**lost** if a learner who completed has none or no qualification credential, **duplicated** if one
  has two, or if an allocation counts a credential twice) and qualification credentials (**issued twice**), and
  every accepted award and qualification in the issuer's store.
- **oversized and malformed records on the topics only the other services read**: the same two loads, with a
  record just under 1 MiB and three malformed records on each of recognition's topics (recognition rules,
  programmes, its institution's inbound topic) and on stacking's and the issuer's (programmes, the institution's
  inbound topic, the legacy inbound credentials topic) instead of a kill. Each group reading the topic must
  dead-letter the oversized record as a reference and the malformed ones as they are (**not dead-lettered**
  otherwise), and a valid record published after them on the same partition must be applied (**partition
  stopped** otherwise): a programme or policy keyed like the poison, and the requests or enrolments of the learner
  the poison was keyed to.

{chr(10).join(lines)}

Every row must read 0 in every column but the last two. Except for the issuer, recognition and stacking rows, the load
is published to the credentials topic as the issuer's principal, and the accepted writes are the broker's
acknowledgements.
""")
