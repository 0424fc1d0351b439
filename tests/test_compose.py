"""docker-compose.yml cannot run on machines without Docker; its structure is checked here instead: it is valid
Compose, every long-running container has a healthcheck, start order follows health, data lives in named volumes,
and the broker is the version the local stack runs."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))
import stack  # noqa: E402

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["issuer", "learner-record", "recognition", "stacking"]


# The Compose Specification's JSON Schema (Apache-2.0), vendored: these machines fetch nothing at test time.
VALIDATOR = jsonschema.Draft201909Validator(json.loads((REPO / "tests" / "data" / "compose-spec.schema.json").read_text()))


def test_compose_file_is_valid_against_the_compose_specification_schema():
    VALIDATOR.validate(COMPOSE)


def test_the_schema_check_catches_a_misspelt_key():
    broken = {**COMPOSE, "services": {**SERVICES, "kafka": {**SERVICES["kafka"], "healtcheck": {}}}}
    assert not VALIDATOR.is_valid(broken)


def test_kraft_cluster_id_is_a_16_byte_base64url_uuid():
    cluster_id = SERVICES["kafka"]["environment"]["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_broker_image_is_the_kafka_version_the_local_stack_runs():
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{stack.KAFKA_VERSION}"
    assert SERVICES["mongodb"]["image"].startswith("mongo:")


def test_mongodb_is_a_single_node_replica_set_with_a_capped_cache():
    command = SERVICES["mongodb"]["command"]
    assert "--replSet" in command and "--wiredTigerCacheSizeGB" in command
    assert all("replicaSet=rs0" in SERVICES[s]["environment"]["CREDITFLOW_MONGODB_URL"] for s in APP_SERVICES)


@pytest.mark.parametrize("name", ["kafka", "mongodb", *APP_SERVICES])
def test_every_long_running_container_has_a_healthcheck(name):
    assert SERVICES[name]["healthcheck"]["test"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_services_start_after_topics_principals_and_acls_exist_and_mongodb_is_healthy(name):
    depends = SERVICES[name]["depends_on"]
    assert depends["kafka-setup"]["condition"] == "service_completed_successfully"
    assert depends["mongodb"]["condition"] == "service_healthy"
    assert SERVICES["kafka-setup"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_broker_listener_authenticates_and_clients_connect_over_tls():
    kafka = SERVICES["kafka"]["environment"]
    protocols = dict(item.split(":") for item in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = {item.split("://")[0] for item in kafka["KAFKA_LISTENERS"].split(",")}
    assert set(protocols) == listeners and all(p.startswith("SASL_") for p in protocols.values())
    assert protocols[kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]] == "SASL_SSL"
    assert {item.split("://")[0] for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")} == {"CLIENT"}
    assert protocols["CLIENT"] == "SASL_SSL"
    assert kafka["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert kafka["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"] == "SCRAM-SHA-512"


def test_the_broker_denies_what_no_acl_allows_and_has_one_super_user():
    kafka = SERVICES["kafka"]["environment"]
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["KAFKA_SUPER_USERS"] == "User:creditflow-admin"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_logs_in_as_its_own_principal_with_only_its_own_secret(name):
    env = SERVICES[name]["environment"]
    assert env["CREDITFLOW_KAFKA_USERNAME"] == f"svc-{name}"
    assert env["CREDITFLOW_KAFKA_PASSWORD_FILE"] == f"/run/secrets/kafka-svc-{name}.password"
    assert "CREDITFLOW_KAFKA_PASSWORD" not in env, "passwords come from secrets, not the compose file"
    assert (env["CREDITFLOW_KAFKA_SECURITY_PROTOCOL"], env["CREDITFLOW_KAFKA_CA_FILE"]) == (
        "SASL_SSL", "/run/secrets/kafka-ca.pem")
    # and the identity public key, with which every service verifies bearer tokens (decision 0002)
    assert set(SERVICES[name]["secrets"]) == {"kafka-ca.pem", f"kafka-svc-{name}.password", "identity-public.pem"}


def test_the_setup_job_is_the_admin_and_passes_each_service_its_password():
    setup = SERVICES["kafka-setup"]
    env = setup["environment"]
    assert setup["command"] == ["creditflow-kafka-setup"]
    assert env["CREDITFLOW_KAFKA_USERNAME"] == "creditflow-admin"
    for name in APP_SERVICES:
        secret = f"kafka-svc-{name}.password"
        assert env[f"CREDITFLOW_KAFKA_{name.upper().replace('-', '_')}_PASSWORD_FILE"] == f"/run/secrets/{secret}"
        assert secret in setup["secrets"]


def test_every_secret_is_a_file_make_secrets_writes_and_git_ignores():
    script = (REPO / "deploy" / "docker" / "make-secrets.sh").read_text()
    for name, secret in COMPOSE["secrets"].items():
        assert secret["file"] == f"deploy/docker/secrets/{name}"
        stem = name.removeprefix("kafka-").removesuffix(".password")
        assert stem in script, f"make-secrets.sh does not write {name}"
    assert "deploy/docker/secrets/" in (REPO / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_builds_its_own_folder_and_listens_on_its_default_port(name):
    assert SERVICES[name]["build"]["args"]["SERVICE"] == name
    assert (REPO / "services" / name / "pyproject.toml").exists()
    app = __import__(f"creditflow.{name.replace('-', '_')}.app", fromlist=["HTTP_PORT"])
    assert SERVICES[name]["ports"] == [f"{app.HTTP_PORT}:{app.HTTP_PORT}"]
    assert SERVICES[name]["environment"][f"CREDITFLOW_{name.upper().replace('-', '_')}_HTTP_HOST"] == "0.0.0.0"


def test_data_and_keys_live_in_named_volumes():
    assert set(COMPOSE["volumes"]) == {"kafka-data", "mongodb-data", "issuer-keys", "platform-key"}
    assert SERVICES["issuer"]["environment"]["CREDITFLOW_ISSUER_KEY_DIR"].startswith("/var/lib/creditflow/")
    assert SERVICES["learner-record"]["environment"]["CREDITFLOW_LEARNER_RECORD_KEY_FILE"].startswith(
        "/var/lib/creditflow/")
    assert "kafka-data:/var/lib/kafka/data" in SERVICES["kafka"]["volumes"]
    assert SERVICES["kafka"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"


def test_the_kafka_entry_point_turns_the_environment_into_a_sasl_broker_config(tmp_path):
    secrets, config = tmp_path / "secrets", tmp_path / "config"
    secrets.mkdir()
    (secrets / "kafka-creditflow-admin.password").write_text("admin-secret")
    env = {name: str(value) for name, value in SERVICES["kafka"]["environment"].items()}
    done = subprocess.run(
        ["bash", str(REPO / "deploy" / "docker" / "kafka-start.sh")], capture_output=True, text=True, timeout=30,
        env={"PATH": os.environ["PATH"], **env, "CREDITFLOW_SECRETS_DIR": str(secrets),
             "CREDITFLOW_KAFKA_CONFIG_DIR": str(config), "CREDITFLOW_KAFKA_CONFIG_ONLY": "1"})
    assert done.returncode == 0, done.stderr
    assert "admin-secret" not in done.stdout + done.stderr
    props = dict(line.split("=", 1) for line in (config / "server.properties").read_text().splitlines())
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_SSL,CONTROLLER:SASL_PLAINTEXT"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["listener.name.client.ssl.keystore.location"] == "/run/secrets/kafka-broker.pem"
    assert "heap.opts" not in props and "cluster.id" not in props
    for listener in ("client", "controller"):
        assert 'username="creditflow-admin" password="admin-secret";' in props[
            f"listener.name.{listener}.scram-sha-512.sasl.jaas.config"]
    assert (config / "server.properties").stat().st_mode & 0o077 == 0
