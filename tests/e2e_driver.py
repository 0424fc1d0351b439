"""A small driver of the running stack through its public interfaces: HTTP, the `creditflow` CLI, Kafka."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from typing import Any

from datetime import UTC, datetime

import httpx
from kafka_helpers import institution_login, publish_inbound

from creditflow.credentials import jose, keys
from creditflow.events import Achievement, CredentialAwarded, CredentialAwardedData, Event
from creditflow.events.permissions import ADMIN
from creditflow.runtime.principals import password_file
from creditflow.runtime.settings import KafkaLogin


ACCREDITED = [{"body": "EKKA", "scope": "institutional", "valid_from": "2020-01-01"}]


async def eventually(probe, what: str, timeout_s: float = 60.0):
    """The first truthy result of `probe()`, polled until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def achievement_body(institution_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "achievement_id": "ach-ml-intro",
        "institution_id": institution_id,
        "title": "Introduction to machine learning",
        "learning_outcomes": [{"statement": "Train and evaluate a classifier"}],
        "workload_hours": 150,
        "credits": {"value": 6, "framework": "ects"},
        "level": {"eqf": 6},
        "assessment_type": "project",
        "participation_form": "online",
        "quality_assurance_type": "external accreditation",
        **overrides,
    }


class Driver:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.issuer = httpx.AsyncClient(base_url=stack.urls["issuer"], timeout=30)
        self.records = httpx.AsyncClient(base_url=stack.urls["learner-record"], timeout=30)
        self.recognition = httpx.AsyncClient(base_url=stack.urls["recognition"], timeout=30)
        self.stacking = httpx.AsyncClient(base_url=stack.urls["stacking"], timeout=30)
        self.kafka_logins: dict[str, KafkaLogin] = {}  # institution -> its Kafka principal, created on first use

    async def close(self) -> None:
        for client in (self.issuer, self.records, self.recognition, self.stacking):
            await client.aclose()

    async def kafka_login(self, institution_id: str) -> KafkaLogin:
        if institution_id not in self.kafka_logins:
            self.kafka_logins[institution_id] = await institution_login(self.stack.servers, institution_id)
        return self.kafka_logins[institution_id]

    async def caught_up(self, timeout_s: float = 180.0) -> None:
        """Wait until every consumer group of every service has processed what its topics hold (lag 0 on /metrics).
        The services start at offset 0 of topics the integration tests filled; a test that starts before they caught
        up would wait for its own events behind thousands of others, against its bound."""

        operator = {"Authorization": f"Bearer {self.token()}"}  # /metrics is the operator's (0002)

        async def idle() -> bool:
            for client in (self.issuer, self.records, self.recognition, self.stacking):
                lags = [line.rsplit(" ", 1)[1] for line in (await client.get("/metrics", headers=operator)).text.splitlines()
                        if line.startswith("creditflow_consumer_lag{")]
                if not lags or any(lag != "0" for lag in lags):
                    return False
            return True

        await eventually(idle, "the services to catch up with the topics", timeout_s)

    async def publish(self, *events: Event) -> None:
        """Publish events as an institution integrating with creditflow does: with its own Kafka principal, on its
        inbound topic; the owning services republish them on their contract topics."""
        for event in events:
            institution_id = event.data.institution_id  # type: ignore[attr-defined]
            await publish_inbound(await self.kafka_login(institution_id), institution_id, event)

    def cli(self, *args: str, settings_of: str = "issuer") -> subprocess.CompletedProcess:
        """`creditflow ARGS`, with the settings (environment) of one of the services, and the Kafka admin's password
        file where an operator keeps it, for the commands that act as the admin."""
        admin = password_file(self.stack.servers.stack.secrets_dir, ADMIN)
        return subprocess.run(
            [sys.executable, "-m", "creditflow.cli", *args],
            env={**self.stack.env[settings_of], "CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE": str(admin)},
            capture_output=True, text=True, timeout=120,
        )

    def token(self, institution_id: str | None = None, *roles: str) -> str:
        """A token signed with the session's identity key, as `creditflow token create` signs it (test_cli.py runs
        the command itself); one token reaches every service."""
        return self.stack.servers.identity.token(institution_id, *roles)

    def registrar(self, institution_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(institution_id, 'registrar')}"}

    async def institution(self, quality_assurance: list[dict] | None = None,
                          **achievement: Any) -> tuple[str, dict[str, str]]:
        """A newly registered institution with one published achievement, and its bearer header."""
        institution_id = f"uni-{uuid.uuid4().hex[:8]}"
        operator = {"Authorization": f"Bearer {self.token()}"}
        registered = await self.issuer.post("/institutions", headers=operator, json={
            "institution_id": institution_id, "name": "University of Tartu", "country": "EE",
            "credit_frameworks": ["ects"], "quality_assurance": quality_assurance or []})
        assert registered.status_code == 201, registered.text
        headers = {"Authorization": f"Bearer {self.token(institution_id, 'issuer-integration')}"}
        published = await self.issuer.post("/achievements", headers=headers,
                                           json=achievement_body(institution_id, **achievement))
        assert published.status_code == 201, published.text
        return institution_id, headers

    async def award(self, headers: dict[str, str], learner_id: str, request_id: str | None = None,
                    achievement_id: str = "ach-ml-intro", grade: str | None = None) -> dict[str, Any]:
        response = await self.issuer.post("/awards", headers=headers, json={
            "request_id": request_id or uuid.uuid4().hex, "learner_id": learner_id, "achievement_id": achievement_id,
            "grade": grade})
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def record(self, learner_id: str, registrar: dict[str, str], until, timeout_s: float = 60.0) -> dict[str, Any]:
        """The learner's record as the registrar sees it, once `until(record)` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = await self.records.get(f"/learners/{learner_id}/record", headers=registrar)
            if response.status_code == 200 and until(response.json()["record"]):
                return response.json()["record"]
            if time.monotonic() > deadline:
                raise AssertionError(f"record of {learner_id} not as expected: {response.status_code} {response.text}")
            await asyncio.sleep(0.1)


def self_signed_award(issuer_url, institution_id, learner, private_key, key_id, credential_id):
    issuer_id = f"{issuer_url}/institutions/{institution_id}"
    now = datetime.now(UTC)
    vc = {
        "@context": ["https://www.w3.org/ns/credentials/v2",
                     "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer_id, "type": ["Profile"], "name": "University of Tartu"},
        "validFrom": now.isoformat(),
        "credentialSubject": {"id": learner, "type": ["AchievementSubject"],
                              "achievement": {"name": "Introduction to machine learning"}},
    }
    return CredentialAwarded(
        producer=institution_id,
        learner_id=learner,
        data=CredentialAwardedData(
            credential_id=credential_id,
            institution_id=institution_id,
            achievement=Achievement.model_validate(achievement_body(institution_id)),
            awarded_at=now,
            credential=jose.envelope(jose.sign(vc, private_key, f"{issuer_id}#{key_id}")),
        ),
    )


async def institution_with_own_key(driver: Driver) -> tuple[str, Any, str]:
    """A registered institution holding a signing key of its own (its public key registered with the issuer)."""
    institution_id, headers = await driver.institution()
    own_key = keys.generate()
    registered = await driver.issuer.post(f"/institutions/{institution_id}/keys", headers=headers,
                                          json={"public_key_multibase": keys.to_multibase(own_key.public_key())})
    assert registered.status_code == 200, registered.text
    return institution_id, own_key, registered.json()["public_keys"][-1]["key_id"]
