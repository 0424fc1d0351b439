"""A service's handlers and HTTP router on the real servers, without its process: for integration tests."""

from __future__ import annotations

import itertools

import httpx
from creditflow.events import Event, decode
from creditflow.runtime.http import install_http_conventions
from creditflow.runtime.kafka import Delivery, Handler
from creditflow.runtime.auth import Identity
from fastapi import APIRouter, FastAPI
from identity_helpers import SessionIdentity
from kafka_helpers import records

_offsets = itertools.count()


class ServiceHarness:
    def __init__(self, router: APIRouter, identity: SessionIdentity, bootstrap: str, output_topic: str) -> None:
        self.identity, self.bootstrap, self.output_topic = identity, bootstrap, output_topic
        app = FastAPI()
        app.state.identity = Identity(identity.public_key)
        install_http_conventions(app)
        app.include_router(router)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")

    @staticmethod
    async def deliver(handler: Handler, event: Event, topic: str = "creditflow.test") -> None:
        """Hand the event to a Kafka handler as the runtime would, at a fresh offset."""
        await handler(event, Delivery(topic, 0, next(_offsets)))

    async def registrar(self, institution_id: str) -> dict[str, str]:
        return self.identity.bearer(institution_id, "registrar")

    async def published(self, learner_id: str, at_least: int) -> list[Event]:
        """What the service published for this learner on its output topic, as read back from the broker."""
        return [decode(r.value) for r in await records(self.bootstrap, self.output_topic, learner_id,
                                                       at_least=at_least)]

    async def close(self) -> None:
        await self.http.aclose()
