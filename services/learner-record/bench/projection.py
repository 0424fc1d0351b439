"""`make bench`: the learner-record projection against a raw baseline, on the real broker and FerretDB.

1. Produce N CredentialAwarded events (`--events`) for 1,000 learners, Zipf-skewed, to a fresh broker. Each
   carries a credential signed (Data Integrity, eddsa-rdfc-2022) by the bench institution, one per learner, since
   signing 100,000 would take longer than the run.
2. Raw baseline, in this process: aiokafka getmany + orjson + the same proof verification per event as the service
   (the shared `verify`, with the registered key) + one bulk upsert per batch (`$set` of each award, with its
   credential, into a document of its own, as learner-record stores it), no framework, no validation, no fold. Both variants pay for verification, so their ratio measures
   creditflow's own overhead.
3. The projection: the real learner-record service as a process (FastStream batches, pydantic decoding, the fold,
   one guarded bulk write per batch), with its CPU time read from /proc; while it ingests, registrar GETs at a fixed
   rate measure p50/p99 latency.
4. One-at-a-time: the same service with a batch size of 1, on the first M events.

`--flatness-only` runs step 3 alone, without GETs (for a size larger than `make bench` can afford): its CPU per event
over the first and the last 10,000 events says whether the cost per event stays flat as the records grow.

Ratios are computed within this one run, so they compare like with like on this machine. The figures are kept in
.state/bench-results/projection.json; shared/bench/report.py writes them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient, UpdateOne
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "shared" / "bench"))
from benchlib import (GET_TIMEOUT_S, HEY_VERSION, cpu_seconds, hey, hey_report, load_average, machine, rss_mib,
                      on_fresh_servers, save, server_rss, stack, stop_cleanly_on_sigterm)  # noqa: E402

from creditflow.credentials import contexts, data_integrity, keys  # noqa: E402
from creditflow.credentials.subjects import learner_id_of, learner_subject_id  # noqa: E402
from creditflow.credentials.verify import RegisteredKey, registered_keys, verify  # noqa: E402
from creditflow.events import (  # noqa: E402
    Achievement,
    CredentialAwarded,
    CredentialAwardedData,
    CreditValue,
    InstitutionRegistered,
    InstitutionRegisteredData,
    LearningOutcome,
    Level,
    PublicKey,
    encode,
)
from creditflow.learner_record.store import DEFAULT_COLLECTION, InstitutionDirectory, credentials_of  # noqa: E402
from creditflow.events.topics import CREDENTIALS  # noqa: E402
from creditflow.runtime import identity  # noqa: E402
from creditflow.runtime.settings import KafkaLogin  # noqa: E402
from creditflow.runtime.topics import partitions_of  # noqa: E402

LEARNERS = 1000
INSTITUTION = "uni-bench"
ISSUER_ID = f"http://bench.test/institutions/{INSTITUTION}"
SIGNING_KEY = keys.generate()
REGISTRATION = InstitutionRegistered(producer=INSTITUTION, data=InstitutionRegisteredData(
    institution_id=INSTITUTION, name="Benchmark University", country="FI", credit_frameworks=["ects"],
    issuer_id=ISSUER_ID, public_keys=[PublicKey(key_id="key-1", valid_from=datetime(2020, 1, 1, tzinfo=UTC),
                                                public_key_multibase=keys.to_multibase(SIGNING_KEY.public_key()))]))
UNLOADED_S = 10
FLAT_WINDOW = 10_000  # per-event cost of the first and of the last this many events: flat or not


def learner_ids(n_events: int, seed: int = 7) -> list[str]:
    """Learner of each event: Zipf(1.0) over 1,000 learners, so a few learners hold many credentials."""
    rng = random.Random(seed)
    weights = [1 / rank for rank in range(1, LEARNERS + 1)]
    return [f"learner-{i:04d}" for i in rng.choices(range(LEARNERS), weights=weights, k=n_events)]


ACHIEVEMENT = Achievement(
    achievement_id="ach-bench", institution_id=INSTITUTION, title="Benchmark achievement",
    learning_outcomes=[LearningOutcome(statement="Measure things carefully")], workload_hours=125,
    credits=CreditValue(value=5, framework="ects"), level=Level(eqf=6), assessment_type="exam",
    participation_form="online", quality_assurance_type="external accreditation",
)


def award(credential_id: str, learner: str, signed: dict | None, now: datetime,
          event_id: uuid.UUID | None = None) -> bytes:
    """One encoded CredentialAwarded of the bench institution's achievement, carrying `signed` (or no credential)."""
    event = CredentialAwarded(producer=INSTITUTION, learner_id=learner, occurred_at=now, data=CredentialAwardedData(
        credential_id=credential_id, institution_id=INSTITUTION, achievement=ACHIEVEMENT, awarded_at=now,
        credential=signed), **({"event_id": event_id} if event_id else {}))
    return encode(event)


