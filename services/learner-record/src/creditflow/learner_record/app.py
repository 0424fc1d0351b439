"""Composition root of learner-record."""

from __future__ import annotations

from fastapi import FastAPI

from creditflow.runtime.kafka import subscribe
from creditflow.runtime.service import Runtime, service_app
from creditflow.runtime.settings import Settings

from . import api, handlers
from .store import RecordStore

HTTP_PORT = 8102


def create_app(settings: Settings) -> FastAPI:
    def wire(app: FastAPI, runtime: Runtime) -> None:
        store = RecordStore(runtime.db)
        subscribe(runtime.broker, handlers.TOPICS, settings.group_id, handlers.on_learner_event(store))
        app.include_router(api.router(store))

    return service_app(settings, "creditflow learner-record", wire)
