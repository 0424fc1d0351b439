"""The broker's side of trust, on the real SASL broker: every client logs in, every principal may do exactly what
the decision record's table says, and what it may not do is refused by the broker itself (so nothing reaches a
consumer). Institution principals are created, rotated and revoked with the operator's command."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from contract_factories import awarded
from kafka_helpers import institution_login, records, send
from pydantic import SecretStr

from creditflow.events import encode
from creditflow.events.permissions import (
    TOPIC_ACCESS,
    inbound_topic,
    institution_grants,
    parse_record_table,
    service_grants,
)
from creditflow.events.topics import CREDENTIALS
from creditflow.runtime.principals import KafkaAdmin, diagnose, password_file
from creditflow.stacking.app import create_app

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "docs" / "decisions" / "0001-topics-and-permissions.md"  # the one table of who may say what


def a_learner() -> str:
    return f"learner-{uuid.uuid4().hex[:8]}"


async def nothing_reached(servers, topic: str, key: str) -> bool:
    return await records(servers.admin, topic, key, at_least=0) == []


async def refused_to_consume(consumer: AIOKafkaConsumer, error: type[Exception]) -> None:
    """The broker refuses the consumer, when it joins or when it fetches."""
    try:
        with pytest.raises(error):
            await consumer.start()
            await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()


# ------------------------------------------------------------------------------------------- the table and the broker


def _unordered(table):
    return {topic: (set(writers), set(readers)) for topic, (writers, readers) in table.items()}


def test_the_table_in_code_is_the_decision_records_table():
    assert _unordered(parse_record_table(RECORD.read_text())) == _unordered(TOPIC_ACCESS)


def test_the_broker_holds_exactly_the_tables_acls(servers):
    held = KafkaAdmin(servers.admin).grants()
    services = {g for g in held if g.principal.startswith("svc-")}
    assert services == service_grants()
    institutions = {g.principal.removeprefix("inst-") for g in held if g.principal.startswith("inst-")}
    assert {g for g in held if g.principal.startswith("inst-")} == set().union(
        *(institution_grants(i) for i in institutions))
    assert not [g for g in held if not g.principal.startswith(("svc-", "inst-"))], "no ACL for anybody else"


def test_the_record_table_parser_sees_a_drift():
    drifted = RECORD.read_text().replace("| creditflow.learner.consents | svc-learner-record |",
                                         "| creditflow.learner.consents | svc-stacking |")
    assert _unordered(parse_record_table(drifted)) != _unordered(TOPIC_ACCESS)


# ----------------------------------------------------------------------------------------------------- logging in


async def test_a_client_without_credentials_is_refused(servers):
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


async def test_a_wrong_password_is_refused_and_named_as_such(servers):
    wrong = servers.login("svc-issuer").model_copy(update={"password": SecretStr("not-the-password")})
    producer = AIOKafkaProducer(**wrong.aiokafka())
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        await producer.start()
    await producer.stop()
    assert diagnose(wrong) == "Kafka authentication failed for principal svc-issuer"


async def test_a_service_whose_login_is_refused_stays_up_and_says_why_in_readyz(servers):
    settings = servers.settings("stacking", kafka_password=SecretStr("not-the-password"),
                                mongodb_database=f"t{servers.run_id}_refused")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["detail"] == "Kafka authentication failed for principal svc-stacking"
    assert alive.status_code == 200


async def test_sasl_ssl_carries_a_login_that_produces_and_consumes(servers):
    if not servers.stack.tls:  # servers of your own (CREDITFLOW_KAFKA_BOOTSTRAP) without CREDITFLOW_KAFKA_TLS=1
        pytest.skip("this broker has no SASL_SSL listener")
    institution = f"uni-{uuid.uuid4().hex[:8]}"
    login = (await institution_login(servers, institution)).model_copy(update={
        "bootstrap": servers.stack.tls_bootstrap, "security_protocol": "SASL_SSL",
        "ca_file": str(servers.stack.ca_file)})
    learner = a_learner()
    await send(login, inbound_topic(institution), [(learner.encode(), b"over TLS")])
    consumer = AIOKafkaConsumer(inbound_topic(institution), **login.aiokafka(),
                                group_id=f"creditflow.inst-{institution}.check", auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (learner.encode(), b"over TLS")


# ----------------------------------------------------------------------------------------- what each may not do


async def test_an_institution_may_not_write_an_internal_topic(servers):
    institution = f"uni-{uuid.uuid4().hex[:8]}"
    login = await institution_login(servers, institution)
    learner = a_learner()
    forged = awarded(learner, "urn:uuid:forged")
    with pytest.raises(TopicAuthorizationFailedError):
        await send(login, CREDENTIALS.name, [(learner.encode(), encode(forged))])
    assert await nothing_reached(servers, CREDENTIALS.name, learner)


async def test_an_institution_may_not_write_or_read_another_institutions_inbound_topic(servers):
    mine, theirs = f"uni-{uuid.uuid4().hex[:8]}", f"uni-{uuid.uuid4().hex[:8]}"
    login = await institution_login(servers, mine)
    await institution_login(servers, theirs)
    learner = a_learner()
    with pytest.raises(TopicAuthorizationFailedError):
        await send(login, inbound_topic(theirs), [(learner.encode(), encode(awarded(learner, "urn:uuid:x")))])
    assert await nothing_reached(servers, inbound_topic(theirs), learner)
    await refused_to_consume(AIOKafkaConsumer(inbound_topic(theirs), **login.aiokafka(),
                                              group_id=f"creditflow.inst-{mine}.peek", auto_offset_reset="earliest"),
                             TopicAuthorizationFailedError)


async def test_an_institution_may_not_join_a_services_consumer_group(servers):
    institution = f"uni-{uuid.uuid4().hex[:8]}"
    login = await institution_login(servers, institution)
    await refused_to_consume(AIOKafkaConsumer(inbound_topic(institution), **login.aiokafka(),
                                              group_id="creditflow.learner-record", auto_offset_reset="earliest"),
                             GroupAuthorizationFailedError)


@pytest.mark.parametrize("service", ["learner-record", "recognition", "stacking"])
async def test_a_service_may_not_write_a_topic_it_does_not_own(servers, service):
    learner = a_learner()
    with pytest.raises(TopicAuthorizationFailedError):
        await send(servers.login(f"svc-{service}"), CREDENTIALS.name,
                   [(learner.encode(), encode(awarded(learner, "urn:uuid:not-theirs")))])
    assert await nothing_reached(servers, CREDENTIALS.name, learner)


# ------------------------------------------------------------------------------------ the operator's command


def kafka_principal(servers, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CREDITFLOW_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
           "CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE": str(password_file(servers.stack.secrets_dir, "creditflow-admin"))}
    return subprocess.run([sys.executable, "-m", "creditflow.cli", "kafka-principal", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_an_operator_creates_rotates_and_revokes_an_institution_principal(servers, tmp_path):
    institution = f"uni-{uuid.uuid4().hex[:8]}"
    secret = tmp_path / "password"

    created = kafka_principal(servers, "create", "--institution", institution, "--password-file", str(secret))
    assert created.returncode == 0, created.stderr
    assert f"inst-{institution}" in created.stdout and inbound_topic(institution) in created.stdout
    assert secret.stat().st_mode & 0o777 == 0o600
    first = servers.admin.model_copy(update={"username": f"inst-{institution}",
                                             "password": SecretStr(secret.read_text().strip())})
    await send(first, inbound_topic(institution), [(b"k", b"first")])
    again = kafka_principal(servers, "create", "--institution", institution)
    assert again.returncode != 0 and "already exists" in again.stderr

    rotated = kafka_principal(servers, "rotate", "--institution", institution)
    assert rotated.returncode == 0, rotated.stderr
    [new_password] = [line.split()[1] for line in rotated.stdout.splitlines() if line.startswith("password")]
    assert diagnose(first) == f"Kafka authentication failed for principal inst-{institution}"
    await send(first.model_copy(update={"password": SecretStr(new_password)}), inbound_topic(institution),
               [(b"k", b"second")])

    revoked = kafka_principal(servers, "revoke", "--institution", institution)
    assert revoked.returncode == 0, revoked.stderr
    assert diagnose(first.model_copy(update={"password": SecretStr(new_password)})) == (
        f"Kafka authentication failed for principal inst-{institution}")
    assert not [g for g in KafkaAdmin(servers.admin).grants() if g.principal == f"inst-{institution}"]


def test_an_institution_id_that_cannot_name_a_principal_is_refused_by_name(servers):
    done = kafka_principal(servers, "create", "--institution", "uni.tartu")
    assert done.returncode != 0
    assert "--institution: 'uni.tartu' cannot name a Kafka principal" in done.stderr
