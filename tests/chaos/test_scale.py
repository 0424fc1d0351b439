"""`make chaos` also measures scale-out (issue #17, item 4), and `make scale` measures only that: the whole pipeline
with 1, 2 and 3 instances each of learner-record and stacking on the cluster, in one run. A programme is published
and every learner of the load enrolled in it before the clock starts; then awards are published, each making
progress toward the programme and the last completing it. The clock stops once stacking has handled every award and
learner-record every award and every progress and completion stacking published (each group committed the end of
its topics): awards in, records and completions out. Over that window the CPU time of every process (FerretDB, each
broker, each instance, this load generator) and of the whole machine is read from /proc, to say which resource
saturates. The table goes into docs/benchmarks.md. A measurement, not a test of speed: nothing is asserted about the
figures, only that every record and completion was projected."""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
import stack
import chaos_checker as chaos
from creditflow.events import (
    CreditValue,
    LearnerEnrolled,
    LearnerEnrolledData,
    ProgrammePublished,
    ProgrammePublishedData,
    Requirement,
    encode,
)
from creditflow.events.topics import CREDENTIALS, PROGRAMMES, PROGRESS
from creditflow.learner_record.store import RecordStore
from creditflow.runtime.mongo import mongo_client
from creditflow.stacking import handlers as stacking_handlers
from kafka_waits import BOUND_S, start_after_end

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800),
              pytest.mark.skipif(os.environ.get("CREDITFLOW_CHAOS") != "1", reason="make chaos measures it")]
BENCHMARKS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
# A single instance of each works through the whole load before the groups commit its end: minutes, not the matrix's
# bound for one scenario.
SETTLE_S = BOUND_S * 20
LEARNERS, AWARDS_EACH = 100, 10  # 1,000 awards; 1,000 progress updates and 100 completions come out of stacking
INSTITUTION = "uni-helsinki"  # the institution of the load's awards (contract_factories.achievement)
MARK = "<!-- scale-out: written by make chaos (tests/chaos/test_scale.py) -->"
END = "<!-- end of what make chaos writes; the reading below is kept -->"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (all its threads) has used so far. The fields after the command name, which may
    hold spaces, start at the state (field 3): utime and stime are fields 14 and 15."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds every core spent busy and in all, so far (/proc/stat: idle and iowait are not busy)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(ticks[:8])  # guest time is counted in user already
    return (total - ticks[3] - ticks[4]) / TICK, total / TICK


@dataclass
class Window:
    """CPU seconds used between start() and stop(), per role (a role sums its processes) and by the machine."""
    roles: dict[str, list[int]]

    def start(self) -> None:
        self.began = {role: sum(cpu_seconds(p) for p in pids) for role, pids in self.roles.items()}
        self.machine = machine_busy_seconds()
        self.clock = time.monotonic()

    def stop(self) -> None:
        self.seconds = time.monotonic() - self.clock
        self.used = {role: sum(cpu_seconds(p) for p in pids) - self.began[role] for role, pids in self.roles.items()}
        busy, total = machine_busy_seconds()
        self.machine_busy = busy - self.machine[0]
        self.cores = (total - self.machine[1]) / self.seconds  # what the machine had: cores x seconds

    def cores_of(self, role: str) -> float:
        return self.used[role] / self.seconds


async def holding_partitions(servers, process, group: str) -> bool:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{process.port}/metrics",
                               headers=servers.identity.bearer())).text
    held = re.search(rf'creditflow_instance_partitions{{group="{re.escape(group)}"}} (\d+)', text)
    return bool(held and int(held.group(1)) > 0)


def programme(programme_id: str) -> ProgrammePublishedData:
    """Completed by the load's AWARDS_EACH awards of a learner (achievements ach-0 .. ach-N, 5 ECTS each): every
    award moves the learner's progress, the last completes it."""
    return ProgrammePublishedData(
        programme_id=programme_id, institution_id=INSTITUTION, version=1, effective_from=date(2025, 1, 1),
        title="Certificate in scale-out", total_credits=CreditValue(value=5 * AWARDS_EACH, framework="ects"),
        requirements=[Requirement(requirement_id="all", kind="elective", min_items=AWARDS_EACH,
                                  options=[f"ach-{n}" for n in range(AWARDS_EACH)])],
        award_mode="registrar")


