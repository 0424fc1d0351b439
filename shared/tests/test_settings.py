import pytest

from creditflow.runtime.settings import Settings


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
