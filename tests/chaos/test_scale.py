"""`make chaos` also measures scale-out (issue #17, item 4): the same load of awards projected by 1, 2 and 3
learner-record processes of one group on the cluster, timed from the first award published until the group has
committed the last one (awards in, records out). The table goes into docs/benchmarks.md. A measurement, not a
test of speed: nothing is asserted about the figures, only that every record was projected."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import httpx
import pytest
import chaos_checker as chaos
from creditflow.learner_record.store import RecordStore
from creditflow.runtime.mongo import mongo_client
from kafka_waits import BOUND_S

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900),
              pytest.mark.skipif(os.environ.get("CREDITFLOW_CHAOS") != "1", reason="make chaos measures it")]
BENCHMARKS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
LEARNERS, AWARDS_EACH = 200, 20  # 4,000 awards
MARK = "<!-- scale-out: written by make chaos (tests/chaos/test_scale.py) -->"


async def holding_partitions(servers, process, group: str) -> bool:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{process.port}/metrics",
                               headers=servers.identity.bearer())).text
    held = re.search(rf'creditflow_instance_partitions{{group="{re.escape(group)}"}} (\d+)', text)
    return bool(held and int(held.group(1)) > 0)


async def measure(servers, tmp_path, count: int) -> tuple[float, dict[str, int]]:
    run_id, settings = await chaos.new_group(servers, "scale")
    names = {f"scale-{run_id}-{n}" for n in range(LEARNERS)}
    accepted = chaos.Accepted()
    values = chaos.load(names, AWARDS_EACH, accepted)
    processes = chaos.Instances(servers, tmp_path / str(count), settings, batch_size=500)
    (tmp_path / str(count)).mkdir()
    client = mongo_client(settings)
    try:
        started = [processes.start() for _ in range(count)]
        await asyncio.gather(*(processes.ready(p) for p in started))
        async with asyncio.timeout(BOUND_S * 4):  # the group has settled: every process holds partitions
            while not all([await holding_partitions(servers, p, settings.group_id) for p in started]):
                await asyncio.sleep(0.5)
        began = time.monotonic()
        await chaos.publish(servers, values)
        await chaos.caught_up(servers, settings.group_id)
        seconds = time.monotonic() - began
        expected, _, _ = await chaos.topic_fold(servers, names)
        store = RecordStore(client[settings.mongodb_database])
        return seconds, chaos.compare(expected, await chaos.projection(store, names))
    finally:
        processes.stop_all()
        await client.drop_database(settings.mongodb_database)
        await client.close()


async def test_throughput_with_one_two_and_three_learner_record_instances(servers, tmp_path):
    rows, rates = [], {}
    for count in (1, 2, 3):
        seconds, counts = await measure(servers, tmp_path, count)
        assert chaos.clean({**counts, "accepted, not on the topic": 0, "on the topic, never accepted": 0}), counts
        awards = LEARNERS * AWARDS_EACH
        rates[count] = awards / seconds
        rows.append(f"| {count} | {awards:,} | {seconds:.1f} | {rates[count]:.0f} |")
    best = max(rates, key=rates.get)
    spread = max(rates.values()) / min(rates.values())
    # Runs on a shared 2-core machine differ by several per cent on their own: within 10 % is no scaling at all.
    verdict = (f"it does not scale: {len(rates)} instance counts are within {100 * (spread - 1):.0f} % of one "
               "another" if spread < 1.1 else f"the fastest run had {best} instance{'s' if best > 1 else ''}")
    cfg = servers.stack
    section = f"""{MARK}
## Scale-out: learner-record instances on the cluster

Measured by `make chaos` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {cfg.brokers} KRaft brokers
(replication factor {cfg.replication_factor}, min.insync.replicas {cfg.min_insync_replicas}), FerretDB, learner
topics with {12 if cfg.brokers > 1 else 3} partitions. For each instance count, a new consumer group of that many
learner-record processes (batches of up to 500) settles first (every process holds partitions, read from
`creditflow_instance_partitions` on its /metrics); then {LEARNERS * AWARDS_EACH:,} awards for {LEARNERS} learners are
published and the clock stops when the group has committed the last one. Nothing was lost or duplicated in any run.

| instances | awards | seconds (publish to last commit) | awards/s |
|---|---|---|---|
{chr(10).join(rows)}

Where it stops scaling on this machine: {verdict}. Likely reasons
(not profiled): every instance writes to the one FerretDB process, which serialises the commands on a collection
(patch 0003 holds a mutex per collection) and spends most of its CPU converting documents, so more instances add
consumers but no database capacity; more instances also split the load into smaller batches, so more bulk writes and
offset commits for the same records; and 2 cores are shared by three brokers, FerretDB, the instances and whatever
else runs. Scaling out pays only with a database that takes parallel writes (MongoDB) and cores to spare. Stacking's
scale-out was not measured.
"""
    text = BENCHMARKS.read_text()
    kept = text.split(MARK)[0].rstrip() + "\n\n" if MARK in text else text.rstrip() + "\n\n"
    BENCHMARKS.write_text(kept + section)