@dataclass
class Measured:
    count: int
    window: Window
    counts: dict[str, int]
    incomplete: int


async def measure(servers, tmp_path, count: int) -> Measured:
    run_id, records = await chaos.new_group(servers, "scale")
    stacking = servers.settings("stacking", mongodb_database=f"t{run_id}_stacking",
                                group_id=f"creditflow.stacking.scale{run_id}")
    await start_after_end(servers.admin, stacking_handlers.LEARNER_TOPICS, stacking.group_id)
    await start_after_end(servers.admin, stacking_handlers.REGISTRY_TOPICS, f"{stacking.group_id}.registry")
    names = {f"scale-{run_id}-{n}" for n in range(LEARNERS)}
    programme_id = f"cert-scale-{run_id}"
    values = chaos.load(names, AWARDS_EACH, chaos.Accepted())
    (tmp_path / str(count)).mkdir()
    recorders = chaos.Instances(servers, tmp_path / str(count), records, batch_size=500)
    stackers = chaos.Instances(servers, tmp_path / str(count), stacking, extra_env=lambda port: {})
    client = mongo_client(records)
    try:
        started = [(recorders, recorders.start()) for _ in range(count)] + [
            (stackers, stackers.start()) for _ in range(count)]
        await asyncio.gather(*(group.ready(p) for group, p in started))
        async with asyncio.timeout(BOUND_S * 4):  # both groups have settled: every process holds partitions
            while not all([await holding_partitions(servers, p, group.settings.group_id) for group, p in started]):
                await asyncio.sleep(0.5)
        await chaos.as_admin(servers, [(PROGRAMMES.name, programme_id.encode(),
                                  encode(ProgrammePublished(producer=INSTITUTION, data=programme(programme_id))))])
        await chaos.caught_up(servers, f"{stacking.group_id}.registry", (PROGRAMMES.name,), SETTLE_S)
        await chaos.as_admin(servers, [(PROGRESS.name, learner.encode(), encode(LearnerEnrolled(
            producer=INSTITUTION, learner_id=learner, data=LearnerEnrolledData(
                programme_id=programme_id, institution_id=INSTITUTION, started_on=date(2026, 1, 1)))))
            for learner in sorted(names)])
        # each enrolment's 0-credit progress: published by stacking, projected by learner-record
        await chaos.caught_up(servers, stacking.group_id, (PROGRESS.name,), SETTLE_S)
        await chaos.caught_up(servers, records.group_id, (PROGRESS.name,), SETTLE_S)
        cfg = servers.stack
        window = Window({"FerretDB": [stack._read_pid(cfg, "ferretdb")],
                         "Kafka brokers": [stack._read_pid(cfg, n) for n in cfg.kafka_nodes],
                         "learner-record": [p.pid for g, p in started if g is recorders],
                         "stacking": [p.pid for g, p in started if g is stackers],
                         "load generator and waits (pytest)": [os.getpid()]})
        window.start()
        await chaos.publish(servers, values)
        await chaos.caught_up(servers, stacking.group_id, (CREDENTIALS.name,), SETTLE_S)
        await chaos.caught_up(servers, records.group_id, (CREDENTIALS.name, PROGRESS.name), SETTLE_S)
        window.stop()
        expected, _, _ = await chaos.topic_fold(servers, names)
        store = RecordStore(client[records.mongodb_database])
        counts = chaos.compare(expected, await chaos.projection(store, names))
        incomplete = 0
        for learner in names:
            record = await store.get(learner) or {"qualifications": []}
            incomplete += [(q["programme_id"], q["status"]) for q in record["qualifications"]] != [
                (programme_id, "completed")]
        return Measured(count, window, counts, incomplete)
    finally:
        recorders.stop_all()
        stackers.stop_all()
        for database in (records.mongodb_database, stacking.mongodb_database):
            await client.drop_database(database)
        await client.close()


async def test_pipeline_throughput_with_one_two_and_three_instances_of_learner_record_and_stacking(servers,
                                                                                                  tmp_path):
    load_before = os.getloadavg()
    runs = []
    for count in (1, 2, 3):
        runs.append(await measure(servers, tmp_path, count))
        last = runs[-1]
        assert chaos.clean({**last.counts, "accepted, not on the topic": 0, "on the topic, never accepted": 0}
                           ) and last.incomplete == 0, (last.counts, last.incomplete)
    load_after = os.getloadavg()
    BENCHMARKS.write_text(with_section(BENCHMARKS.read_text(), section(servers.stack, runs, load_before,
                                                                       load_after)))


