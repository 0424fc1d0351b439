"""Session fixtures shared by every test folder: real servers, settings, the four services as processes.

Integration and end-to-end tests talk to a real Kafka broker and a real Mongo-wire server. When
CREDITFLOW_KAFKA_BOOTSTRAP and CREDITFLOW_MONGODB_URL are set, those servers are used (the broker being a `make up`
stack whose admin password is in CREDITFLOW_STATE_DIR); otherwise the session starts its own (deploy/local/stack.py)
on test ports with a throw-away state directory, and stops them at the end.

The broker is the real thing: SASL/SCRAM on every listener, a SASL_SSL listener besides, ACLs on. The session
creates the service principals and the ACL table once; each service logs in as its own principal, and tests that
need to read anything read as the admin.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "deploy" / "local"))

import stack  # noqa: E402

from creditflow.events.permissions import ADMIN, service_principal  # noqa: E402
from creditflow.runtime.settings import KafkaLogin, Settings  # noqa: E402
from identity_helpers import SessionIdentity  # noqa: E402

# Consumers of the inbound pattern see an institution's new topic within this; production waits longer.
TEST_METADATA_MAX_AGE_MS = 500


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap: str
    mongodb_url: str
    run_id: str  # unique per session: databases and consumer groups carry it so sessions never share state
    stack: stack.StackConfig  # where the principals' passwords and the broker's CA are
    identity: SessionIdentity  # the session's identity key pair: services verify, tests sign tokens with it

    def login(self, principal: str, over_tls: bool = False) -> KafkaLogin:
        return self.stack.login(principal, over_tls).model_copy(update={
            "bootstrap": self.stack.tls_bootstrap if over_tls else self.kafka_bootstrap,
            "metadata_max_age_ms": TEST_METADATA_MAX_AGE_MS})

    @property
    def admin(self) -> KafkaLogin:
        """The super user: what tests read the broker's topics as."""
        return self.login(ADMIN)

    def settings(self, service: str, **overrides: object) -> Settings:
        login = self.login(service_principal(service))
        base = Settings(
            service=service,
            kafka_bootstrap=self.kafka_bootstrap,
            kafka_username=login.username,
            kafka_password=login.password,
            kafka_metadata_max_age_ms=TEST_METADATA_MAX_AGE_MS,
            mongodb_url=self.mongodb_url,
            mongodb_database=f"t{self.run_id}_{service.replace('-', '_')}",
            http_host="127.0.0.1",
            http_port=0,
            log_level="INFO",
            group_id=f"creditflow.{service}.t{self.run_id}",
            identity_public_key_file=str(self.identity.public_file),
        )
        return base.model_copy(update=overrides)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    run_id = uuid.uuid4().hex[:8]
    bootstrap = os.environ.get("CREDITFLOW_KAFKA_BOOTSTRAP")
    mongodb_url = os.environ.get("CREDITFLOW_MONGODB_URL")
    started: dict[str, bool] = {}
    if bootstrap and mongodb_url:
        cfg = stack.StackConfig.from_env()
    else:
        cfg = stack.StackConfig.from_env(
            state_dir=REPO / ".state" / "test",
            kafka_port=int(os.environ.get("CREDITFLOW_TEST_KAFKA_PORT", "19092")),
            mongo_port=int(os.environ.get("CREDITFLOW_TEST_MONGO_PORT", "27117")),
            tls=True,  # one test connects over SASL_SSL
        )
        if not (stack.kafka_ready(cfg) or stack.mongo_ready(cfg)):
            shutil.rmtree(cfg.state_dir, ignore_errors=True)  # a fresh broker and database for every session
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        started = {"kafka": stack.start_kafka(cfg), "ferretdb": stack.start_ferretdb(cfg)}
        bootstrap, mongodb_url = bootstrap or cfg.bootstrap, mongodb_url or cfg.mongodb_url
    servers = Servers(bootstrap, mongodb_url, run_id, cfg, SessionIdentity.create(tmp_path_factory.mktemp("identity")))
    stack.provision(cfg)  # topics, service principals, the ACL table: once per session
    try:
        yield servers
    finally:
        for name, fresh in started.items():
            if fresh:
                for server in cfg.kafka_nodes if name == "kafka" else [name]:  # every node of a cluster
                    stack.stop_server(cfg, server)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RunningStack:
    servers: Servers
    urls: dict[str, str]
    env: dict[str, dict[str, str]]  # each service's environment, for CLI commands that act as that service


