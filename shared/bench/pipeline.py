"""The whole pipeline (run by `make bench`): awards over HTTP to the issuer, at 1 and at 16 concurrent clients, until
they show in the learner's record.

A fresh Kafka broker and the patched FerretDB (processes, as `make run` starts them), the issuer and learner-record
as processes (recognition and stacking are not started: nothing here needs them). The bench registers one
institution and one achievement over HTTP, then for each concurrency level POSTs `--awards` awards to `/awards`
(a fresh request_id each, learners spread over 1,000): the issuer checks, signs (Data Integrity, eddsa-rdfc-2022)
and stores each award and publishes its CredentialAwarded; learner-record verifies the proof and projects it.

Measured per level: awards/s accepted (first POST sent to last answer), POST latency, and POST-to-visible latency:
from sending the POST until the award's credential document is in learner-record's credential collection, found by
a poll of that collection by `_id` (`$in` of up to 500 pending ids, every 50 ms). A registrar's
`GET /learners/{id}/record` answers from those very documents (the learner's credentials by learner_id), so the
first poll that finds one is the first moment a GET would show it; polling by `_id` costs one indexed query per
500 awards where GETs per award would load the service measured. The run ends with one registrar GET per
learner, checking that every award is in its record. Events/s through the projection: awards made visible per
second over the level. Resident memory of every process is read at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import stack  # noqa: E402

from creditflow.learner_record.store import DEFAULT_COLLECTION, credentials_of  # noqa: E402
from creditflow.runtime import identity  # noqa: E402

LEARNERS = 1000
POLL_S = 0.05
VISIBLE_TIMEOUT_S = 300.0
INSTITUTION = "uni-pipeline"
ACHIEVEMENT = {
    "achievement_id": "ach-pipeline", "institution_id": INSTITUTION, "title": "Pipeline benchmark achievement",
    "learning_outcomes": [{"statement": "Measure things carefully"}], "workload_hours": 125,
    "credits": {"value": 5, "framework": "ects"}, "level": {"eqf": 6}, "assessment_type": "exam",
    "participation_form": "online", "quality_assurance_type": "external accreditation"}


class Services:
    """Issuer and learner-record as processes on the bench's stack, with tokens signed by a bench identity key."""

    def __init__(self, cfg: stack.StackConfig, http_port: int) -> None:
        self.cfg = cfg
        self.ports = {"issuer": http_port, "learner-record": http_port + 1}
        state = cfg.state_dir
        private, public = state / "identity" / "key.pem", state / "identity" / "public.pem"
        identity.ensure_key_pair(private, public)
        self.key = identity.load_private_key(private)
        self.env = {**os.environ, "CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE": str(public),
                    "CREDITFLOW_MONGODB_URL": cfg.mongodb_url, "CREDITFLOW_LOG_LEVEL": "WARNING",
                    "CREDITFLOW_ISSUER_KEY_DIR": str(state / "issuer-keys"),
                    "CREDITFLOW_LEARNER_RECORD_KEY_FILE": str(state / "platform-key.pem"),
                    "CREDITFLOW_LEARNER_RECORD_PUBLIC_URL": f"http://127.0.0.1:{self.ports['learner-record']}",
                    "CREDITFLOW_ISSUER_HTTP_PORT": str(self.ports["issuer"]),
                    "CREDITFLOW_LEARNER_RECORD_HTTP_PORT": str(self.ports["learner-record"])}
        self.procs: dict[str, object] = {}

    def token(self, institution: str | None, role: str) -> dict[str, str]:
        token, _ = identity.create(self.key, sub="bench@creditflow", name=None, inst=institution, roles=[role])
        return {"Authorization": f"Bearer {token}"}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    async def start(self) -> None:
        for service in self.ports:
            log = self.cfg.log_file(service)
            self.procs[service] = benchlib.start_service(service, {**self.env, **self.cfg.service_env(service)}, log)
        for service, port in self.ports.items():
            await benchlib.wait_ready(port, self.procs[service], self.cfg.log_file(service))

    def stop(self) -> None:
        for proc in self.procs.values():
            benchlib.stop_service(proc)


