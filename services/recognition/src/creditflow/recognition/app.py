"""Composition root of recognition."""

from __future__ import annotations

import os

from creditflow.runtime.service import Runtime, service_app
from creditflow.runtime.settings import Settings, internal_routes
from fastapi import FastAPI

from . import api, handlers
from .service import Clock, Recognition
from .store import RecognitionStore

HTTP_PORT = 8103


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """`clock` tells the time to decisions and to the four-month deadline; by default the operator clock (real time
    unless a development stack moved it: docs/operations.md); tests pass a fake one."""
    overdue_every_s = float(os.environ.get("CREDITFLOW_RECOGNITION_OVERDUE_EVERY_S", "60"))

    def wire(app: FastAPI, runtime: Runtime) -> None:
        now = clock or runtime.operator_clock()
        store = RecognitionStore(runtime.db)
        recognition = Recognition(store, runtime.broker, now, internal_routes(os.environ))
        runtime.subscribe(handlers.LEARNER_TOPICS, handlers.on_learner_event(recognition))
        # The registry gets its own group, so a burst of programme or policy events never holds up learners' cases.
        runtime.subscribe(handlers.REGISTRY_TOPICS, handlers.on_registry_event(recognition),
                          group_id=f"{settings.group_id}.registry")
        runtime.subscribe_pattern(handlers.INBOUND, handlers.on_inbound_event(runtime.broker),
                                  group_id=f"{settings.group_id}.inbound")
        app.include_router(api.router(recognition))

        runtime.relay_outboxes([store.cases], now)
        runtime.repeat(overdue_every_s, recognition.sweep_overdue, "overdue sweep")

    return service_app(settings, "creditflow recognition", wire)
