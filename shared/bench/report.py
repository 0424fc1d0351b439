"""Writes docs/benchmarks.md from the figures the bench scripts kept in .state/bench-results (the last step of
`make bench`): each figure with the load average it was measured under, and a table comparing each with the target
of issue #12. Everything from the notes marker on is written by hand and survives a new run.

    .venv/bin/python shared/bench/report.py [--started EPOCH_SECONDS] [--output docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO, load, load_average, machine, now_utc, save  # noqa: E402

NOTES_MARKER = "<!-- notes: kept by make bench -->"
SERVICES = ("issuer", "learner-record", "recognition", "stacking")


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else "**met**" if ok else "**not met**"


def hey_line(found: dict | None) -> str:
    if found is None:
        return "not measured"
    return (f"p50 {ms(found['p50_ms'])}, p99 {ms(found['p99_ms'])}, {found['requests_per_s']:.1f} requests/s, "
            f"{found['ok']:,} answered 200, {found['other_status']} other statuses, {found['errors']} errors/timeouts")


def growth_line(run: dict) -> str:
    if "window" not in run:
        return "not measured"
    return (f"first {run['window']:,} events {run['early_cpu_us']:,.0f} µs CPU/event ({run['early_per_s']:,.0f} "
            f"events/s), last {run['window']:,} {run['late_cpu_us']:,.0f} µs ({run['late_per_s']:,.0f} events/s): "
            f"**{run['late_cpu_us'] / run['early_cpu_us']:.2f}x** the CPU per event")


def projection_section(p: dict, large: dict | None) -> list[str]:
    raw, again, batched, loaded, single = p["raw"], p["raw_again"], p["batched"], p["loaded"], p["single"]
    row = "| {} | {:,} | {:.1f} | {:,.0f} | {:,.0f} | {} |"
    vs_raw = [batched["events_per_s"] / r["events_per_s"] for r in (raw, again)]
    own = batched["cpu_us_per_event"] - (raw["cpu_us_per_event"] + again["cpu_us_per_event"]) / 2
    return [
        "## Learner-record projection",
        "",
        f"`{p['command']}`, {p['measured']}. {p['events']:,} CredentialAwarded events for 1,000 learners (Zipf 1.0: "
        f"the busiest learner holds {p['busiest']:,} credentials), each with a signed credential the consumer "
        f"verifies, produced in {p['produced_s']:.1f} s.",
        "",
        "| variant | events | seconds (first commit to last) | events/s | CPU µs/event | load at its end |",
        "|---|---|---|---|---|---|",
        row.format("raw baseline (aiokafka getmany + orjson + proof verification + 1 bulk upsert per batch)",
                   raw["events"], raw["seconds"], raw["events_per_s"], raw["cpu_us_per_event"], raw["load"]),
        row.format("raw baseline, run again right after the projection", again["events"], again["seconds"],
                   again["events_per_s"], again["cpu_us_per_event"], again["load"]),
        row.format("projection, batches of 500 (the service as it runs)", batched["events"], batched["seconds"],
                   batched["events_per_s"], batched["cpu_us_per_event"], batched["load"]),
        row.format(f"projection, batches of 500, registrar GETs at {p['get_rate']:g}/s", loaded["events"],
                   loaded["seconds"], loaded["events_per_s"], loaded["cpu_us_per_event"], loaded["load"]),
        row.format(f"projection, one event at a time (first {p['single_events']:,} events)", single["events"],
                   single["seconds"], single["events_per_s"], single["cpu_us_per_event"], single["load"]),
        "",
        f"- projection / raw baseline: **{vs_raw[0]:.2f}x** against the run before it, **{vs_raw[1]:.2f}x** against "
        f"the run after (target >= 0.8x); creditflow's own CPU beyond the baseline's: {own:,.0f} µs/event (against "
        f"the two runs' mean); {batched['verified']:,} of {p['events']:,} credentials shown verified",
        f"- per-event cost as records grow (flatness): projection {growth_line(batched)}; raw baseline "
        f"{growth_line(raw)}",
        f"- batched / one at a time: **{batched['events_per_s'] / single['events_per_s']:.1f}x** (target >= 5x)",
        f"- registrar `GET /learners/{p['probed']}/record` ({p['probed_holds']} achievements), measured with hey "
        f"{p['hey_version']} (timeout {p['get_timeout_s']:.0f} s): {hey_line(loaded.get('loaded'))} during batched "
        f"ingest (2 clients, {p['get_rate']:g} requests/s asked; target p99 <= 25 ms); "
        f"{hey_line(loaded.get('unloaded'))} unloaded, right after the ingest (1 client, {p['unloaded_s']} s; "
        f"target p99 <= 10 ms); load {loaded['load']}",
        *([f"- flatness at a larger size (`{large['command']}`, {large['measured']}; the busiest learner ends with "
            f"{large['busiest']:,} credentials): projection {growth_line(large['batched'])}; load "
            f"{large['batched']['load']}"] if large else []),
        "- resident memory after the batched run: " + ", ".join(
            f"{name} {mib:.0f} MiB" for name, mib in p["rss_mib"].items()),
        "",
    ]


def pipeline_section(q: dict) -> list[str]:
    lines = [
        "## The whole pipeline: awards over HTTP",
        "",
        f"`{q['command']}`, {q['measured']}: issuer and learner-record as processes on a fresh Kafka broker and the "
        "patched FerretDB; each award is checked, signed (Data Integrity) and stored by the issuer, published, "
        "verified and projected by learner-record. Visible: the award's credential document is in the collection "
        "a registrar's `GET /learners/{id}/record` reads (polled by `_id` every 50 ms).",
        "",
        "| clients | awards accepted | awards/s accepted | POST p50 / p99 | POST-to-visible p50 / p99 / max | "
        "projected events/s | CPU ms per award (issuer, learner-record) | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level in q["levels"]:
        cpu = level["cpu_ms_per_award"]
        lines.append(
            f"| {level['clients']} | {level['accepted']:,} of {level['awards']:,} | {level['accepted_per_s']:.1f} | "
            f"{ms(level['post_p50_ms'])} / {ms(level['post_p99_ms'])} | {ms(level['visible_p50_ms'])} / "
            f"{ms(level['visible_p99_ms'])} / {ms(level['visible_max_ms'])} | {level['projected_per_s']:.1f} | "
            f"{cpu['issuer']:.1f}, {cpu['learner-record']:.1f} | {level['load']} |")
    lines += [
        "",
        f"- after both levels, one registrar GET per learner found {q['in_records']:,} of {q['looked_for']:,} awards "
        f"in their records; {q['verified']:,} shown verified",
        "- resident memory after the run: " + ", ".join(f"{n} {m:.0f} MiB" for n, m in q["rss_mib"].items()),
        "",
    ]
    return lines


def replay_section(replays: list[dict]) -> list[str]:
    lines = ["## Replay (`make bench-replay`)", ""]
    if not replays:
        return lines + ["Not run on this machine yet.", ""]
    lines += [
        "`creditflow replay`'s function into a new collection, on a fresh broker and FerretDB of its own. The events: "
        "CredentialAwarded of one achievement for 1,000 learners (Zipf 1.0), each with ids of its own; *proofs "
        "none*: no signed credential (so no proof check; each award is shown unverified), *proofs signed*: each "
        "carries its learner's Data Integrity credential, verified again by the replay as in production.",
        "",
        "| events | proofs | bytes/event | generated and produced | replay seconds | events/s | sample of credentials "
        "stored (verified) | load before / after | measured |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in replays:
        lines.append(
            f"| {r['events']:,} | {r['proofs']} | {r['bytes_per_event']:,.0f} | {r['produced_s']:.1f} s | "
            f"{r['seconds']:.1f} | {r['events_per_s']:,.0f} | {r['stored']:,} of {r.get('sample', r['stored']):,} "
            f"({r['verified']:,}) | "
            f"{r['load_before']} / {r['load_after']} | {r['measured']} |")
    lines += ["", "- resident memory after the replay: " + "; ".join(
        f"{r['events']:,} ({r['proofs']}): " + ", ".join(f"{n} {m:.0f} MiB" for n, m in r["rss_mib"].items())
        for r in replays), ""]
    return lines


def targets(p: dict | None, q: dict | None, replays: list[dict], took_s: float | None,
            large: dict | None = None) -> list[str]:
    rows = []

    def add(target: str, measured: str, ok: bool | None) -> None:
        rows.append(f"| {target} | {measured} | {verdict(ok)} |")

    if p:
        b = p["batched"]
        ratios = [b["events_per_s"] / p[k]["events_per_s"] for k in ("raw", "raw_again")]
        add(f"projection / raw baseline >= 0.8x (at {p['events']:,} events)",
            f"{ratios[0]:.2f}x and {ratios[1]:.2f}x (load {b['load']})", min(ratios) >= 0.8)
        if "window" in b:
            grown = b["late_cpu_us"] / b["early_cpu_us"]
            add(f"per-event cost flat within 1.2x in the {p['events']:,}-event run",
                f"CPU/event over the last {b['window']:,} of {p['events']:,} events / over the first "
                f"{b['window']:,}: {grown:.2f}x", grown <= 1.2)
        add(">= 5,000 events/s through the projection", f"{b['events_per_s']:,.0f} events/s (load {b['load']})",
            b["events_per_s"] >= 5000)
        unloaded, during = p["loaded"].get("unloaded"), p["loaded"].get("loaded")
        if unloaded:
            add("registrar GET p99 <= 10 ms unloaded (hey)",
                f"p50 {ms(unloaded['p50_ms'])}, p99 {ms(unloaded['p99_ms'])}, {unloaded['errors']} errors",
                unloaded["p99_ms"] <= 10 and not unloaded["errors"] if unloaded["ok"] else None)
        if during:
            add(f"registrar GET p99 <= 25 ms during the {p['events']:,}-event ingest (hey)",
                f"p50 {ms(during['p50_ms'])}, p99 {ms(during['p99_ms'])}, {during['errors']} errors",
                during["p99_ms"] <= 25 and not during["errors"] if during["ok"] else None)
        add("batched / one at a time >= 5x", f"{b['events_per_s'] / p['single']['events_per_s']:.1f}x",
            b["events_per_s"] / p["single"]["events_per_s"] >= 5)
    if q:
        for level in q["levels"]:
            add(f">= 300 awards/s accepted with signing, {level['clients']} client(s)",
                f"{level['accepted_per_s']:.1f} awards/s (load {level['load']})", level["accepted_per_s"] >= 300)
        for level in q["levels"]:
            add(f"POST-to-visible p99 < 1 s, {level['clients']} client(s)",
                f"p99 {ms(level['visible_p99_ms'])} ({level['visible']:,} of {level['accepted']:,} visible)",
                level["visible_p99_ms"] < 1000 and level["visible"] == level["accepted"])
    if large and "window" in large["batched"]:
        b = large["batched"]
        grown = b["late_cpu_us"] / b["early_cpu_us"]
        add(f"per-event cost at {large['events']:,} events within 1.2x of the cost at 10,000 (flat)",
            f"CPU/event over the last {b['window']:,} / over the first {b['window']:,} of a {large['events']:,}-event "
            f"projection run: {grown:.2f}x ({b['late_cpu_us']:,.0f} / {b['early_cpu_us']:,.0f} µs; events/s "
            f"{b['late_per_s']:,.0f} / {b['early_per_s']:,.0f}; load {b['load']})", grown <= 1.2)
    million = next((r for r in replays if r["events"] >= 1_000_000), None)
    largest = max(replays, key=lambda r: r["events"], default=None)
    if million:
        add("replay of 1,000,000 events < 2 min", f"{million['seconds']:.0f} s (proofs {million['proofs']}, load "
            f"{million['load_after']})", million["seconds"] < 120)
    elif largest:
        add("replay of 1,000,000 events < 2 min", f"1,000,000 not run; {largest['events']:,} events in "
            f"{largest['seconds']:.0f} s, {largest['events_per_s']:,.0f} events/s (proofs {largest['proofs']}; "
            "1,000,000 in 2 minutes needs 8,333 events/s)", None)
    runs = [("after the pipeline run", q), (f"after the {p['events']:,}-event projection" if p else "", p),
            (f"after the {large['events']:,}-event projection" if large else "", large)]
    memory = [(when, name, mib) for when, found in runs if found for name, mib in (
        found.get("rss_mib") or {"learner-record": found["batched"]["rss_mib"]}).items()]
    for what, names in (("each creditflow service", SERVICES), ("FerretDB and Kafka (servers, not services)",
                                                                   ("FerretDB", "Kafka (JVM)"))):
        held = [(when, name, mib) for when, name, mib in memory if name in names]
        if held:
            add(f"RSS of {what} < 200 MiB", "; ".join(f"{name} {mib:.0f} MiB {when}" for when, name, mib in held),
                all(mib < 200 for _, _, mib in held))
    if took_s is not None:
        add("`make bench` at its default size within 20 minutes", f"{took_s / 60:.1f} min", took_s <= 20 * 60)
    return ["## The issue's targets (#12)", "", "| target | measured | result |", "|---|---|---|", *rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--started", type=float, help="when `make bench` started (seconds since the epoch)")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    p, q, large = load("projection"), load("pipeline"), load("projection-flatness")
    replays = [r for r in (load("replay-none"), load("replay-signed")) if r]
    if args.started:  # kept, so the report can be written again (after `make bench-replay`) with it
        save("make-bench", {"seconds": time.time() - args.started})
    whole = load("make-bench") or {}
    took = whole.get("seconds")
    text = "\n".join([
        "# Benchmarks",
        "",
        f"Written by shared/bench/report.py (the last step of `make bench`) on {now_utc()}, load average "
        f"{load_average()}, from the figures of the last runs, each below with its command, time and load. "
        f"Machine: {machine()}. "
        + (f"The last `make bench` ran {took / 60:.1f} minutes, ending {whole['measured']} (load {whole['load']})."
           if took else "No `make bench` duration kept."),
        "",
        "**The machine is shared**: its 2 cores also run other sessions' suites and builds, so every figure carries "
        "the load average (1, 5 and 15 minutes, as `uptime` prints it) it was measured under. Absolute figures "
        "(events/s, ms) are noisy; ratios measured in the same run are what means something.",
        "",
        *targets(p, q, replays, took, large),
        *(pipeline_section(q) if q else ["## The whole pipeline", "", "Not run.", ""]),
        *(projection_section(p, large) if p else ["## Learner-record projection", "", "Not run.", ""]),
        *replay_section(replays),
    ])
    print(text)
    previous = args.output.read_text() if args.output.exists() else ""
    notes = previous[previous.index(NOTES_MARKER):] if NOTES_MARKER in previous else ""
    args.output.write_text(text + ("\n" + notes if notes else ""))


if __name__ == "__main__":
    main()
