"""`make bench-replay`: `creditflow replay` (creditflow.learner_record.replay.replay, the function the command runs)
of N CredentialAwarded events into a new collection, on a fresh broker and the patched FerretDB.

What the events are: awards of one achievement of the bench institution (registered in learner-record's directory
before the replay, as a registration event would have put it there) for 1,000 learners, Zipf-skewed as in
`make bench`, each with an event id and credential id of its own. `--proofs none` (the default for the 1,000,000
run): the awards carry no signed credential, so the replay folds and writes every event but checks no proof (each is
shown unverified, "the award carries no signed credential"); this measures decoding, the fold and the writes.
`--proofs signed`: each award carries its learner's Data Integrity credential (one per learner, reused by that
learner's events), and the replay verifies every one, as it does in production: this measures the proof cost a real
replay pays per event.

Generation is quick: one encoded event per learner is made with the contract's models, and every event is that
template with its ids written in (bytes, no model per event), produced with librdkafka (confluent-kafka) in bulk.
Prints the figures and keeps them in .state/bench-results/replay-<proofs>.json for `make bench`'s report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from pymongo import AsyncMongoClient
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from projection import REGISTRATION, award, learner_ids, sign  # noqa: E402

from benchlib import (REPO, load_average, machine, rss_mib, save, server_rss, stack,  # noqa: E402
                      stop_cleanly_on_sigterm)
from creditflow.events.topics import CREDENTIALS  # noqa: E402
from creditflow.learner_record.replay import replay  # noqa: E402
from creditflow.learner_record.store import InstitutionDirectory, credentials_of  # noqa: E402
from creditflow.runtime.settings import Settings  # noqa: E402

DATABASE = "creditflow_learner_record"
SAMPLE = 1000  # credential ids looked up after the replay
# Written into each learner's template where the event's own ids go (same length as the ids written over them).
EVENT_ID = "ffffffff-ffff-4fff-bfff-ffffffffffff"
CREDENTIAL_ID = "urn:uuid:eeeeeeee-eeee-4eee-beee-eeeeeeeeeeee"


def event_id(index: int) -> bytes:
    return f"00000000-0000-4000-8000-{index:012x}".encode()


def credential_id(index: int) -> bytes:
    return f"urn:uuid:00000000-0000-4000-9000-{index:012x}".encode()


def templates(learners: set[str], signed: bool) -> dict[str, bytes]:
    now = datetime.now(UTC)
    return {learner: award(CREDENTIAL_ID, learner, sign(learner, now) if signed else None, now,
                           event_id=uuid.UUID(EVENT_ID))
            for learner in tqdm(sorted(learners), desc="encoding one template per learner", unit="learner",
                                file=sys.stderr)}


def produce(cfg: stack.StackConfig, n: int, signed: bool) -> tuple[float, int]:
    """Generate and produce `n` events; returns (seconds, bytes produced)."""
    login = cfg.login("svc-issuer")  # the credentials topic's one writer
    who = learner_ids(n)
    made = templates(set(who), signed)
    failures: list[str] = []

    def refused(error) -> None:  # a refused login or a lost broker: stop, rather than wait out the flush
        failures.append(str(error))

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(str(error))

    producer = Producer({
        **login.confluent(), "error_cb": refused, "on_delivery": delivered, "acks": "all", "enable.idempotence": True,
        "linger.ms": 50, "batch.size": 1 << 20,
        "queue.buffering.max.messages": 500_000,
        # The partitioner of Kafka's Java client and aiokafka (murmur2), so a learner's events land where the
        # services' own producers put them.
        "partitioner": "murmur2_random"})
    event_marker, credential_marker = EVENT_ID.encode(), CREDENTIAL_ID.encode()
    started, size = time.perf_counter(), 0
    with tqdm(total=n, desc="generating and producing", unit="event", file=sys.stderr) as bar:
        for index, learner in enumerate(who):
            value = made[learner].replace(event_marker, event_id(index)).replace(
                credential_marker, credential_id(index))
            size += len(value)
            while not failures:
                try:
                    producer.produce(CREDENTIALS.name, value, key=learner.encode())
                    break
                except BufferError:  # the local queue is full: let librdkafka send some
                    producer.poll(0.05)
            if index % 10_000 == 9_999:
                producer.poll(0)
                bar.update(10_000)
        left = producer.flush(300) if not failures else len(producer)
        bar.update(n - bar.n)
    if left or failures:
        raise SystemExit(f"{left} events not acknowledged by the broker; {failures[:1]}")
    return time.perf_counter() - started, size


async def run(cfg: stack.StackConfig, n: int, signed: bool) -> dict:
    await asyncio.to_thread(stack.provision, cfg)
    mongo = AsyncMongoClient(cfg.mongodb_url, tz_aware=True)
    await InstitutionDirectory(mongo[DATABASE]).apply(REGISTRATION)
    produced_s, size = await asyncio.to_thread(produce, cfg, n, signed)
    settings = Settings.from_env("learner-record", 0, env={
        **os.environ, **cfg.service_env("learner-record"), "CREDITFLOW_MONGODB_URL": cfg.mongodb_url,
        "CREDITFLOW_LEARNER_RECORD_MONGODB_DATABASE": DATABASE})
    load_before = load_average()
    result = await replay(settings)
    # Counting every document costs minutes on FerretDB (it reads them all); a sample spread over the whole run,
    # looked up by `_id`, shows the events were stored without that.
    sample = [credential_id(i).decode() for i in range(0, n, max(1, n // SAMPLE))]
    found = [d async for d in mongo[DATABASE][credentials_of(result["collection"])].find(
        {"_id": {"$in": sample}}, {"achievement.verification": 1})]
    verified = sum(1 for d in found if (d.get("achievement") or {}).get("verification") == "verified")
    await mongo.close()
    return {"events": n, "proofs": "signed" if signed else "none", "produced_s": produced_s,
            "bytes_per_event": size / n, "replayed": result["events"], "skipped": result["skipped"],
            "seconds": result["seconds"], "events_per_s": result["events"] / result["seconds"],
            "sample": len(sample), "stored": len(found), "verified": verified, "load_before": load_before,
            "load_after": load_average(),
            "rss_mib": {"replay (this process)": rss_mib(os.getpid()), "FerretDB": server_rss(cfg, "ferretdb"),
                        "Kafka (JVM)": server_rss(cfg, "kafka")}}


def summary(found: dict) -> str:
    return (f"replayed {found['replayed']:,} of {found['events']:,} events (proofs: {found['proofs']}, "
            f"{found['bytes_per_event']:,.0f} bytes each) in {found['seconds']:.1f} s: {found['events_per_s']:,.0f} "
            f"events/s; {found['stored']:,} of a sample of {found['sample']:,} credentials stored, "
            f"{found['verified']:,} verified; generated and "
            f"produced in {found['produced_s']:.1f} s; load {found['load_before']} before, {found['load_after']} "
            f"after; RSS " + ", ".join(f"{k} {v:.0f} MiB" for k, v in found["rss_mib"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--proofs", choices=["none", "signed"], default="none")
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("CREDITFLOW_KAFKA_PORT", 29292)))
    parser.add_argument("--mongo-port", type=int, default=int(os.environ.get("CREDITFLOW_MONGO_PORT", 27417)))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    cfg = stack.StackConfig.from_env(state_dir=REPO / ".state" / "bench-replay", kafka_port=args.kafka_port,
                                     mongo_port=args.mongo_port)
    if stack.kafka_ready(cfg) or stack.mongo_ready(cfg):
        raise SystemExit(f"a server already answers on {cfg.bootstrap} or {cfg.mongodb_url}: the replay benchmark "
                         "needs a fresh broker and database of its own")
    shutil.rmtree(cfg.state_dir, ignore_errors=True)
    cfg.state_dir.mkdir(parents=True)
    print(f"{machine()}; load {load_average()}", file=sys.stderr)
    stack.start_kafka(cfg)
    stack.start_ferretdb(cfg)
    try:
        found = asyncio.run(run(cfg, args.events, args.proofs == "signed"))
    finally:
        stack.stop_server(cfg, "kafka")
        stack.stop_server(cfg, "ferretdb")
    found["command"] = " ".join(["services/learner-record/bench/replay.py", *sys.argv[1:]])
    print(summary(found))
    save(f"replay-{args.proofs}", found)


if __name__ == "__main__":
    main()