def with_section(text: str, section: str) -> str:
    """What lies between MARK and END replaced by the new measurement; the rest of the page (the reading of the
    figures after END, the other sections) kept."""
    if MARK not in text:
        return text.rstrip() + "\n\n" + section + "\n"
    before, after = text.split(MARK, 1)
    return before + section + (after.split(END, 1)[1] if END in after else "\n")


ROLES = ("FerretDB", "Kafka brokers", "learner-record", "stacking", "load generator and waits (pytest)")


def section(cfg, runs: list[Measured], load_before, load_after) -> str:
    awards = LEARNERS * AWARDS_EACH
    rows = []
    for run in runs:
        w = run.window
        ours = sum(w.used.values())
        rows.append(f"| {run.count} + {run.count} | {awards:,} | {w.seconds:.1f} | {awards / w.seconds:.1f} | "
                    + " | ".join(f"{w.cores_of(role):.2f}" for role in ROLES)
                    + f" | {ours / w.seconds:.2f} | {(w.machine_busy - ours) / w.seconds:.2f} | "
                      f"{w.machine_busy / w.seconds:.2f} of {w.cores:.0f} | {1000 * ours / awards:.0f} |")
    rates = [awards / r.window.seconds for r in runs]
    biggest = max(ROLES, key=lambda role: max(r.window.cores_of(role) for r in runs))
    busiest = max(runs, key=lambda r: r.window.machine_busy / r.window.seconds / r.window.cores)
    # What the pipeline's own processes spent per award, and the rate the whole machine would give at that cost.
    per_award = sum(sum(r.window.used.values()) for r in runs) / (awards * len(runs))
    ceiling = runs[0].window.cores / per_award
    load = lambda avg: ", ".join(f"{a:.2f}" for a in avg)  # noqa: E731 - as `uptime` prints it
    return f"""{MARK}
## Scale-out: learner-record and stacking instances on the cluster

Measured by `make chaos` (only this: `make scale`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load
average (`uptime`) {load(load_before)} before and {load(load_after)} after: {os.cpu_count()} cores, {cfg.brokers} KRaft
brokers (replication factor {cfg.replication_factor}, min.insync.replicas {cfg.min_insync_replicas}), FerretDB,
learner topics with {stack.CLUSTER_LEARNER_PARTITIONS if cfg.brokers > 1 else 3} partitions.

For each instance count n, n learner-record processes (one group, batches of up to 500) and n stacking processes
(one group) settle first (every process holds partitions of its group, read from `creditflow_instance_partitions`
on its /metrics); a programme is published and the {LEARNERS} learners enrolled in it (stacking publishes their
0-credit progress, learner-record projects it); then the clock starts, {awards:,} awards ({AWARDS_EACH} per learner,
5 ECTS each) are published, and each makes progress toward the programme, the last completing it. The clock stops
when stacking has committed the last award and learner-record the last award and the last of the {awards:,} progress
updates and {LEARNERS} completions stacking published: awards in, records and completions out. Every learner's
record then held every credential and the completed programme, nothing lost, duplicated or wrong.

CPU is read from `/proc/<pid>/stat` (user + system, every thread) at the start and the end of that window, in cores
(CPU seconds / seconds): 1.00 is one core busy all the time. "machine" is every process on it (`/proc/stat`),
"others" what the machine ran besides the pipeline's processes (other sessions on this shared machine).

| instances (learner-record + stacking) | awards | seconds | awards/s | FerretDB | Kafka brokers (3) | learner-record (all) | stacking (all) | load generator | pipeline (the five before) | others | machine | pipeline CPU ms per award |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Awards/s from 1 to 3 instances: {' → '.join(f'{r:.1f}' for r in rates)}. The column using the most CPU was
{biggest}; the busiest run kept the machine {100 * busiest.window.machine_busy / busiest.window.seconds /
busiest.window.cores:.0f} % busy ({busiest.count} + {busiest.count} instances). The pipeline spent
{1000 * per_award:.0f} ms of CPU per award on average (every process above, for the award, its progress update and
its share of the completion): with all {runs[0].window.cores:.0f} cores to itself it could not pass about
{ceiling:.0f} awards/s, whatever the number of instances.
{END}"""