def sign(learner: str, now: datetime) -> dict:
    return data_integrity.sign(credential(learner), SIGNING_KEY, f"{ISSUER_ID}/keys/key-1", now)


def events(n: int) -> list[tuple[str, bytes]]:
    now = datetime.now(UTC)
    out = []
    signed: dict[str, dict] = {}
    for index, learner in enumerate(tqdm(learner_ids(n), desc="signing and encoding", unit="event", file=sys.stderr)):
        if learner not in signed:
            signed[learner] = sign(learner, now)
        out.append((learner, award(f"urn:uuid:{uuid.UUID(int=index)}", learner, signed[learner], now)))
    return out


def credential(learner: str) -> dict:
    return {"@context": [contexts.VC2, contexts.OB3], "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["VerifiableCredential", "OpenBadgeCredential"], "issuer": {"id": ISSUER_ID},
            "validFrom": "2026-06-01T12:00:00Z",
            "credentialSubject": {"id": learner_subject_id(learner), "type": ["AchievementSubject"],
                                  "achievement": {"id": f"{ISSUER_ID}/achievements/ach-bench",
                                                  "type": ["Achievement"], "name": "Benchmark achievement"}}}


async def resolve_key(reference: str) -> RegisteredKey | None:
    return next((k for k in registered_keys(REGISTRATION.data) if k.kid == reference), None)


async def verified(event: dict, now: datetime) -> bool:
    """The baseline's check of an award: the proof with the registered key, and the subject is the event's learner
    (what learner-record's checks.py does)."""
    result = await verify(event["data"]["credential"], resolve_key, None, now)
    subject = (result.credential or {}).get("credentialSubject") or {}
    return result.valid and learner_id_of(subject.get("id", "")) == event["learner_id"]