async def visible_poll(records, accepted: dict[str, float], seen: dict[str, float], done: asyncio.Event) -> None:
    """Record when each accepted credential first shows in learner-record's credential collection."""
    while not done.is_set() or len(seen) < len(accepted):
        pending = [c for c in list(accepted) if c not in seen]
        for start in range(0, len(pending), 500):
            async for document in records.find({"_id": {"$in": pending[start:start + 500]},
                                                "achievement": {"$ne": None}}, {"_id": 1}):
                seen.setdefault(document["_id"], time.perf_counter())
        await asyncio.sleep(POLL_S)


async def level(services: Services, records, clients: int, awards: int, tag: str) -> dict:
    """POST `awards` awards with `clients` concurrent clients; measure acceptance and visibility."""
    integration = services.token(INSTITUTION, "issuer-integration")
    accepted: dict[str, float] = {}  # credential_id -> when its POST was sent, once the issuer answered 201
    post_ms: list[float] = []
    seen: dict[str, float] = {}
    learners: dict[str, str] = {}
    failures: list[str] = []
    queue = iter(range(awards))
    done = asyncio.Event()
    poller = asyncio.create_task(visible_poll(records, accepted, seen, done))
    bar = tqdm(total=awards, desc=f"awards over HTTP, {clients} client(s)", unit="award", file=sys.stderr)

    async def client(http: httpx.AsyncClient) -> None:
        for index in queue:
            learner = f"learner-{tag}-{index % LEARNERS:04d}"
            started = time.perf_counter()
            response = await http.post("/awards", headers=integration, json={
                "request_id": f"{tag}-{index}", "learner_id": learner, "achievement_id": ACHIEVEMENT["achievement_id"]})
            answered = time.perf_counter()
            if response.status_code == 201:
                credential_id = response.json()["credential_id"]
                accepted[credential_id] = started
                learners[credential_id] = learner
                post_ms.append((answered - started) * 1000)
            else:
                failures.append(f"{response.status_code} {response.text[:200]}")
            bar.update()

    cpu0 = {name: benchlib.cpu_seconds(proc.pid) for name, proc in services.procs.items()}
    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=services.url("issuer"), timeout=60,
                                 limits=httpx.Limits(max_connections=clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    posted = time.perf_counter()
    bar.close()
    done.set()
    with tqdm(total=len(accepted), initial=len(seen), desc="awaiting visibility", unit="award",
              file=sys.stderr) as waiting:
        deadline = time.monotonic() + VISIBLE_TIMEOUT_S
        while len(seen) < len(accepted) and time.monotonic() < deadline and not poller.done():
            await asyncio.sleep(0.2)
            waiting.update(len(seen) - waiting.n)
    poller.cancel()
    cpu = {name: benchlib.cpu_seconds(proc.pid) - cpu0[name] for name, proc in services.procs.items()}
    visible_ms = [(seen[c] - accepted[c]) * 1000 for c in seen]
    first_seen, last_seen = (min(seen.values()), max(seen.values())) if seen else (began, began)
    return {
        "clients": clients, "awards": awards, "accepted": len(accepted), "refused": len(failures),
        "refusals": failures[:3], "visible": len(seen),
        "accepted_per_s": len(accepted) / (posted - began),
        "post_p50_ms": benchlib.percentile(post_ms, 50), "post_p99_ms": benchlib.percentile(post_ms, 99),
        "visible_p50_ms": benchlib.percentile(visible_ms, 50), "visible_p99_ms": benchlib.percentile(visible_ms, 99),
        "visible_max_ms": max(visible_ms, default=float("nan")),
        # The projection's rate over the level: bounded by what the issuer accepts, not a rate of its own.
        "projected_per_s": len(seen) / (last_seen - first_seen) if last_seen > first_seen else float("nan"),
        "seconds": posted - began,
        "cpu_ms_per_award": {name: seconds / max(1, len(accepted)) * 1000 for name, seconds in cpu.items()},
        "load": benchlib.load_average(), "learners": learners,
    }


async def records_complete(services: Services, learners: dict[str, str]) -> tuple[int, int]:
    """(awards found in their learner's record by a registrar's GET, awards looked for)."""
    by_learner: dict[str, set[str]] = {}
    for credential_id, learner in learners.items():
        by_learner.setdefault(learner, set()).add(credential_id)
    registrar = services.token(INSTITUTION, "registrar")
    found = 0
    async with httpx.AsyncClient(base_url=services.url("learner-record"), headers=registrar, timeout=60) as http:
        for learner, expected in tqdm(by_learner.items(), desc="registrar GETs of every record", unit="learner",
                                      file=sys.stderr):
            response = await http.get(f"/learners/{learner}/record")
            held = {a["credential_id"] for a in response.json()["record"]["achievements"]} \
                if response.status_code == 200 else set()
            found += len(expected & held)
    return found, len(learners)


async def bench(cfg: stack.StackConfig, args: argparse.Namespace) -> dict:
    await asyncio.to_thread(stack.provision, cfg)
    services = Services(cfg, args.http_port)
    await services.start()
    mongo = AsyncMongoClient(cfg.mongodb_url)
    records = mongo["creditflow_learner_record"][credentials_of(DEFAULT_COLLECTION)]
    try:
        async with httpx.AsyncClient(base_url=services.url("issuer"), timeout=60) as http:
            registered = await http.post("/institutions", headers=services.token(None, "operator"), json={
                "institution_id": INSTITUTION, "name": "Pipeline University", "country": "FI",
                "credit_frameworks": ["ects"]})
            assert registered.status_code == 201, registered.text
            published = await http.post("/achievements", json=ACHIEVEMENT,
                                        headers=services.token(INSTITUTION, "issuer-integration"))
            assert published.status_code == 201, published.text
        # Warm-up (not measured): the first award pays for loading contexts and keys, and proves the path works.
        await level(services, records, 1, 20, "warmup")
        levels = []
        for clients in args.clients:
            levels.append(await level(services, records, clients, args.awards, f"c{clients}-{uuid.uuid4().hex[:4]}"))
        learners = {c: learner for found in levels for c, learner in found.pop("learners").items()}
        in_records, looked_for = await records_complete(services, learners)
        verified = await records.count_documents({"achievement.verification": "verified",
                                                  "_id": {"$in": list(learners)}}) if learners else 0
        rss = {name: benchlib.rss_mib(proc.pid) for name, proc in services.procs.items()}
        rss |= {"FerretDB": benchlib.server_rss(cfg, "ferretdb"), "Kafka (JVM)": benchlib.server_rss(cfg, "kafka")}
    finally:
        await mongo.close()
        services.stop()
    return {"levels": levels, "in_records": in_records, "looked_for": looked_for, "verified": verified,
            "rss_mib": rss, "command": " ".join(["shared/bench/pipeline.py", *sys.argv[1:]])}


def summary(result: dict) -> str:
    lines = []
    for found in result["levels"]:
        cpu = ", ".join(f"{name} {ms:.1f}" for name, ms in found["cpu_ms_per_award"].items())
        lines.append(
            f"{found['clients']:>2} client(s): {found['accepted']:,} of {found['awards']:,} accepted at "
            f"{found['accepted_per_s']:.1f} awards/s (POST p50 {found['post_p50_ms']:.0f} ms, p99 "
            f"{found['post_p99_ms']:.0f} ms); visible {found['visible']:,}, POST-to-visible p50 "
            f"{found['visible_p50_ms']:.0f} ms, p99 {found['visible_p99_ms']:.0f} ms; projected "
            f"{found['projected_per_s']:.1f} events/s; CPU ms/award: {cpu}; load {found['load']}")
    lines.append(f"registrar GETs found {result['in_records']:,} of {result['looked_for']:,} awards in their records; "
                 f"{result['verified']:,} verified")
    lines.append("RSS after the run: " + ", ".join(f"{n} {m:.0f} MiB" for n, m in result["rss_mib"].items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--awards", type=int, default=500, help="awards per concurrency level")
    parser.add_argument("--clients", type=lambda s: [int(c) for c in s.split(",")], default=[1, 16])
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("CREDITFLOW_KAFKA_PORT", 29192)))
    parser.add_argument("--mongo-port", type=int, default=int(os.environ.get("CREDITFLOW_MONGO_PORT", 27317)))
    parser.add_argument("--http-port", type=int, default=int(os.environ.get("CREDITFLOW_BENCH_HTTP_PORT", 18201)),
                        help="the issuer's; learner-record takes the next")
    parser.add_argument("--save", default="pipeline", help="name of the results file (.state/bench-results/)")
    args = parser.parse_args()
    benchlib.stop_cleanly_on_sigterm()
    result = benchlib.on_fresh_servers("bench-pipeline", args.kafka_port, args.mongo_port,
                                       lambda cfg: bench(cfg, args))
    print(summary(result))
    benchlib.save(args.save, result)


if __name__ == "__main__":
    main()
