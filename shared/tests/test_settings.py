import httpx
import pytest

from creditflow.runtime.http import routed_client
from creditflow.runtime.settings import Settings, internal_routes


def test_defaults_give_each_service_its_own_port_database_and_group():
    s = Settings.from_env("learner-record", 8102, env={})
    assert (s.http_port, s.mongodb_database, s.group_id) == (8102, "creditflow_learner_record", "creditflow.learner-record")
    assert s.kafka_bootstrap == "127.0.0.1:9092"


def test_environment_points_a_service_at_other_servers():
    env = {"CREDITFLOW_KAFKA_BOOTSTRAP": "kafka:9092", "CREDITFLOW_ISSUER_HTTP_PORT": "9000"}
    s = Settings.from_env("issuer", 8101, env=env)
    assert (s.kafka_bootstrap, s.http_port) == ("kafka:9092", 9000)


def test_a_bad_variable_is_named_at_start_up():
    with pytest.raises(SystemExit, match="CREDITFLOW_MONGODB_URL"):
        Settings.from_env("issuer", 8101, env={"CREDITFLOW_MONGODB_URL": "postgres://x"})


def test_a_service_logs_in_as_its_own_principal_with_the_password_from_its_file(tmp_path):
    secret = tmp_path / "kafka-svc-issuer.password"
    secret.write_text("s3cret-value\n")
    s = Settings.from_env("issuer", 8101, env={"CREDITFLOW_KAFKA_PASSWORD_FILE": str(secret)})
    login = s.kafka_login
    assert (login.username, login.secret(), login.security_protocol) == ("svc-issuer", "s3cret-value", "SASL_PLAINTEXT")
    assert "s3cret-value" not in repr(s) and "s3cret-value" not in repr(login)


def test_an_unreadable_password_file_is_named_at_start_up(tmp_path):
    with pytest.raises(SystemExit, match="CREDITFLOW_KAFKA_PASSWORD_FILE: cannot read"):
        Settings.from_env("issuer", 8101, env={"CREDITFLOW_KAFKA_PASSWORD_FILE": str(tmp_path / "missing")})


def test_a_kafka_client_without_a_password_is_refused_before_it_connects():
    login = Settings.from_env("stacking", 8104, env={}).kafka_login
    with pytest.raises(SystemExit, match="no Kafka password for svc-stacking"):
        login.aiokafka()


def test_an_unknown_security_protocol_is_named():
    with pytest.raises(SystemExit, match="CREDITFLOW_KAFKA_SECURITY_PROTOCOL"):
        Settings.from_env("issuer", 8101, env={"CREDITFLOW_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"})


async def test_a_public_url_read_from_a_credential_is_fetched_where_this_process_reaches_that_service():
    """In docker compose the issuer's public URL is the host's (http://localhost:8101); inside the recognition or
    issuer container that address is the container itself, so status lists and the CLR key document are fetched from
    the compose service the URL belongs to."""
    routes = internal_routes({"CREDITFLOW_ISSUER_PUBLIC_URL": "http://localhost:8101/",
                              "CREDITFLOW_ISSUER_URL": "http://issuer:8101",
                              "CREDITFLOW_LEARNER_RECORD_PUBLIC_URL": "http://localhost:8102",  # no other address
                              "CREDITFLOW_RECOGNITION_URL": "http://recognition:8103"})  # states no public URL
    assert routes == {"http://localhost:8101": "http://issuer:8101"}
    asked = []
    answer = httpx.MockTransport(lambda request: asked.append(str(request.url)) or httpx.Response(200))
    async with routed_client(routes, answer) as client:
        for url in ("http://localhost:8101/status/uni-tartu/1", "http://localhost:81012/x", "https://uni.example/k"):
            await client.get(url)
    assert asked == ["http://issuer:8101/status/uni-tartu/1", "http://localhost:81012/x", "https://uni.example/k"]
