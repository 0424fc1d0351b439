"""What every `make bench*` script shares: the machine and its load, process memory and CPU from /proc, hey (the
registrar-GET load generator creditflow did not write), services started as processes, and the results each script
leaves for the report (`.state/bench-results/<name>.json`)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy" / "local"))
import stack  # noqa: E402

T = TypeVar("T")
RESULTS = REPO / ".state" / "bench-results"
TICKS = os.sysconf("SC_CLK_TCK")
GET_TIMEOUT_S = 2.0  # a registrar GET slower than this counts as an error (a timeout)
HEY_VERSION = "0.1.4"


def stop_cleanly_on_sigterm() -> None:
    """A SIGTERM ends the bench as Ctrl-C does, through its `finally` blocks: the servers and services it started
    are stopped, not left running."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as `uptime` prints them: the machine is shared, so every figure
    carries the load it was measured under."""
    return ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def now_utc() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, " \
           f"Kafka {stack.KAFKA_VERSION}, FerretDB {stack.FERRETDB_VERSION} (SQLite)"


def rss_mib(pid: int) -> float:
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def server_rss(cfg: stack.StackConfig, name: str) -> float:
    """Resident memory of a server the stack started (its pid file); NaN when it was found already running."""
    pid = cfg.pid_file(name)
    return rss_mib(int(pid.read_text())) if pid.exists() else float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile of `values`: the value of rank round(p/100 * n + 0.5) (the nearest rank, or the one above
    it: p99 of 500 is the 496th); NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def start_service(service: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A creditflow service as a process (as `make run` starts it), its output in `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "creditflow." + service.replace("-", "_")], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


async def wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the service on port {port} exited at start-up; see {log}")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the service on port {port} not ready after {timeout_s:.0f} s; see {log}")


def on_fresh_servers(state: str, kafka_port: int, mongo_port: int, bench: Callable[[stack.StackConfig], Awaitable[T]]
                     ) -> T:
    """`bench(cfg)` on a Kafka broker and a FerretDB of its own (.state/<state>, emptied first). Servers already
    answering on those ports are used as they are and left running; the ones started here stop afterwards."""
    cfg = stack.StackConfig.from_env(state_dir=REPO / ".state" / state, kafka_port=kafka_port, mongo_port=mongo_port)
    if not (stack.kafka_ready(cfg) or stack.mongo_ready(cfg)):
        shutil.rmtree(cfg.state_dir, ignore_errors=True)
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    started = {"kafka": stack.start_kafka(cfg), "ferretdb": stack.start_ferretdb(cfg)}
    try:
        return asyncio.run(bench(cfg))
    finally:
        for name, fresh in started.items():
            if fresh:
                stack.stop_server(cfg, name)


def stop_service(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def hey_binary(cache: Path) -> Path:
    """rakyll/hey, the HTTP load generator, built from the Go module proxy into the cache on first use."""
    binary = cache / f"hey-{HEY_VERSION}" / "hey"
    if not binary.exists():
        subprocess.run(["go", "install", f"github.com/rakyll/hey@v{HEY_VERSION}"], check=True,
                       env={**os.environ, "GOBIN": str(binary.parent)})
    return binary


def hey(cache: Path, url: str, auth: str, *args: str) -> subprocess.Popen:
    # -t: a request slower than GET_TIMEOUT_S is an error in hey's report, counted, and the run goes on.
    return subprocess.Popen([str(hey_binary(cache)), "-t", str(int(GET_TIMEOUT_S)), "-H", auth, *args, url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def hey_report(output: str) -> dict[str, float]:
    """p50/p99 (ms), requests/s, answers by status and errors (timeouts included) from hey's summary."""
    percentiles = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", output)}
    statuses = {int(code): int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", output)}
    errors_section = output.split("Error distribution:", 1)[1] if "Error distribution:" in output else ""
    errors = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", errors_section, re.MULTILINE))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return {"p50_ms": percentiles.get(50, float("nan")), "p99_ms": percentiles.get(99, float("nan")),
            "requests_per_s": float(rate.group(1)) if rate else float("nan"),
            "ok": statuses.get(200, 0), "other_status": sum(n for c, n in statuses.items() if c != 200),
            "errors": errors}


def save(name: str, results: dict) -> Path:
    """Keep a script's figures (with when, where and under which load they were measured) for the report."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"measured": now_utc(), "load": load_average(), **results}, indent=1))
    return path


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
