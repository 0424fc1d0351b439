"""docker-compose.yml cannot run on machines without Docker; its structure is checked here instead: it is valid
Compose, every long-running container has a healthcheck, start order follows health, data lives in named volumes,
and the broker is the version the local stack runs. The file holds two shapes as profiles: `single`, which the
committed .env makes the default of plain `docker compose up`, and `cluster` (`docker compose --profile cluster up`),
each selected here as Compose selects it."""

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))
import stack  # noqa: E402
from creditflow.runtime.settings import internal_routes  # noqa: E402

COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)  # YAML anchors and merge keys resolved, as Compose resolves them
APP_SERVICES = ["issuer", "learner-record", "recognition", "stacking"]
HTTP_PORTS = {name: __import__(f"creditflow.{name.replace('-', '_')}.app", fromlist=["HTTP_PORT"]).HTTP_PORT
              for name in [*APP_SERVICES, "console"]}


def shape(profiles: set[str]) -> dict:
    """The services Compose starts with these profiles active: those with no profile, and those with one of them
    (https://docs.docker.com/reference/compose-file/profiles/)."""
    return {name: service for name, service in COMPOSE["services"].items()
            if not service.get("profiles") or profiles & set(service["profiles"])}


DOTENV = dict(line.split("=", 1) for line in (REPO / ".env").read_text().splitlines()
              if line.strip() and not line.startswith("#"))
# Plain `docker compose up`: the profiles COMPOSE_PROFILES of .env names. `--profile cluster` replaces them.
SERVICES = shape(set(DOTENV["COMPOSE_PROFILES"].split(",")))
CLUSTER_SERVICES = shape({"cluster"})


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


def _volumes(services: dict) -> set[str]:
    return {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith("./")}


def test_data_and_keys_live_in_named_volumes():
    assert _volumes(SERVICES) == {"kafka-data", "mongodb-data", "issuer-keys", "platform-key"}
    assert _volumes(SERVICES) | _volumes(CLUSTER_SERVICES) <= set(COMPOSE["volumes"])
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


# The cluster shape: `docker compose --profile cluster up`.

SINGLE_NAMES = ["kafka", "mongodb", "kafka-setup", *APP_SERVICES, "console"]
KAFKA_NODES = ["kafka-1", "kafka-2", "kafka-3"]
MONGO_MEMBERS = ["mongodb-1", "mongodb-2", "mongodb-3"]
INSTANCES = {name: [f"{name}-1", f"{name}-2"] for name in APP_SERVICES}


def _kafka_env(node: str) -> dict[str, str]:
    return {k: str(v) for k, v in CLUSTER_SERVICES[node]["environment"].items()}


