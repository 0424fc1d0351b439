"""Store micro-benchmark: lookups and writes by `_id`, a guarded update and a find by an indexed field, on the patched
embedded FerretDB and on unpatched upstream FerretDB 1.24.2 (built into a cache folder of its own for this only).

    .venv/bin/python shared/bench/store.py [--counts 1000,10000] [--sizes 2000,25000] [--mongo-port 27317]

Each server runs on a throw-away state directory; each operation is timed one request at a time on documents spread
over the whole collection (up to --samples requests, or --budget seconds, whichever comes first), and reported as
p50/p99 in milliseconds, as a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

from pymongo import AsyncMongoClient
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy" / "local"))
import stack  # noqa: E402

GROUPS = 100


def operations(collection):
    """name -> coroutine function of a document number."""
    return {
        "find_one by _id": lambda i: collection.find_one({"_id": f"doc-{i:06d}"}),
        "update_one by _id ($inc)": lambda i: collection.update_one({"_id": f"doc-{i:06d}"}, {"$inc": {"n": 1}}),
        "guarded update_one {_id, rev}": lambda i: collection.update_one(
            {"_id": f"doc-{i:06d}", "rev": 0}, {"$set": {"seen": True}}
        ),
        "find by indexed field": lambda i: collection.find({"group": f"g{i % GROUPS}"}).to_list(),
    }


async def load(collection, count: int, size: int) -> None:
    pad = "x" * size
    with tqdm(total=count, desc=f"  inserting {count:,} x {size:,} B", unit="doc", file=sys.stderr, leave=False) as bar:
        for start in range(0, count, 500):
            batch = range(start, min(count, start + 500))
            await collection.insert_many(
                [{"_id": f"doc-{i:06d}", "rev": 0, "n": 0, "group": f"g{i % GROUPS}", "pad": pad} for i in batch]
            )
            bar.update(len(batch))
    await collection.create_index("group")


async def measure(url: str, count: int, size: int, samples: int, budget_s: float) -> dict[str, tuple[float, float, int]]:
    client = AsyncMongoClient(url)
    collection = client["storebench"][f"c{count}_{size}"]
    try:
        await load(collection, count, size)
        results = {}
        for name, operation in operations(collection).items():
            spread = [round(k * (count - 1) / max(1, samples - 1)) for k in range(samples)]
            times, deadline = [], time.monotonic() + budget_s
            for i in tqdm(spread, desc=f"  {name}", unit="req", file=sys.stderr, leave=False):
                started = time.perf_counter()
                await operation(i)
                times.append((time.perf_counter() - started) * 1000)
                if time.monotonic() > deadline:
                    break
            ordered = sorted(times)
            results[name] = (statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
                             len(ordered))
        await collection.drop()
        return results
    finally:
        await client.close()


def run_server(cfg: stack.StackConfig, binary: Path, args: argparse.Namespace, label: str) -> dict:
    shutil.rmtree(cfg.state_dir, ignore_errors=True)
    cfg.state_dir.mkdir(parents=True)
    if not stack.start_ferretdb(cfg, binary):
        raise SystemExit(f"something already answers on port {cfg.mongo_port}; pick another --mongo-port")
    results = {}
    try:
        for size in args.sizes:
            for count in args.counts:
                print(f"{label}: {count:,} documents of {size:,} B", file=sys.stderr)
                results[(size, count)] = asyncio.run(measure(cfg.mongodb_url, count, size, args.samples, args.budget))
    finally:
        stack.stop_server(cfg, "ferretdb")
        shutil.rmtree(cfg.state_dir, ignore_errors=True)
    return results


def table(results: dict[str, dict]) -> str:
    lines = ["| documents | operation | " + " | ".join(f"{label} p50 / p99 ms (n)" for label in results) + " |",
             "|---|---|" + "---|" * len(results)]
    first = next(iter(results.values()))
    for (size, count), by_operation in first.items():
        for name in by_operation:
            cells = []
            for label in results:
                p50, p99, n = results[label][(size, count)][name]
                cells.append(f"{p50:.1f} / {p99:.1f} ({n})")
            lines.append(f"| {count:,} x {size / 1000:g} KB | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=lambda v: [int(c) for c in v.split(",")], default=[1000, 10000])
    parser.add_argument("--sizes", type=lambda v: [int(c) for c in v.split(",")], default=[2000, 25000])
    parser.add_argument("--samples", type=int, default=100, help="requests per operation at most")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per operation at most")
    parser.add_argument("--mongo-port", type=int, default=27317)
    parser.add_argument("--no-upstream", action="store_true", help="measure the patched server only")
    args = parser.parse_args()
    cfg = stack.StackConfig.from_env(state_dir=REPO / ".state" / "store-bench", mongo_port=args.mongo_port)
    binaries = {"patched": stack.build_ferretdb(cfg.cache_dir)}
    if not args.no_upstream:
        binaries["upstream"] = stack.build_ferretdb(cfg.cache_dir, patched=False)
    results = {label: run_server(cfg, binary, args, label) for label, binary in binaries.items()}
    print(table(results))


if __name__ == "__main__":
    main()
