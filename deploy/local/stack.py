"""Real local servers for machines without Docker: an Apache Kafka broker (KRaft, one node) and FerretDB (SQLite).

    python deploy/local/stack.py start|stop|status|topics

Binaries come from the cache that `deploy/local/setup.sh` fills; data and logs live under one state directory.
Each server runs in its own session so that `stop` can end its whole process group and leave nothing behind.

The broker authenticates every client with SASL/SCRAM-SHA-512 on every listener (the controller's too) and
authorises with the KRaft StandardAuthorizer, denying whatever no ACL allows. Passwords are generated once per state
directory into <state>/secrets/kafka-<principal>.password (mode 0600). CREDITFLOW_KAFKA_TLS=1 adds a SASL_SSL
listener on the Kafka port + 2, with a CA and broker certificate generated into <state>/tls, and the services use it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ADMIN = "creditflow-admin"  # the super user, bootstrapped at storage-format time
KAFKA_VERSION = "4.3.1"
FERRETDB_VERSION = "1.24.2"
# Applied in file-name order to upstream's source before building; each file says what it fixes and why.
FERRETDB_PATCHES = REPO / "deploy" / "local" / "ferretdb-patches"
READY_TIMEOUT_S = 90.0
# Partitions of each learner topic on a cluster (the contract's 3 otherwise): the unit of parallelism of every
# consumer group. 12 divides evenly among 1, 2, 3, 4 or 6 instances of a service, so every instance count
# `make run INSTANCES=n` is meant for gets an equal share; more would only add per-partition overhead on this machine.
CLUSTER_LEARNER_PARTITIONS = 12


@dataclass(frozen=True)
class StackConfig:
    cache_dir: Path
    state_dir: Path
    kafka_port: int
    mongo_port: int
    tls: bool = False
    # KRaft nodes, each broker and controller: node i listens on kafka_port + 3i (clients), + 1 (controller), + 2 (TLS).
    brokers: int = 1

    @classmethod
    def from_env(cls, state_dir: Path | None = None, kafka_port: int | None = None, mongo_port: int | None = None,
                 tls: bool | None = None):
        cache = Path(os.environ.get("CREDITFLOW_CACHE_DIR", Path.home() / ".cache" / "creditflow"))
        brokers = int(os.environ.get("CREDITFLOW_KAFKA_BROKERS", "1"))
        # A cluster keeps its own state: a node formatted alone cannot join a three-node quorum.
        state = state_dir or Path(os.environ.get("CREDITFLOW_STATE_DIR",
                                                 REPO / (".state" if brokers == 1 else f".state/cluster{brokers}")))
        return cls(
            cache_dir=cache,
            state_dir=state,
            kafka_port=kafka_port or int(os.environ.get("CREDITFLOW_KAFKA_PORT", "9092")),
            mongo_port=mongo_port or int(os.environ.get("CREDITFLOW_MONGO_PORT", "27017")),
            tls=os.environ.get("CREDITFLOW_KAFKA_TLS", "0") == "1" if tls is None else tls,
            brokers=brokers,
        )

    @property
    def kafka_libs(self) -> Path:
        """Where setup.sh put the jars: named after the Kafka version and the content of kafka-pom.xml."""
        pom = hashlib.sha256((REPO / "deploy" / "local" / "kafka-pom.xml").read_bytes()).hexdigest()[:12]
        return self.cache_dir / f"kafka-{KAFKA_VERSION}-{pom}" / "libs"

    @property
    def ferretdb_bin(self) -> Path:
        return ferretdb_bin(self.cache_dir, patched=True)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.kafka_port + 3 * node}" for node in range(self.brokers))

    @property
    def tls_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.kafka_port + 3 * node + 2}" for node in range(self.brokers))

    @property
    def kafka_nodes(self) -> list[str]:
        """Process names of the KRaft nodes: `kafka` alone by default, `kafka`, `kafka-2`, `kafka-3` in a cluster."""
        return ["kafka", *(f"kafka-{node + 1}" for node in range(1, self.brokers))]

    @property
    def replication_factor(self) -> int:
        return min(3, self.brokers)

    @property
    def min_insync_replicas(self) -> int:
        """2 of 3 replicas: a write survives the loss of any one broker, and the cluster keeps accepting writes with
        one broker down."""
        return 2 if self.brokers >= 3 else 1

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "tls" / "ca.pem"

    def password(self, principal: str) -> str:
        from creditflow.runtime.principals import stored_password

        return stored_password(self.secrets_dir, principal)

    def login(self, principal: str, over_tls: bool = False):
        """How `principal` logs in to this broker: over TLS when asked (and offered), else SASL_PLAINTEXT."""
        from creditflow.runtime.settings import KafkaLogin

        if over_tls and not self.tls:
            raise ValueError("this stack has no TLS listener: set CREDITFLOW_KAFKA_TLS=1")
        return KafkaLogin(bootstrap=self.tls_bootstrap if over_tls else self.bootstrap, username=principal,
                          password=self.password(principal),
                          security_protocol="SASL_SSL" if over_tls else "SASL_PLAINTEXT",
                          ca_file=str(self.ca_file) if over_tls else None)

    def service_env(self, service: str, over_tls: bool | None = None) -> dict[str, str]:
        """The Kafka variables a service process needs: its own principal, its password by file, and TLS when
        asked (by default: when the stack offers it)."""
        from creditflow.events.permissions import service_principal
        from creditflow.runtime.principals import password_file

        principal = service_principal(service)
        self.password(principal)  # generated on first use
        over_tls = self.tls if over_tls is None else over_tls
        env = {
            "CREDITFLOW_KAFKA_BOOTSTRAP": self.tls_bootstrap if over_tls else self.bootstrap,
            "CREDITFLOW_KAFKA_USERNAME": principal,
            "CREDITFLOW_KAFKA_PASSWORD_FILE": str(password_file(self.secrets_dir, principal)),
        }
        if over_tls:
            env |= {"CREDITFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "CREDITFLOW_KAFKA_CA_FILE": str(self.ca_file)}
        return env

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    def pid_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"


# ---------------------------------------------------------------- FerretDB build


def ferretdb_patches() -> list[Path]:
    return sorted(FERRETDB_PATCHES.glob("*.patch"))


def ferretdb_bin(cache_dir: Path, patched: bool) -> Path:
    """Where the build lives: its folder name carries the hash of the patches, so a changed patch means a new build
    on every machine, and the unpatched build (for benchmarks only) has a folder of its own."""
    if not patched:
        return cache_dir / f"ferretdb-{FERRETDB_VERSION}-upstream" / "ferretdb"
    digest = hashlib.sha256()
    for patch in ferretdb_patches():
        digest.update(patch.name.encode() + b"\0" + patch.read_bytes())
    return cache_dir / f"ferretdb-{FERRETDB_VERSION}-{digest.hexdigest()[:12]}" / "ferretdb"


def build_ferretdb(cache_dir: Path, patched: bool = True) -> Path:
    """Build FerretDB from the Go module proxy's source, with creditflow's patches unless `patched` is False;
    cached, so a second call costs nothing. Returns the binary."""
    binary = ferretdb_bin(cache_dir, patched)
    if binary.exists():
        return binary
    if shutil.which("go") is None:
        raise SystemExit("go is required to build FerretDB")
    print(f"building FerretDB {FERRETDB_VERSION} into {binary.parent} (a few minutes)", file=sys.stderr)
    module = json.loads(
        subprocess.run(
            ["go", "mod", "download", "-json", f"github.com/FerretDB/FerretDB@v{FERRETDB_VERSION}"],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(module["Dir"], src)
        subprocess.run(["chmod", "-R", "u+w", str(src)], check=True)
        # version.txt is generated by upstream's release tooling and is not in the module; without it the binary panics.
        (src / "build" / "version" / "version.txt").write_text(f"v{FERRETDB_VERSION}\n")
        for patch in ferretdb_patches() if patched else []:
            with patch.open("rb") as diff:
                subprocess.run(["patch", "-p1", "--quiet", "--forward"], cwd=src, stdin=diff, check=True)
        binary.parent.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(".tmp")
        subprocess.run(["go", "build", "-trimpath", "-o", str(partial), "./cmd/ferretdb"], cwd=src, check=True)
        partial.rename(binary)
    return binary


# ---------------------------------------------------------------- readiness


async def _kafka_ready(login, brokers: int = 1) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    # A broker that is still starting refuses connections; that is what the probe is for, not news for the log.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    admin = AIOKafkaAdminClient(**login.aiokafka(), request_timeout_ms=3000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()  # a metadata request answered by a broker
        return len(cluster["brokers"]) >= brokers
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
    return asyncio.run(_kafka_ready(cfg.login(ADMIN), cfg.brokers))


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


def _kafka_properties(cfg: StackConfig, data_dir: Path, admin_password: str, node: int = 0) -> str:
    port = cfg.kafka_port + 3 * node
    listeners = {"CLIENT": (port, "SASL_PLAINTEXT"), "CONTROLLER": (port + 1, "SASL_PLAINTEXT")}
    if cfg.tls:
        listeners["TLS"] = (port + 2, "SASL_SSL")
    voters = ",".join(f"{n + 1}@127.0.0.1:{cfg.kafka_port + 3 * n + 1}" for n in range(cfg.brokers))
    replicas, min_isr = cfg.replication_factor, cfg.min_insync_replicas
    # The broker logs in to itself (and to its controller) as the admin; every listener takes SCRAM only.
    jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{admin_password}";')
    tls = [
        "listener.name.tls.ssl.keystore.type=PEM",
        f"listener.name.tls.ssl.keystore.location={cfg.state_dir / 'tls' / 'broker.pem'}",
    ] if cfg.tls else []
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node + 1}",
            f"controller.quorum.voters={voters}",
            "listeners=" + ",".join(f"{name}://127.0.0.1:{port}" for name, (port, _) in listeners.items()),
            "advertised.listeners=" + ",".join(
                f"{name}://127.0.0.1:{port}" for name, (port, _) in listeners.items() if name != "CONTROLLER"),
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=CLIENT",
            "listener.security.protocol.map=" + ",".join(f"{n}:{p}" for n, (_, p) in listeners.items()),
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            *(f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config={jaas}" for name in listeners
              if name != "CONTROLLER" or cfg.brokers == 1),
            *_controller_login(cfg, admin_password),
            *tls,
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users=User:{ADMIN}",
            f"log.dirs={data_dir}",
            "num.partitions=3",
            # One node: every topic has one replica. A cluster: three, and a write needs two of them (acks=all).
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={min_isr}",
            f"offsets.topic.replication.factor={replicas}",
            "offsets.topic.num.partitions=3",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={replicas}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "group.initial.rebalance.delay.ms=0",
            # Topics are created from the event contract with their retention; a typo must not create one.
            "auto.create.topics.enable=false",
            "",
        ]
    )


def _controller_login(cfg: StackConfig, admin_password: str) -> list[str]:
    """How nodes log in to the controllers. SCRAM users live in the metadata log, which several controllers can only
    read once they have elected a leader, and they cannot elect one without logging in to each other: a cluster's
    controller listener takes PLAIN, with the admin alone declared in the broker's own (0600) configuration. It
    listens on 127.0.0.1 only; clients never use it. One node votes for itself and keeps SCRAM there too."""
    if cfg.brokers == 1:
        return ["sasl.mechanism.controller.protocol=SCRAM-SHA-512"]
    plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
             f'username="{ADMIN}" password="{admin_password}" user_{ADMIN}="{admin_password}";')
    return ["sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={plain}"]


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


def _java_cmd(cfg: StackConfig, home: Path, *args: str) -> list[str]:
    return [
        "java",
        "-Xms128m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
        "-cp",
        f"{cfg.kafka_libs}/*",
        *args,
    ]


def _cluster_id() -> str:
    """A KRaft cluster id: a UUID in URL-safe base64. One starting with "-" is drawn again, as Kafka's own
    Uuid.randomUuid does, for the storage tool would read it as an option (1 in 64: it failed test sessions so)."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def start_kafka(cfg: StackConfig) -> bool:
    """Start the broker unless it already answers, or, on a cluster, every node whose process is not running (a lost
    node rejoins this way); return True when this call started one."""
    if cfg.brokers == 1 and kafka_ready(cfg):
        return False
    down = [(node, name) for node, name in enumerate(cfg.kafka_nodes)
            if (pid := _read_pid(cfg, name)) is None or not _alive(pid)]
    if not down:
        return False
    if not cfg.kafka_libs.is_dir():
        raise SystemExit(f"Kafka jars missing in {cfg.kafka_libs}: run `make setup`")
    admin_password = cfg.password(ADMIN)
    if cfg.tls:
        write_tls_files(cfg.state_dir / "tls")
    # Every node of one cluster is formatted with the same cluster id, kept beside the first node's data.
    id_file = cfg.state_dir / "kafka" / "cluster-id"
    id_file.parent.mkdir(parents=True, exist_ok=True)
    if not id_file.exists():
        id_file.write_text(_cluster_id())
    cluster_id = id_file.read_text().strip()
    for node, name in down:
        home = cfg.state_dir / name
        data = home / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        # It holds the admin's password: readable by its owner only, from before the secret is written.
        props.touch(mode=0o600)
        props.write_text(_kafka_properties(cfg, data, admin_password, node))
        (home / "log4j2.properties").write_text(_log4j_config(cfg.log_file(f"{name}-server")))
        if not (data / "meta.properties").exists():
            # The admin is the first SCRAM user, stored with the cluster's metadata. The tool prints the salted
            # keys: they stay out of every log, and only the exit status and error output are kept.
            formatted = subprocess.run(
                _java_cmd(cfg, home, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
                          "--add-scram", f"SCRAM-SHA-512=[name={ADMIN},password={admin_password}]"),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            if formatted.returncode != 0:
                raise SystemExit(f"formatting Kafka storage failed: {formatted.stderr.replace(admin_password, '***')}")
        _spawn(cfg, name, _java_cmd(cfg, home, "kafka.Kafka", str(props)), cwd=home)
    _wait("kafka", kafka_ready, cfg)
    return True


def start_ferretdb(cfg: StackConfig, binary: Path | None = None) -> bool:
    """Start FerretDB (the patched build unless another `binary` is given) unless a Mongo-wire server already answers;
    return True when this call started it."""
    if mongo_ready(cfg):
        return False
    binary = binary or cfg.ferretdb_bin
    if not binary.exists():
        raise SystemExit(f"FerretDB missing at {binary}: run `make setup`")
    home = cfg.state_dir / "ferretdb"
    (home / "data").mkdir(parents=True, exist_ok=True)
    argv = [
        str(binary),
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


def write_tls_files(tls_dir: Path) -> None:
    """A CA (ca.pem, public) and the broker's key and certificate signed by it (broker.pem, 0600), for 127.0.0.1
    and localhost; generated once per state directory."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    if (tls_dir / "broker.pem").exists():
        return
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key, issuer: str, issuer_key, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, broker_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("creditflow local CA", ca_key, "creditflow local CA", ca_key, ca=True)
    broker_cert = certificate("creditflow local broker", broker_key, "creditflow local CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tls_dir / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    key = broker_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with os.fdopen(os.open(tls_dir / "broker.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(key + broker_cert.public_bytes(pem) + ca_cert.public_bytes(pem))


def provision(cfg: StackConfig) -> list[str]:
    """As the admin: the contract's topics, each service's principal and the ACL table. Idempotent."""
    from creditflow.events.permissions import SERVICES, service_principal
    from creditflow.runtime.principals import KafkaAdmin
    from creditflow.runtime.topics import ensure_topics

    admin = cfg.login(ADMIN)
    topics = asyncio.run(ensure_topics(admin, cfg.replication_factor,
                                       CLUSTER_LEARNER_PARTITIONS if cfg.brokers > 1 else None))
    KafkaAdmin(admin).provision_services({s: cfg.password(service_principal(s)) for s in SERVICES})
    return topics


def start(cfg: StackConfig) -> dict[str, bool]:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    started = {"kafka": start_kafka(cfg), "ferretdb": start_ferretdb(cfg)}
    provision(cfg)
    return started


def stop(cfg: StackConfig) -> None:
    for name in cfg.kafka_nodes:
        stop_server(cfg, name)
    stop_server(cfg, "ferretdb")


def status(cfg: StackConfig) -> dict[str, bool]:
    return {"kafka": kafka_ready(cfg), "ferretdb": mongo_ready(cfg)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "status", "topics", "build-ferretdb"])
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    if args.command == "start":
        started = start(cfg)
        for name, fresh in started.items():
            print(f"{name}: {'started' if fresh else 'already running'}")
        tls = f", SASL_SSL {cfg.tls_bootstrap} (CA {cfg.ca_file})" if cfg.tls else ""
        print(f"Kafka    {cfg.bootstrap} SASL/SCRAM-SHA-512{tls}; passwords in {cfg.secrets_dir}")
        print(f"MongoDB  {cfg.mongodb_url}  (FerretDB {FERRETDB_VERSION})")
        print(f"state    {cfg.state_dir}  (logs in {cfg.state_dir / 'logs'})")
    elif args.command == "stop":
        stop(cfg)
        print("stopped")
    elif args.command == "build-ferretdb":
        print(build_ferretdb(cfg.cache_dir))
    elif args.command == "topics":
        print("\n".join(provision(cfg)))
    else:
        states = status(cfg)
        for name, up in states.items():
            print(f"{name}: {'up' if up else 'down'}")
        return 0 if all(states.values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
