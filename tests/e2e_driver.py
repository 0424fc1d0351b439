"""A small driver of the running stack through its public interfaces: HTTP, the `creditflow` CLI, Kafka."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from creditflow.events import Event, encode, topic_of


ACCREDITED = [{"body": "EKKA", "scope": "institutional", "valid_from": "2020-01-01"}]


async def eventually(probe, what: str, timeout_s: float = 20.0):
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

    async def close(self) -> None:
        for client in (self.issuer, self.records, self.recognition, self.stacking):
            await client.aclose()

    async def caught_up(self, timeout_s: float = 180.0) -> None:
        """Wait until every consumer group of every service has processed what its topics hold (lag 0 on /metrics).
        The services start at offset 0 of topics the integration tests filled; a test that starts before they caught
        up would wait for its own events behind thousands of others, against its bound."""

        async def idle() -> bool:
            for client in (self.issuer, self.records, self.recognition, self.stacking):
                lags = [line.rsplit(" ", 1)[1] for line in (await client.get("/metrics")).text.splitlines()
                        if line.startswith("creditflow_consumer_lag{")]
                if not lags or any(lag != "0" for lag in lags):
                    return False
            return True

        await eventually(idle, "the services to catch up with the topics", timeout_s)

    async def publish(self, *events: Event) -> None:
        """Publish events as an institution integrating with creditflow does: to their contract topic and key."""
        producer = AIOKafkaProducer(bootstrap_servers=self.stack.servers.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for event in events:
                topic = topic_of(event)
                await producer.send_and_wait(topic.name, encode(event), key=topic.key_of(event).encode())
        finally:
            await producer.stop()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "creditflow.issuer.cli", *args],
            env=self.stack.env["issuer"], capture_output=True, text=True, timeout=120,
        )

    def token(self, institution_id: str | None = None, service: str = "issuer") -> str:
        who = ["--operator"] if institution_id is None else ["--institution", institution_id]
        done = subprocess.run(
            [sys.executable, "-m", "creditflow.runtime.tokens", "create", "--service", service, *who],
            env=self.stack.env[service], capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def registrar(self, institution_id: str, service: str = "learner-record") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(institution_id, service=service)}"}

    async def institution(self, quality_assurance: list[dict] | None = None,
                          **achievement: Any) -> tuple[str, dict[str, str]]:
        """A newly registered institution with one published achievement, and its bearer header."""
        institution_id = f"uni-{uuid.uuid4().hex[:8]}"
        operator = {"Authorization": f"Bearer {self.token()}"}
        registered = await self.issuer.post("/institutions", headers=operator, json={
            "institution_id": institution_id, "name": "University of Tartu", "country": "EE",
            "credit_frameworks": ["ects"], "quality_assurance": quality_assurance or []})
        assert registered.status_code == 201, registered.text
        headers = {"Authorization": f"Bearer {self.token(institution_id)}"}
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

    async def record(self, learner_id: str, registrar: dict[str, str], until, timeout_s: float = 15.0) -> dict[str, Any]:
        """The learner's record as the registrar sees it, once `until(record)` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = await self.records.get(f"/learners/{learner_id}/record", headers=registrar)
            if response.status_code == 200 and until(response.json()["record"]):
                return response.json()["record"]
            if time.monotonic() > deadline:
                raise AssertionError(f"record of {learner_id} not as expected: {response.status_code} {response.text}")
            await asyncio.sleep(0.1)
