"""`make run`: the whole stack on this machine, no Docker. Real Kafka and FerretDB, topics from the contract, the four
services as processes. Ctrl-C stops the services and the servers this command started, leaving no process behind.

`make run CLUSTER=3 INSTANCES=2` (CREDITFLOW_KAFKA_BROKERS, CREDITFLOW_INSTANCES): three KRaft nodes instead of one,
and two processes of every service, instance k on the service's HTTP port + 10k (docs/operations.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from creditflow.runtime.identity import ensure_key_pair
from stack import StackConfig, start, stop_server

SERVICES = {"issuer": 8101, "learner-record": 8102, "recognition": 8103, "stacking": 8104, "console": 8105}
INSTANCE_PORT_STEP = 10  # instance k of a service listens on its port + 10k: five services fit between


def _port(service: str, default: int) -> int:
    return int(os.environ.get(f"CREDITFLOW_{service.upper().replace('-', '_')}_HTTP_PORT", default))


def _not_ready(port: int) -> str | None:
    """None when the service answers /readyz with 200; else why not (a refused Kafka login is named there)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3):
            return None
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}").get("detail", f"HTTP {exc.code}")
    except OSError as exc:
        return str(exc)


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in processes.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    cfg = StackConfig.from_env()
    print("Starting Kafka and FerretDB ...", flush=True)
    started = start(cfg)
    identity = cfg.state_dir / "identity"
    ensure_key_pair(identity / "identity-key.pem", identity / "identity-public.pem")  # as `make setup` does
    env = {
        **os.environ,
        # Services verify tokens with the public key only; the private one stays with `creditflow token`.
        "CREDITFLOW_IDENTITY_PUBLIC_KEY_FILE": str(identity / "identity-public.pem"),
        "CREDITFLOW_MONGODB_URL": cfg.mongodb_url,
        "CREDITFLOW_ISSUER_KEY_DIR": str(cfg.state_dir / "issuer-keys"),
        "CREDITFLOW_LEARNER_RECORD_KEY_FILE": str(cfg.state_dir / "learner-record" / "platform-key.pem"),
        # learner-record signs CLRs under it; the issuer's POST /verify trusts the platform key found there.
        "CREDITFLOW_LEARNER_RECORD_PUBLIC_URL": os.environ.get(
            "CREDITFLOW_LEARNER_RECORD_PUBLIC_URL", f"http://127.0.0.1:{_port('learner-record', 8102)}"),
        # The console (docs/console.md) calls the four APIs; its cookies go over plain http to 127.0.0.1 here.
        **{f"CREDITFLOW_CONSOLE_{s.upper().replace('-', '_')}_URL": f"http://127.0.0.1:{_port(s, p)}"
           for s, p in SERVICES.items() if s != "console"},
        "CREDITFLOW_CONSOLE_SECURE_COOKIES": os.environ.get("CREDITFLOW_CONSOLE_SECURE_COOKIES", "false"),
        "CREDITFLOW_CONSOLE_SESSION_KEY_FILE": str(cfg.state_dir / "console" / "session.key"),
        # A stack on one's own machine is for development, rehearsals and demos: the operator may move the clock of
        # recognition and stacking by writing an offset into the clock file (docs/operations.md, "Operator clock");
        # the sweep runs often enough that a moved clock shows within seconds.
        "CREDITFLOW_ENV": os.environ.get("CREDITFLOW_ENV", "development"),
        "CREDITFLOW_CLOCK_FILE": os.environ.get("CREDITFLOW_CLOCK_FILE", str(cfg.state_dir / "clock")),
        "CREDITFLOW_RECOGNITION_OVERDUE_EVERY_S": os.environ.get("CREDITFLOW_RECOGNITION_OVERDUE_EVERY_S", "10"),
    }
    logs = cfg.state_dir / "logs"
    instances = int(os.environ.get("CREDITFLOW_INSTANCES", "1"))
    # (service, its port) per process: instance k of a service on its port + 10k, all in one consumer group.
    ports = {f"{service}#{k}" if k else service: (service, _port(service, port) + INSTANCE_PORT_STEP * k)
             for service, port in SERVICES.items() for k in range(instances)}
    processes: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for name, (service, port) in ports.items():
            module = "creditflow." + service.replace("-", "_")
            log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - held open for the child's lifetime
            own_port = {f"CREDITFLOW_{service.upper().replace('-', '_')}_HTTP_PORT": str(port)}
            # Each service logs in to Kafka as its own principal, its password read from a file by the service.
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", module], stdout=log,
                env={**env, **own_port, **({} if service == "console" else cfg.service_env(service))},
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60 * instances
        pending: dict[str, str | None] = dict.fromkeys(ports)
        while pending and not stopping and time.monotonic() < deadline:
            for name in list(pending):
                if processes[name].poll() is not None:
                    raise SystemExit(f"{name} exited at start-up; see {logs / (name + '.log')}")
                pending[name] = _not_ready(ports[name][1])
                if pending[name] is None:
                    del pending[name]
            time.sleep(0.3)
        if pending and not stopping:
            reasons = "; ".join(f"{service}: {reason}" for service, reason in pending.items())
            raise SystemExit(f"not ready after {60 * instances}s: {reasons}; see {logs}")
        if not stopping:
            print("\ncreditflow is running:")
            print(f"  Kafka           {cfg.bootstrap} SASL/SCRAM-SHA-512" + (
                f", SASL_SSL {cfg.tls_bootstrap} (services use it)" if cfg.tls else ""))
            print(f"  Kafka secrets   {cfg.secrets_dir}  (admin: creditflow-admin; services: svc-<service>)")
            print(f"  MongoDB (wire)  {cfg.mongodb_url}   FerretDB, SQLite data in {cfg.state_dir / 'ferretdb'}")
            for name, (service, port) in ports.items():
                note = "registrars sign in with a token from `creditflow token create`" if service == "console" \
                    else "(API docs: /docs)"
                print(f"  {name:<15} http://127.0.0.1:{port}   {note}")
            print(f"  logs            {logs}")
            print("Press Ctrl-C to stop everything.", flush=True)
        while not stopping:
            for service, proc in processes.items():
                if proc.poll() is not None:
                    print(f"{service} exited with {proc.returncode}; stopping. See {logs / (service + '.log')}")
                    stopping = True
            time.sleep(0.5)
    finally:
        print("Stopping ...", flush=True)
        _stop(processes)
        for name, fresh in started.items():
            if fresh:
                for server in cfg.kafka_nodes if name == "kafka" else [name]:
                    stop_server(cfg, server)
            else:
                print(f"{name} was already running before `make run`; left running.")
        print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
