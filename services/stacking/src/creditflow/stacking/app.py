"""Composition root of stacking."""

from __future__ import annotations

from creditflow.runtime.service import Runtime, service_app
from creditflow.runtime.settings import Settings
from fastapi import FastAPI

from . import api, handlers
from .service import Clock, Stacking
from .store import StackingStore

HTTP_PORT = 8104


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """`clock` tells recency windows and programme versions the time; by default the operator clock (real time
    unless a development stack moved it); tests pass a fake one."""

    def wire(app: FastAPI, runtime: Runtime) -> None:
        now = clock or runtime.operator_clock()
        store = StackingStore(runtime.db)
        stacking = Stacking(store, runtime.broker, now)
        runtime.subscribe(handlers.LEARNER_TOPICS, handlers.on_learner_event(stacking))
        runtime.subscribe(handlers.REGISTRY_TOPICS, handlers.on_programme(stacking),
                          group_id=f"{settings.group_id}.registry")
        runtime.subscribe_pattern(handlers.INBOUND, handlers.on_inbound_event(runtime.broker),
                                  group_id=f"{settings.group_id}.inbound")
        app.include_router(api.router(stacking))
        runtime.relay_outboxes([store.learners], now)

    return service_app(settings, "creditflow stacking", wire)