async def produce(login: KafkaLogin, batch: list[tuple[str, bytes]]) -> float:
    producer = AIOKafkaProducer(**login.aiokafka(), acks="all", enable_idempotence=True, linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for learner, value in tqdm(batch, desc="producing awards", unit="event", file=sys.stderr):
            pending.append(await producer.send(CREDENTIALS.name, value, key=learner.encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def raw_baseline(login: KafkaLogin, mongodb_url: str, database: str, total: int) -> dict[str, float]:
    consumer = AIOKafkaConsumer(CREDENTIALS.name, **login.aiokafka(), group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=500)
    client = AsyncMongoClient(mongodb_url)
    records = client[database]["raw_credentials"]
    await records.create_index("learner_id")  # what a registrar's read would use, as learner-record's
    await consumer.start()
    seen = first = 0
    cpu, started = time.process_time(), time.perf_counter()
    progress: list[tuple[float, int]] = []
    with tqdm(total=total, desc="raw baseline", unit="event", file=sys.stderr) as bar:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            operations = []
            for messages in batch.values():
                for message in messages:
                    event = orjson.loads(message.value)
                    data = event["data"]
                    operations.append(UpdateOne({"_id": data["credential_id"]}, {"$set": {
                        "learner_id": event["learner_id"], "title": data["achievement"]["title"],
                        "credits": data["achievement"]["credits"], "awarded_at": data["awarded_at"],
                        "credential": data["credential"],
                        "verification": "verified" if await verified(event, datetime.now(UTC)) else "unverified"}},
                        upsert=True))
                    seen += 1
            if operations:
                await records.bulk_write(operations, ordered=False)
            if batch:
                await consumer.commit()
                if not first and seen < total:  # measured from the first commit on, as the service: see service_run
                    first, cpu, started = seen, time.process_time(), time.perf_counter()
                progress.append((time.perf_counter(), seen, time.process_time()))
            bar.update(sum(len(m) for m in batch.values()))
    elapsed, cpu, measured = time.perf_counter() - started, time.process_time() - cpu, seen - first
    await consumer.stop()
    await client.close()
    return {"events": seen, "seconds": elapsed, "events_per_s": measured / elapsed,
            "cpu_us_per_event": cpu / measured * 1e6, **growth(progress), "load": load_average()}


async def _committed(admin: AIOKafkaAdminClient, group: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(o.offset for tp, o in offsets.items() if tp.topic == CREDENTIALS.name and o.offset > 0)


async def service_run(servers: stack.StackConfig, database: str, batch_size: int, limit: int, port: int,
                      probe_rate: float, label: str, probed: str) -> dict:
    """Run the real learner-record service until its group has committed `limit` events. With a `probe_rate`, hey
    GETs `probed`'s record at that rate while it ingests, then one request at a time for UNLOADED_S seconds.

    Rate and CPU are measured from the first commit to the last, over the events in between: joining a fresh
    consumer group takes seconds (more for FastStream than for a bare consumer) and is not ingest work."""
    cache = servers.cache_dir
    group = f"creditflow.learner-record.bench-{label}-{uuid.uuid4().hex[:6]}"  # within its ACL'd group prefix
    env = {**os.environ, **servers.service_env("learner-record"), "CREDITFLOW_MONGODB_URL": servers.mongodb_url,
           "CREDITFLOW_LEARNER_RECORD_MONGODB_DATABASE": database, "CREDITFLOW_LEARNER_RECORD_GROUP_ID": group,
           "CREDITFLOW_LEARNER_RECORD_HTTP_PORT": str(port), "CREDITFLOW_LEARNER_RECORD_BATCH_SIZE": str(batch_size),
           "CREDITFLOW_LEARNER_RECORD_KEY_FILE": str(servers.state_dir / "bench-platform-key.pem"),
           "CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE": str(servers.state_dir / "bench-identity" / "public.pem"),
           "CREDITFLOW_LOG_LEVEL": "WARNING"}
    private = servers.state_dir / "bench-identity" / "key.pem"
    identity.ensure_key_pair(private, Path(env["CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE"]))
    # The institution's key is registered before the service starts, so every award is verified (not rejected
    # early for want of a key): the same work as the baseline.
    client = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    await InstitutionDirectory(client[database]).apply(REGISTRATION)
    await client.close()
    token, _ = identity.create(identity.load_private_key(private), sub="bench@creditflow", name=None,
                               inst=INSTITUTION, roles=["registrar"])
    proc = subprocess.Popen([sys.executable, "-m", "creditflow.learner_record"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin = AIOKafkaAdminClient(**servers.login(stack.ADMIN).aiokafka())
    await admin.start()
    url, auth = f"http://127.0.0.1:{port}/learners/{probed}/record", f"Authorization: Bearer {token}"
    result: dict[str, object] = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            loaded, progress = None, []
            with tqdm(total=limit, desc=f"projection ({label})", unit="event", file=sys.stderr) as bar:
                done = first = 0
                # A run smaller than one batch is measured from the service's start (a smoke run, not a figure).
                cpu0, started = cpu_seconds(proc.pid), time.perf_counter()
                while done < limit:
                    await asyncio.sleep(0.1 if not first else 0.5)
                    now_done = min(limit, await _committed(admin, group))
                    bar.update(now_done - done)
                    done = now_done
                    if done and not first and done < limit:
                        first, cpu0, started = done, cpu_seconds(proc.pid), time.perf_counter()
                    if first:
                        progress.append((time.perf_counter(), done, cpu_seconds(proc.pid)))
                    if probe_rate and loaded is None and (await http.get(
                            url, headers={"Authorization": f"Bearer {token}"})).status_code == 200:
                        # Registrars start asking once the learner is there; until the ingest ends.
                        loaded = hey(cache, url, auth, "-n", "100000000", "-c", "2", "-q", str(probe_rate / 2))
            elapsed, cpu = time.perf_counter() - started, cpu_seconds(proc.pid) - cpu0
            rss = rss_mib(proc.pid)
        if loaded is not None:
            loaded.send_signal(signal.SIGINT)  # hey stops and prints its report
            result["loaded"] = hey_report(loaded.communicate(timeout=60)[0])
        if probe_rate:
            unloaded = hey(cache, url, auth, "-z", f"{UNLOADED_S}s", "-c", "1")
            result["unloaded"] = hey_report(unloaded.communicate(timeout=UNLOADED_S + 60)[0])
        client = AsyncMongoClient(servers.mongodb_url)
        verified_count = await client[database][credentials_of(DEFAULT_COLLECTION)].count_documents(
            {"achievement.verification": "verified"})
        await client.close()
    finally:
        await admin.close()
        proc.terminate()
        proc.wait(timeout=30)
    return {**result, "events": limit, "seconds": elapsed, "events_per_s": (limit - first) / elapsed,
            "cpu_us_per_event": cpu / (limit - first) * 1e6, "rss_mib": rss, "verified": verified_count,
            **growth(progress), "load": load_average()}


def growth(progress: list[tuple[float, int, float]], window: int = FLAT_WINDOW) -> dict[str, float]:
    """Whether the cost per event stays flat as the records grow: CPU per event and events/s over the first `window`
    measured events (what a run of that size costs) against the last `window` (at the run's full size); over the
    two halves when the run holds fewer than two windows. `progress` holds (time, events done, CPU seconds)."""
    if len(progress) < 3:
        return {}
    (t0, n0, c0), (t1, n1, c1) = progress[0], progress[-1]
    window = min(window, (n1 - n0) // 2)
    early = next((p for p in progress if p[1] >= n0 + window), None)
    late = next((p for p in reversed(progress) if p[1] <= n1 - window), None)
    if early is None or late is None or early[0] == t0 or late[0] == t1:
        return {}
    return {"window": window, "early_per_s": (early[1] - n0) / (early[0] - t0),
            "late_per_s": (n1 - late[1]) / (t1 - late[0]),
            "early_cpu_us": (early[2] - c0) / (early[1] - n0) * 1e6,
            "late_cpu_us": (c1 - late[2]) / (n1 - late[1]) * 1e6}


def probed_learner(n: int) -> str:
    """The learner the registrar probe asks about: the one holding closest to 10 credentials."""
    counts = {learner: 0 for learner in learner_ids(n)}
    for learner in learner_ids(n):
        counts[learner] += 1
    return min(counts, key=lambda learner: (abs(counts[learner] - 10), learner))


GETS_EVENTS = 30_000


async def bench(cfg: stack.StackConfig, args: argparse.Namespace) -> dict:
    await asyncio.to_thread(stack.provision, cfg)  # topics, service principals, ACLs (its own event loop)
    admin = AIOKafkaAdminClient(**cfg.login(stack.ADMIN).aiokafka())
    await admin.start()
    existing = await partitions_of(admin, [CREDENTIALS.name])
    await admin.close()
    consumer = AIOKafkaConsumer(**cfg.login(stack.ADMIN).aiokafka())
    await consumer.start()
    already = sum((await consumer.end_offsets(existing)).values())
    await consumer.stop()
    if already:
        raise SystemExit(f"{CREDENTIALS.name} already holds {already} events: the benchmark needs a fresh "
                         f"broker (stop it and remove {cfg.state_dir})")
    print(f"generating {args.events:,} events ...", file=sys.stderr)
    produced_s = await produce(cfg.login("svc-issuer"), events(args.events))
    run = uuid.uuid4().hex[:6]
    if args.flatness_only:
        batched = await service_run(cfg, f"bench_batched_{run}", 500, args.events, args.http_port, 0, "batched",
                                    probed_learner(args.events))
        return {"events": args.events, "busiest": learner_ids(args.events).count("learner-0000"), "batched": batched,
                "command": " ".join(["services/learner-record/bench/projection.py", *sys.argv[1:]])}
    raw = await raw_baseline(cfg.login(stack.ADMIN), cfg.mongodb_url, f"bench_raw_{run}", args.events)
    # What the GETs measure is latency while a batch is being written; the first GETS_EVENTS events of the topic
    # give minutes of that, and the whole topic again would add minutes to a make bench that must fit in 20.
    gets_n = min(args.events, GETS_EVENTS)
    probed = probed_learner(gets_n)  # ~10 credentials by the end of that run (the first events of the topic)
    batched = await service_run(cfg, f"bench_batched_{run}", 500, args.events, args.http_port, 0, "batched", probed)
    # The machine is shared: the baseline runs again right after, and the ratio is given against both runs.
    raw_again = await raw_baseline(cfg.login(stack.ADMIN), cfg.mongodb_url, f"bench_raw2_{run}", args.events)
    # Registrar GETs cost the service CPU the baseline does not spend: measured in a run of their own.
    loaded = await service_run(cfg, f"bench_loaded_{run}", 500, gets_n, args.http_port, args.get_rate,
                               "batched-with-gets", probed)
    single_n = min(args.events, args.single_events)
    rss = {"learner-record": batched["rss_mib"], "FerretDB": server_rss(cfg, "ferretdb"),
           "Kafka (JVM)": server_rss(cfg, "kafka")}
    single = await service_run(cfg, f"bench_single_{run}", 1, single_n, args.http_port, 0, "one-at-a-time", probed)
    who = learner_ids(args.events)
    return {"events": args.events, "busiest": who.count("learner-0000"), "produced_s": produced_s,
            "raw": raw, "raw_again": raw_again, "batched": batched, "loaded": loaded, "single": single,
            "single_events": single_n, "probed": probed, "probed_holds": who[:gets_n].count(probed),
            "get_rate": args.get_rate, "unloaded_s": UNLOADED_S, "get_timeout_s": GET_TIMEOUT_S,
            "hey_version": HEY_VERSION, "rss_mib": rss, "machine": machine(),
            "command": " ".join(["services/learner-record/bench/projection.py", *sys.argv[1:]])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--single-events", type=int, default=1_000,
                        help="events for the one-at-a-time variant (its rate is what is compared)")
    parser.add_argument("--get-rate", type=float, default=10.0, help="registrar GETs per second during ingest")
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("CREDITFLOW_KAFKA_PORT", 29092)))
    parser.add_argument("--mongo-port", type=int, default=int(os.environ.get("CREDITFLOW_MONGO_PORT", 27217)))
    parser.add_argument("--http-port", type=int, default=int(os.environ.get("CREDITFLOW_BENCH_HTTP_PORT", 18102)))
    parser.add_argument("--flatness-only", action="store_true",
                        help="only the batched projection (at a size larger than make bench's): its cost per event "
                             "over the first and the last 10,000 events")
    parser.add_argument("--save", default="projection", help="name of the results file (.state/bench-results/)")
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    result = on_fresh_servers("bench", args.kafka_port, args.mongo_port, lambda cfg: bench(cfg, args))
    print(f"kept in {save(args.save, result)}; shared/bench/report.py writes docs/benchmarks.md", file=sys.stderr)


if __name__ == "__main__":
    main()
