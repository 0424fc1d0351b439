"""`make bench`: the learner-record projection against a raw baseline, on the real broker and FerretDB.

1. Produce N CredentialAwarded events (default 100,000) for 1,000 learners, Zipf-skewed, to a fresh broker.
2. Raw baseline, in this process: aiokafka getmany + orjson + one bulk upsert per batch (`$set` of each award into
   its learner's document), no framework, no validation, no fold.
3. The projection: the real learner-record service as a process (FastStream batches, pydantic decoding, the fold,
   one guarded bulk write per batch), with its CPU time read from /proc; while it ingests, registrar GETs at a fixed
   rate measure p50/p99 latency.
4. One-at-a-time: the same service with a batch size of 1, on the first M events.

Ratios are computed within this one run, so they compare like with like on this machine. Results go to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient, UpdateOne
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "deploy" / "local"))
import stack  # noqa: E402

from creditflow.events import (  # noqa: E402
    Achievement,
    CredentialAwarded,
    CredentialAwardedData,
    CreditValue,
    LearningOutcome,
    Level,
    encode,
)
from creditflow.events.topics import CREDENTIALS  # noqa: E402
from creditflow.runtime.mongo import MAX_WRITES_PER_COMMAND  # noqa: E402
from creditflow.runtime import identity  # noqa: E402
from creditflow.runtime.topics import ensure_topics, partitions_of  # noqa: E402

LEARNERS = 1000
NOTES_MARKER = "<!-- notes: kept by make bench -->"
INSTITUTION = "uni-bench"
TICKS = os.sysconf("SC_CLK_TCK")


def learner_ids(n_events: int, seed: int = 7) -> list[str]:
    """Learner of each event: Zipf(1.0) over 1,000 learners, so a few learners hold many credentials."""
    rng = random.Random(seed)
    weights = [1 / rank for rank in range(1, LEARNERS + 1)]
    return [f"learner-{i:04d}" for i in rng.choices(range(LEARNERS), weights=weights, k=n_events)]


def events(n: int) -> list[tuple[str, bytes]]:
    achievement = Achievement(
        achievement_id="ach-bench", institution_id=INSTITUTION, title="Benchmark achievement",
        learning_outcomes=[LearningOutcome(statement="Measure things carefully")], workload_hours=125,
        credits=CreditValue(value=5, framework="ects"), level=Level(eqf=6), assessment_type="exam",
        participation_form="online", quality_assurance_type="external accreditation",
    )
    now = datetime.now(UTC)
    out = []
    for index, learner in enumerate(learner_ids(n)):
        event = CredentialAwarded(producer=INSTITUTION, learner_id=learner, occurred_at=now, data=CredentialAwardedData(
            credential_id=f"urn:uuid:{uuid.UUID(int=index)}", institution_id=INSTITUTION, achievement=achievement,
            awarded_at=now))
        out.append((learner, encode(event)))
    return out


async def produce(bootstrap: str, batch: list[tuple[str, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
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


async def raw_baseline(bootstrap: str, mongodb_url: str, database: str, total: int) -> dict[str, float]:
    consumer = AIOKafkaConsumer(CREDENTIALS.name, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=500)
    client = AsyncMongoClient(mongodb_url)
    records = client[database]["raw_records"]
    await consumer.start()
    seen = 0
    cpu, started = time.process_time(), time.perf_counter()
    with tqdm(total=total, desc="raw baseline", unit="event", file=sys.stderr) as bar:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            by_learner: dict[str, dict] = defaultdict(dict)
            for messages in batch.values():
                for message in messages:
                    event = orjson.loads(message.value)
                    data = event["data"]
                    by_learner[event["learner_id"]][f"achievements.{data['credential_id']}"] = {
                        "title": data["achievement"]["title"], "credits": data["achievement"]["credits"],
                        "awarded_at": data["awarded_at"], "status": "valid"}
                    seen += 1
            operations = [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in by_learner.items()]
            # The same command-size limit as fold_batch: FerretDB 1.24.2 hangs on 100+ updates in one command.
            for start in range(0, len(operations), MAX_WRITES_PER_COMMAND):
                await records.bulk_write(operations[start : start + MAX_WRITES_PER_COMMAND], ordered=False)
            if batch:
                await consumer.commit()
            bar.update(sum(len(m) for m in batch.values()))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await consumer.stop()
    await client.close()
    return {"events": seen, "seconds": elapsed, "events_per_s": seen / elapsed, "cpu_us_per_event": cpu / seen * 1e6}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def _committed(admin: AIOKafkaAdminClient, group: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(o.offset for tp, o in offsets.items() if tp.topic == CREDENTIALS.name and o.offset > 0)


async def service_run(servers: stack.StackConfig, database: str, batch_size: int, limit: int, port: int,
                      probe_rate: float, label: str) -> dict[str, float]:
    """Run the real learner-record service until its group has committed `limit` events; GET while it ingests."""
    group = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "CREDITFLOW_KAFKA_BOOTSTRAP": servers.bootstrap, "CREDITFLOW_MONGODB_URL": servers.mongodb_url,
           "CREDITFLOW_LEARNER_RECORD_MONGODB_DATABASE": database, "CREDITFLOW_LEARNER_RECORD_GROUP_ID": group,
           "CREDITFLOW_LEARNER_RECORD_HTTP_PORT": str(port), "CREDITFLOW_LEARNER_RECORD_BATCH_SIZE": str(batch_size),
           "CREDITFLOW_LEARNER_RECORD_KEY_FILE": str(servers.state_dir / "bench-platform-key.pem"),
           "CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE": str(servers.state_dir / "bench-identity" / "public.pem"),
           "CREDITFLOW_LOG_LEVEL": "WARNING"}
    private = servers.state_dir / "bench-identity" / "key.pem"
    identity.ensure_key_pair(private, Path(env["CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE"]))
    token, _ = identity.create(identity.load_private_key(private), sub="bench@creditflow", name=None,
                               inst=INSTITUTION, roles=["registrar"])
    proc = subprocess.Popen([sys.executable, "-m", "creditflow.learner_record"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers.bootstrap)
    await admin.start()
    latencies: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            cpu0, started = _cpu_seconds(proc.pid), time.perf_counter()
            hot = [f"learner-{i:04d}" for i in range(50)]  # registrars ask about learners that exist

            async def probe() -> None:
                interval = 1 / probe_rate
                next_at = time.perf_counter()
                while True:
                    next_at += interval
                    t0 = time.perf_counter()
                    await http.get(f"/learners/{random.choice(hot)}/credits")
                    latencies.append(time.perf_counter() - t0)
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

            prober = asyncio.create_task(probe()) if probe_rate else None
            with tqdm(total=limit, desc=f"projection ({label})", unit="event", file=sys.stderr) as bar:
                done = 0
                while done < limit:
                    await asyncio.sleep(0.5)
                    now_done = min(limit, await _committed(admin, group))
                    bar.update(now_done - done)
                    done = now_done
            elapsed, cpu = time.perf_counter() - started, _cpu_seconds(proc.pid) - cpu0
            if prober:
                prober.cancel()
    finally:
        await admin.close()
        proc.terminate()
        proc.wait(timeout=30)
    result = {"events": limit, "seconds": elapsed, "events_per_s": limit / elapsed, "cpu_us_per_event": cpu / limit * 1e6}
    if latencies:
        ordered = sorted(latencies)
        result.update(get_requests=len(ordered), get_p50_ms=statistics.median(ordered) * 1000,
                      get_p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000)
    return result


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, " \
           f"Kafka {stack.KAFKA_VERSION}, FerretDB {stack.FERRETDB_VERSION} (SQLite)"


def report(n: int, single_n: int, produced_s: float, raw: dict, batched: dict, single: dict) -> str:
    vs_raw = batched["events_per_s"] / raw["events_per_s"]
    vs_single = batched["events_per_s"] / single["events_per_s"]
    row = "| {} | {:,} | {:.1f} | {:,.0f} | {:,.0f} |"
    return "\n".join([
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {datetime.now(UTC):%Y-%m-%d}: {machine()}.",
        f"{n:,} CredentialAwarded events for 1,000 learners (Zipf 1.0: the busiest learner holds "
        f"{learner_ids(n).count('learner-0000'):,} credentials), produced in {produced_s:.1f} s.",
        "",
        "## Learner-record projection",
        "",
        "| variant | events | seconds | events/s | CPU µs/event |",
        "|---|---|---|---|---|",
        row.format("raw baseline (aiokafka getmany + orjson + 1 bulk upsert per batch)", raw["events"],
                   raw["seconds"], raw["events_per_s"], raw["cpu_us_per_event"]),
        row.format("projection, batches of 500 (the service as it runs)", batched["events"], batched["seconds"],
                   batched["events_per_s"], batched["cpu_us_per_event"]),
        row.format(f"projection, one event at a time (first {single_n:,} events)", single["events"],
                   single["seconds"], single["events_per_s"], single["cpu_us_per_event"]),
        "",
        f"- projection / raw baseline: **{vs_raw:.2f}x** (target >= 0.8x)",
        f"- batched / one at a time: **{vs_single:.1f}x** (target >= 5x)",
        f"- registrar `GET /learners/{{id}}/credits` at {batched.get('get_requests', 0) / batched['seconds']:.0f} "
        f"requests/s during batched ingest: p50 {batched.get('get_p50_ms', 0):.1f} ms, "
        f"p99 {batched.get('get_p99_ms', 0):.1f} ms",
        "",
    ])


async def bench(cfg: stack.StackConfig, args: argparse.Namespace) -> str:
    await ensure_topics(cfg.bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.bootstrap)
    await admin.start()
    existing = await partitions_of(admin, [CREDENTIALS.name])
    await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=cfg.bootstrap)
    await consumer.start()
    already = sum((await consumer.end_offsets(existing)).values())
    await consumer.stop()
    if already:
        raise SystemExit(f"{CREDENTIALS.name} already holds {already} events: the benchmark needs a fresh "
                         f"broker (stop it and remove {cfg.state_dir})")
    print(f"generating {args.events:,} events ...", file=sys.stderr)
    produced_s = await produce(cfg.bootstrap, events(args.events))
    run = uuid.uuid4().hex[:6]
    raw = await raw_baseline(cfg.bootstrap, cfg.mongodb_url, f"bench_raw_{run}", args.events)
    batched = await service_run(cfg, f"bench_batched_{run}", 500, args.events, args.http_port, args.get_rate,
                                "batched")
    single_n = min(args.events, args.single_events)
    single = await service_run(cfg, f"bench_single_{run}", 1, single_n, args.http_port, 0, "one-at-a-time")
    return report(args.events, single_n, produced_s, raw, batched, single)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--single-events", type=int, default=5_000,
                        help="events for the one-at-a-time variant (its rate is what is compared)")
    parser.add_argument("--get-rate", type=float, default=20.0, help="registrar GETs per second during ingest")
    parser.add_argument("--kafka-port", type=int, default=29092)
    parser.add_argument("--mongo-port", type=int, default=27217)
    parser.add_argument("--http-port", type=int, default=18102)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    cfg = stack.StackConfig.from_env(state_dir=REPO / ".state" / "bench", kafka_port=args.kafka_port,
                                     mongo_port=args.mongo_port)
    if not (stack.kafka_ready(cfg) or stack.mongo_ready(cfg)):
        shutil.rmtree(cfg.state_dir, ignore_errors=True)  # a fresh broker and database for every run
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    started = {"kafka": stack.start_kafka(cfg), "ferretdb": stack.start_ferretdb(cfg)}
    try:
        text = asyncio.run(bench(cfg, args))
    finally:
        for name, fresh in started.items():
            if fresh:
                stack.stop_server(cfg, name)
    print(text)
    # Everything from the notes marker on is written by hand (analysis, limits) and survives a new run.
    previous = args.output.read_text() if args.output.exists() else ""
    notes = previous[previous.index(NOTES_MARKER):] if NOTES_MARKER in previous else ""
    args.output.write_text(text + ("\n" + notes if notes else ""))


if __name__ == "__main__":
    main()
