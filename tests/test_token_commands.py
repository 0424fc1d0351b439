"""`creditflow token` keeps tokens in Kafka only (the registry topic of docs/decisions/0002): it needs no database
setting, and when the broker cannot be reached it says so in one line, without a traceback."""

import socket
import subprocess
import sys

import pytest
from creditflow.events.permissions import ADMIN
from creditflow.runtime.principals import password_file


def _closed_port() -> int:
    with socket.socket() as s:  # bound, then released: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def creditflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "creditflow.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("args", [("token", "list"), ("token", "revoke", "some-jti", "--reason", "left"),
                                  ("token", "create", "--operator", "--person", "ops@example.org")])
def test_an_unreachable_broker_is_one_clear_line_not_a_traceback(args, tmp_path):
    from creditflow.runtime import identity

    key = tmp_path / "identity-key.pem"
    identity.ensure_key_pair(key, tmp_path / "identity-public.pem")
    password = tmp_path / "admin.password"
    password.write_text("not-needed")
    env = {"PATH": "/usr/bin:/bin", "CREDITFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{_closed_port()}",
           "CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE": str(password), "CREDITFLOW_IDENTITY_KEY_FILE": str(key)}

    done = creditflow(*args, env=env)

    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("creditflow token: ") and f"Kafka broker at {env['CREDITFLOW_KAFKA_BOOTSTRAP']}" in line
    assert "Is the stack running?" in line


def test_a_missing_admin_password_names_the_variable_to_set(tmp_path):
    done = creditflow("token", "list", env={"PATH": "/usr/bin:/bin",
                                            "CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE": str(tmp_path / "absent")})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE: no Kafka admin password at ")


@pytest.mark.e2e
def test_token_commands_need_no_database_setting(running_stack):
    """The stack's own settings minus every MongoDB variable: create and list still work (tokens live in Kafka)."""
    env = {k: v for k, v in running_stack.env["issuer"].items() if "MONGODB" not in k}
    env["CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE"] = str(password_file(running_stack.servers.stack.secrets_dir, ADMIN))
    created = creditflow("token", "create", "--operator", "--person", "no-mongo@example.org", env=env)
    assert created.returncode == 0, created.stderr
    listed = creditflow("token", "list", env=env)
    assert listed.returncode == 0 and "no-mongo@example.org" in listed.stdout, listed.stderr
