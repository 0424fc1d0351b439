"""Composition root of stacking."""

from __future__ import annotations

from datetime import timedelta

from creditflow.runtime.outbox import relay
from creditflow.runtime.service import Runtime, service_app
from creditflow.runtime.settings import Settings
from fastapi import FastAPI

from . import api, handlers
from .service import Clock, Stacking, utc_now
from .store import StackingStore

HTTP_PORT = 8104
RELAY_EVERY_S = 5.0
RELAY_GRACE = timedelta(seconds=10)


def create_app(settings: Settings, clock: Clock = utc_now) -> FastAPI:
    def wire(app: FastAPI, runtime: Runtime) -> None:
        store = StackingStore(runtime.db)
        stacking = Stacking(store, runtime.broker, clock)
        runtime.subscribe(handlers.LEARNER_TOPICS, handlers.on_learner_event(stacking))
        runtime.subscribe(handlers.REGISTRY_TOPICS, handlers.on_programme(stacking),
                          group_id=f"{settings.group_id}.registry")
        app.include_router(api.router(stacking))
        runtime.repeat(RELAY_EVERY_S, lambda: relay(store.learners, runtime.broker, clock() - RELAY_GRACE),
                       "outbox relay")

    return service_app(settings, "creditflow stacking", wire)
