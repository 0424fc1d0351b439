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
