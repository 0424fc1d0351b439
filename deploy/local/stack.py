"""Real local servers for machines without Docker: an Apache Kafka broker (KRaft, one node) and FerretDB (SQLite).

    python deploy/local/stack.py start|stop|status|topics

Binaries come from the cache that `deploy/local/setup.sh` fills; data and logs live under one state directory.
Each server runs in its own session so that `stop` can end its whole process group and leave nothing behind.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KAFKA_VERSION = "4.3.1"
FERRETDB_VERSION = "1.24.2"
READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class StackConfig:
    cache_dir: Path
    state_dir: Path
    kafka_port: int
    mongo_port: int

    @classmethod
    def from_env(cls, state_dir: Path | None = None, kafka_port: int | None = None, mongo_port: int | None = None):
        cache = Path(os.environ.get("CREDITFLOW_CACHE_DIR", Path.home() / ".cache" / "creditflow"))
        state = state_dir or Path(os.environ.get("CREDITFLOW_STATE_DIR", REPO / ".state"))
        return cls(
            cache_dir=cache,
            state_dir=state,
            kafka_port=kafka_port or int(os.environ.get("CREDITFLOW_KAFKA_PORT", "9092")),
            mongo_port=mongo_port or int(os.environ.get("CREDITFLOW_MONGO_PORT", "27017")),
        )

    @property
    def kafka_libs(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def ferretdb_bin(self) -> Path:
        return self.cache_dir / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    def pid_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"


# ---------------------------------------------------------------- readiness


async def _kafka_ready(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    # A broker that is still starting refuses connections; that is what the probe is for, not news for the log.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()  # a metadata request answered by the broker
        return True
    except Exception:
        return False
    finally:
        await admin.close()


async def _mongo_ready(url: str) -> bool:
    from pymongo import AsyncMongoClient

    client = AsyncMongoClient(url, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500)
    try:
        await client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        await client.close()


def kafka_ready(cfg: StackConfig) -> bool:
    return asyncio.run(_kafka_ready(cfg.bootstrap))


def mongo_ready(cfg: StackConfig) -> bool:
    return asyncio.run(_mongo_ready(cfg.mongodb_url))


def _wait(name: str, probe, cfg: StackConfig) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if probe(cfg):
            return
        pid = _read_pid(cfg, name)
        if pid is None or not _alive(pid):
            raise SystemExit(f"{name} exited during start-up; see {cfg.log_file(name)}")
        time.sleep(0.5)
    raise SystemExit(f"{name} not ready after {READY_TIMEOUT_S:.0f}s; see {cfg.log_file(name)}")


# ---------------------------------------------------------------- processes


def _read_pid(cfg: StackConfig, name: str) -> int | None:
    try:
        return int(cfg.pid_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); read its state so a crashed server is not taken for a running one.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _spawn(cfg: StackConfig, name: str, argv: list[str], cwd: Path) -> None:
    cfg.log_file(name).parent.mkdir(parents=True, exist_ok=True)
    with open(cfg.log_file(name), "ab") as log:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    cfg.pid_file(name).write_text(str(proc.pid))


def _kafka_properties(cfg: StackConfig, data_dir: Path) -> str:
    controller = cfg.kafka_port + 1
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=3",
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # Topics are created from the event contract with their retention; a typo must not create one.
            "auto.create.topics.enable=false",
            "",
        ]
    )


def _log4j_config(log_path: Path) -> str:
    return "\n".join(
        [
            "status = warn",
            "appender.file.type = File",
            "appender.file.name = FILE",
            f"appender.file.fileName = {log_path}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = FILE",
            "logger.kafka.name = kafka",
            "logger.kafka.level = WARN",
            "logger.apache.name = org.apache.kafka",
            "logger.apache.level = WARN",
            "",
        ]
    )


def _java_cmd(cfg: StackConfig, *args: str) -> list[str]:
    return [
        "java",
        "-Xms128m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={cfg.state_dir / 'kafka' / 'log4j2.properties'}",
        "-cp",
        f"{cfg.kafka_libs}/*",
        *args,
    ]


def start_kafka(cfg: StackConfig) -> bool:
    """Start the broker unless it already answers; return True when this call started it."""
    if kafka_ready(cfg):
        return False
    if not cfg.kafka_libs.is_dir():
        raise SystemExit(f"Kafka jars missing in {cfg.kafka_libs}: run `make setup`")
    home = cfg.state_dir / "kafka"
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(_kafka_properties(cfg, data))
    (home / "log4j2.properties").write_text(_log4j_config(cfg.log_file("kafka-server")))
    if not (data / "meta.properties").exists():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(
            _java_cmd(cfg, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    _spawn(cfg, "kafka", _java_cmd(cfg, "kafka.Kafka", str(props)), cwd=home)
    _wait("kafka", kafka_ready, cfg)
    return True


def start_ferretdb(cfg: StackConfig) -> bool:
    """Start FerretDB unless a Mongo-wire server already answers; return True when this call started it."""
    if mongo_ready(cfg):
        return False
    if not cfg.ferretdb_bin.exists():
        raise SystemExit(f"FerretDB missing at {cfg.ferretdb_bin}: run `make setup`")
    home = cfg.state_dir / "ferretdb"
    (home / "data").mkdir(parents=True, exist_ok=True)
    argv = [
        str(cfg.ferretdb_bin),
        "--handler=sqlite",
        f"--sqlite-url=file:{home / 'data'}/",
        f"--state-dir={home}",
        f"--listen-addr=127.0.0.1:{cfg.mongo_port}",
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=warn",
        "--log-format=json",
    ]
    _spawn(cfg, "ferretdb", argv, cwd=home)
    _wait("ferretdb", mongo_ready, cfg)
    return True


def stop_server(cfg: StackConfig, name: str, timeout_s: float = 30.0) -> None:
    pid = _read_pid(cfg, name)
    if pid is not None and _alive(pid):
        # Each server leads its own process group (start_new_session), so the group id is its pid.
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    cfg.pid_file(name).unlink(missing_ok=True)


def ensure_topics(cfg: StackConfig) -> list[str]:
    from creditflow.runtime.topics import ensure_topics as create

    return asyncio.run(create(cfg.bootstrap))


def start(cfg: StackConfig) -> dict[str, bool]:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    started = {"kafka": start_kafka(cfg), "ferretdb": start_ferretdb(cfg)}
    ensure_topics(cfg)
    return started


def stop(cfg: StackConfig) -> None:
    stop_server(cfg, "kafka")
    stop_server(cfg, "ferretdb")


def status(cfg: StackConfig) -> dict[str, bool]:
    return {"kafka": kafka_ready(cfg), "ferretdb": mongo_ready(cfg)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "status", "topics"])
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    if args.command == "start":
        started = start(cfg)
        for name, fresh in started.items():
            print(f"{name}: {'started' if fresh else 'already running'}")
        print(f"Kafka    {cfg.bootstrap}\nMongoDB  {cfg.mongodb_url}  (FerretDB {FERRETDB_VERSION})")
        print(f"state    {cfg.state_dir}  (logs in {cfg.state_dir / 'logs'})")
    elif args.command == "stop":
        stop(cfg)
        print("stopped")
    elif args.command == "topics":
        print("\n".join(ensure_topics(cfg)))
    else:
        states = status(cfg)
        for name, up in states.items():
            print(f"{name}: {'up' if up else 'down'}")
        return 0 if all(states.values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
