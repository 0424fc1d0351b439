"""`make run`: the whole stack on this machine, no Docker. Real Kafka and FerretDB, topics from the contract, the four
services as processes. Ctrl-C stops the services and the servers this command started, leaving no process behind."""

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
    processes: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for service in SERVICES:
            module = "creditflow." + service.replace("-", "_")
            log = open(logs / f"{service}.log", "ab")  # noqa: SIM115 - held open for the child's lifetime
            # Each service logs in to Kafka as its own principal, its password read from a file by the service.
            processes[service] = subprocess.Popen(
                [sys.executable, "-m", module], stdout=log,
                env={**env, **({} if service == "console" else cfg.service_env(service))},  # no Kafka for the console
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        pending: dict[str, str | None] = dict.fromkeys(SERVICES)
        while pending and not stopping and time.monotonic() < deadline:
            for service in list(pending):
                default_port = SERVICES[service]
                if processes[service].poll() is not None:
                    raise SystemExit(f"{service} exited at start-up; see {logs / (service + '.log')}")
                pending[service] = _not_ready(_port(service, default_port))
                if pending[service] is None:
                    del pending[service]
            time.sleep(0.3)
        if pending and not stopping:
            reasons = "; ".join(f"{service}: {reason}" for service, reason in pending.items())
            raise SystemExit(f"not ready after 60s: {reasons}; see {logs}")
        if not stopping:
            print("\ncreditflow is running:")
            print(f"  Kafka           {cfg.bootstrap} SASL/SCRAM-SHA-512" + (
                f", SASL_SSL {cfg.tls_bootstrap} (services use it)" if cfg.tls else ""))
            print(f"  Kafka secrets   {cfg.secrets_dir}  (admin: creditflow-admin; services: svc-<service>)")
            print(f"  MongoDB (wire)  {cfg.mongodb_url}   FerretDB, SQLite data in {cfg.state_dir / 'ferretdb'}")
            for service, default_port in SERVICES.items():
                port = _port(service, default_port)
                note = "registrars sign in with a token from `creditflow token create`" if service == "console" \
                    else "(API docs: /docs)"
                print(f"  {service:<15} http://127.0.0.1:{port}   {note}")
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
                stop_server(cfg, name)
            else:
                print(f"{name} was already running before `make run`; left running.")
        print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