@pytest.fixture(scope="session")
def running_stack(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The four services and the console as processes, exactly as `make run` starts them, on free ports."""
    logs = tmp_path_factory.mktemp("service-logs")
    processes: dict[str, subprocess.Popen] = {}
    urls: dict[str, str] = {}
    envs: dict[str, dict[str, str]] = {}
    services = ("issuer", "learner-record", "recognition", "stacking", "console")
    ports = {service: _free_port() for service in services}
    for service in services:
        port = ports[service]
        prefix = "CREDITFLOW_" + service.upper().replace("-", "_") + "_"
        env = {**os.environ, prefix + "HTTP_PORT": str(port)}
        if service != "console":  # the console talks to the four APIs only: no broker, no database
            s = servers.settings(service)
            env |= {
                **servers.stack.service_env(service, over_tls=False),
                "CREDITFLOW_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
                "CREDITFLOW_KAFKA_METADATA_MAX_AGE_MS": str(TEST_METADATA_MAX_AGE_MS),
                "CREDITFLOW_MONGODB_URL": s.mongodb_url,
                prefix + "MONGODB_DATABASE": s.mongodb_database,
                prefix + "GROUP_ID": s.group_id,
                "CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE": s.identity_public_key_file,
                "CREDITFLOW_IDENTITY_KEY_FILE": str(servers.identity.private_file),  # for `creditflow token` commands
            }
        if service == "issuer":
            env["CREDITFLOW_ISSUER_KEY_DIR"] = str(tmp_path_factory.mktemp("issuer-keys"))
            env["CREDITFLOW_ISSUER_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
            # POST /verify trusts the learner-record platform's key for CLRs.
            env["CREDITFLOW_LEARNER_RECORD_PUBLIC_URL"] = f"http://127.0.0.1:{ports['learner-record']}"
        if service == "recognition":  # a development stack: tests move its clock through the file (operations.md)
            env |= {"CREDITFLOW_ENV": "development", "CREDITFLOW_RECOGNITION_OVERDUE_EVERY_S": "1",
                    "CREDITFLOW_CLOCK_FILE": str(tmp_path_factory.mktemp("clock") / "offset")}
        if service == "learner-record":
            env["CREDITFLOW_LEARNER_RECORD_KEY_FILE"] = str(tmp_path_factory.mktemp("platform") / "key.pem")
            env["CREDITFLOW_LEARNER_RECORD_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        if service == "console":  # the registrars' web pages (#18), over the four services' APIs started above
            env.update({f"{prefix}{name.upper().replace('-', '_')}_URL": url for name, url in urls.items()})
            env[prefix + "SECURE_COOKIES"] = "false"  # plain http on 127.0.0.1
            env[prefix + "SESSION_KEY_FILE"] = str(tmp_path_factory.mktemp("console") / "session.key")
        envs[service] = env
        log = open(logs / f"{service}.log", "wb")  # noqa: SIM115 - closed with the process
        module = "creditflow." + service.replace("-", "_")
        processes[service] = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=log, stderr=log)
        urls[service] = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        for service, url in urls.items():
            while True:
                if processes[service].poll() is not None:
                    pytest.fail(f"{service} exited: {(logs / f'{service}.log').read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{service} not ready: {(logs / f'{service}.log').read_text()[-3000:]}")
                time.sleep(0.2)
        yield RunningStack(servers, urls, envs)
    finally:
        for proc in processes.values():
            proc.terminate()
        for proc in processes.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