def test_plain_compose_up_starts_the_single_node_as_before_and_the_cluster_profile_replaces_it():
    assert DOTENV == {"COMPOSE_PROFILES": "single"}
    assert sorted(SERVICES) == sorted(SINGLE_NAMES)
    assert SERVICES["kafka"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@localhost:9093"
    # Every service belongs to exactly one shape, so neither starts beside the other (two quorums, two owners of a
    # published port).
    assert all(len(s.get("profiles", [])) == 1 for s in COMPOSE["services"].values())
    assert not set(SERVICES) & set(CLUSTER_SERVICES)
    assert set(SERVICES) | set(CLUSTER_SERVICES) == set(COMPOSE["services"])


@pytest.mark.parametrize("services", [SERVICES, CLUSTER_SERVICES], ids=["single", "cluster"])
def test_no_service_depends_on_one_its_profile_leaves_out(services):
    """Compose refuses a model where a service depends on one no active profile enables."""
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name


def test_the_cluster_schema_check_catches_a_misspelt_key():
    broken = yaml.safe_load(COMPOSE_TEXT.replace("    image: nginx", "    imgae: nginx"))
    assert not VALIDATOR.is_valid(broken)


def test_three_kraft_nodes_form_one_quorum_each_advertising_its_own_name():
    envs = {node: _kafka_env(node) for node in KAFKA_NODES}
    assert sorted(env["KAFKA_NODE_ID"] for env in envs.values()) == ["1", "2", "3"]
    assert {env["CLUSTER_ID"] for env in envs.values()} == {SERVICES["kafka"]["environment"]["CLUSTER_ID"]}
    for node, env in envs.items():
        voters = dict(v.split("@") for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
        assert voters == {e["KAFKA_NODE_ID"]: f"{n}:9093" for n, e in envs.items()}
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"CLIENT://{node}:9092"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    data = [next(v for v in CLUSTER_SERVICES[node]["volumes"] if v.endswith(":/var/lib/kafka/data"))
            for node in KAFKA_NODES]
    assert len(set(data)) == 3 and "kafka-data:/var/lib/kafka/data" not in data, "each node its own log directory"
    assert [CLUSTER_SERVICES[node].get("ports", []) for node in KAFKA_NODES[1:]] == [[], []]


@pytest.mark.parametrize("node", KAFKA_NODES)
def test_every_topic_has_three_replicas_and_a_write_needs_two(node):
    env = _kafka_env(node)
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    setup = CLUSTER_SERVICES["kafka-setup-cluster"]["environment"]
    assert str(setup["CREDITFLOW_TOPIC_REPLICATION_FACTOR"]) == "3"
    assert str(setup["CREDITFLOW_LEARNER_PARTITIONS"]) == str(stack.CLUSTER_LEARNER_PARTITIONS)
    assert {f"{n}:9092" for n in KAFKA_NODES} == set(setup["CREDITFLOW_KAFKA_BOOTSTRAP"].split(","))
    assert setup["CREDITFLOW_KAFKA_USERNAME"] == "creditflow-admin"


@pytest.mark.parametrize("node", KAFKA_NODES)
def test_every_listener_that_crosses_the_network_is_sasl_over_tls(node):
    env = _kafka_env(node)
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols == {"CLIENT": "SASL_SSL", "CONTROLLER": "SASL_SSL"}
    assert env["KAFKA_LISTENER_NAME_CONTROLLER_SSL_KEYSTORE_LOCATION"] == "/run/secrets/kafka-broker.pem"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    # the broker certificate must name the node, or TLS hostname verification refuses it
    assert f"DNS:{node}," in (REPO / "deploy" / "docker" / "make-secrets.sh").read_text()


def test_a_cluster_node_logs_in_to_the_other_controllers_as_the_admin_with_plain(tmp_path):
    secrets, config = tmp_path / "secrets", tmp_path / "config"
    secrets.mkdir()
    (secrets / "kafka-creditflow-admin.password").write_text("admin-secret")
    done = subprocess.run(
        ["bash", str(REPO / "deploy" / "docker" / "kafka-start.sh")], capture_output=True, text=True, timeout=30,
        env={"PATH": os.environ["PATH"], **_kafka_env("kafka-2"), "CREDITFLOW_SECRETS_DIR": str(secrets),
             "CREDITFLOW_KAFKA_CONFIG_DIR": str(config), "CREDITFLOW_KAFKA_CONFIG_ONLY": "1"})
    assert done.returncode == 0, done.stderr
    props = dict(line.split("=", 1) for line in (config / "server.properties").read_text().splitlines())
    assert props["node.id"] == "2" and props["min.insync.replicas"] == "2"
    assert props["controller.quorum.voters"] == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert props["listener.name.controller.plain.sasl.jaas.config"].endswith(
        'username="creditflow-admin" password="admin-secret" user_creditflow-admin="admin-secret";')
    assert "listener.name.controller.scram-sha-512.sasl.jaas.config" not in props
    assert 'username="creditflow-admin"' in props["listener.name.client.scram-sha-512.sasl.jaas.config"]


def test_mongodb_is_a_replica_set_of_three_members_every_service_connects_to():
    for member in MONGO_MEMBERS:
        assert CLUSTER_SERVICES[member]["image"] == SERVICES["mongodb"]["image"]
        command = CLUSTER_SERVICES[member]["command"]
        assert command[command.index("--replSet") + 1] == "rs0"
    volumes = {next(v for v in CLUSTER_SERVICES[m]["volumes"] if v.endswith(":/data/db")) for m in MONGO_MEMBERS}
    assert len(volumes) == 3 and "mongodb-data:/data/db" not in volumes
    initiate = CLUSTER_SERVICES["mongodb-1"]["healthcheck"]["test"][-1]
    assert sorted(re.findall(r"host: '([\w-]+):27017'", initiate)) == MONGO_MEMBERS
    assert all("initiate" not in " ".join(CLUSTER_SERVICES[m]["healthcheck"]["test"]) for m in MONGO_MEMBERS[1:])
    hosts = ",".join(f"{m}:27017" for m in MONGO_MEMBERS)
    for name in [i for instances in INSTANCES.values() for i in instances]:
        assert CLUSTER_SERVICES[name]["environment"]["CREDITFLOW_MONGODB_URL"] == f"mongodb://{hosts}/?replicaSet=rs0"
        assert CLUSTER_SERVICES[name]["environment"]["CREDITFLOW_KAFKA_BOOTSTRAP"] == ",".join(
            f"{n}:9092" for n in KAFKA_NODES)
        assert CLUSTER_SERVICES[name]["depends_on"]["kafka-setup-cluster"]["condition"] == \
            "service_completed_successfully"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_two_instances_of_each_service_share_image_principal_and_database_behind_the_proxy(name):
    first, second = (CLUSTER_SERVICES[i] for i in INSTANCES[name])
    assert first["build"] == second["build"] == SERVICES[name]["build"]
    assert first["secrets"] == second["secrets"] == SERVICES[name]["secrets"]
    assert first["environment"] == second["environment"]
    assert first["environment"]["CREDITFLOW_KAFKA_USERNAME"] == SERVICES[name]["environment"]["CREDITFLOW_KAFKA_USERNAME"]
    assert first.get("volumes") == second.get("volumes") == SERVICES[name].get("volumes")
    assert not first.get("ports") and not second.get("ports"), "only the proxy is published"
    assert second["healthcheck"]["test"]


def _upstreams(conf: str) -> dict[str, list[str]]:
    return {name: re.findall(r"server\s+(\S+)", body) for name, body in re.findall(r"upstream\s+(\S+)\s*{([^}]*)}", conf)}


def test_the_proxy_publishes_each_service_port_and_spreads_it_over_every_instance():
    proxy = CLUSTER_SERVICES["proxy"]
    mount = next(v for v in proxy["volumes"] if v.endswith(":/etc/nginx/conf.d/default.conf:ro"))
    conf = (REPO / mount.split(":")[0]).read_text()
    servers = dict(re.findall(r"listen\s+(\d+);\s*location / { proxy_pass http://([\w-]+); }", conf))
    upstreams = _upstreams(conf)
    for name in APP_SERVICES:
        port = str(HTTP_PORTS[name])
        assert servers[port] == name and f"{port}:{port}" in proxy["ports"]
        assert upstreams[name] == [f"{instance}:{port}" for instance in INSTANCES[name]]
        for instance in INSTANCES[name]:
            assert proxy["depends_on"][instance]["condition"] == "service_healthy"
    assert {s for s in CLUSTER_SERVICES if s.rsplit("-", 1)[0] in APP_SERVICES} == {
        i for instances in INSTANCES.values() for i in instances}, "an instance the proxy does not list"


@pytest.mark.parametrize("name", [*KAFKA_NODES, *MONGO_MEMBERS, "proxy", *(i for n in INSTANCES.values() for i in n),
                                  "console-cluster"])
def test_every_cluster_container_has_a_healthcheck_and_named_volumes(name):
    assert CLUSTER_SERVICES[name]["healthcheck"]["test"]
    for volume in CLUSTER_SERVICES[name].get("volumes", []):
        source = volume.split(":")[0]
        assert source.startswith("./") or source in COMPOSE["volumes"]


# URLs: what a service puts in what it signs is the host's (PUBLIC_URL: institutions and verifiers use it); what a
# container calls is a compose service of its own shape (localhost in a container is that container).

def _target(variable: str) -> str:
    """CREDITFLOW_ISSUER_URL, CREDITFLOW_CONSOLE_ISSUER_URL, CREDITFLOW_ISSUER_PUBLIC_URL -> issuer"""
    name = variable.removeprefix("CREDITFLOW_").removeprefix("CONSOLE_").removesuffix("_URL").removesuffix("_PUBLIC")
    return name.lower().replace("_", "-")


@pytest.mark.parametrize("services", [SERVICES, CLUSTER_SERVICES], ids=["single", "cluster"])
def test_service_to_service_urls_name_a_compose_service_and_public_urls_the_hosts(services):
    front = "proxy" if "proxy" in services else None  # the cluster's services are reached through the proxy
    checked = 0
    for name, service in services.items():
        for variable, url in service.get("environment", {}).items():
            if not variable.endswith("_URL") or variable == "CREDITFLOW_MONGODB_URL":
                continue
            target, parts = _target(variable), urlsplit(url)
            publisher = front or target
            if variable.endswith("_PUBLIC_URL"):
                assert (parts.hostname, parts.port) == ("localhost", HTTP_PORTS[target]), (name, variable)
                assert f"{parts.port}:{parts.port}" in services[publisher]["ports"], (name, variable)
            else:
                assert (parts.hostname, parts.port) == (publisher, HTTP_PORTS[target]), (name, variable)
            checked += 1
    assert checked >= 20  # four per service, four of the console


@pytest.mark.parametrize("services", [SERVICES, CLUSTER_SERVICES], ids=["single", "cluster"])
def test_every_public_url_a_service_fetches_from_is_routed_inside_compose(services):
    """The issuer's /verify fetches learner-record's CLR key, recognition fetches the issuer's status lists: both by
    the public URL written in the credential, which must be routed to a compose service."""
    for name in [n for n in services if n.rsplit("-", 1)[0] in APP_SERVICES or n in APP_SERVICES]:
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        routes = internal_routes(env)
        public = {env[k].rstrip("/") for k in env if k.endswith("_PUBLIC_URL")}
        assert public and set(routes) == public, name
        assert all(urlsplit(url).hostname in services for url in routes.values()), name
