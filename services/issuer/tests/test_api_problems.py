"""Malformed award requests are refused before anything is published, with a problem body naming each field."""

import httpx
import pytest

from creditflow.issuer.app import create_app
from creditflow.runtime.settings import Settings


@pytest.fixture
def client():
    # Validation answers before the lifespan would connect to Kafka, so no server is needed here.
    app = create_app(Settings.from_env("issuer", 8101, env={}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://issuer")


async def test_missing_and_invalid_fields_are_named_with_their_rule(client):
    response = await client.post(
        "/awards",
        json={"learner_id": "has spaces", "achievement": {"achievement_id": "a1", "institution_id": "u1",
                                                          "title": "T", "credits": {"value": 0, "framework": "ects"}}},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"]: e["rule"] for e in response.json()["errors"]}
    assert fields["learner_id"].startswith("String should match pattern")
    assert fields["achievement.credits.value"] == "Input should be greater than 0"


async def test_a_body_that_is_not_json_is_a_problem_too(client):
    response = await client.post("/awards", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["title"] == "Invalid request"


async def test_every_response_carries_a_correlation_id(client):
    response = await client.post("/awards", json={}, headers={"X-Correlation-ID": "corr-123"})
    assert response.headers["X-Correlation-ID"] == "corr-123"
