"""Composition root of learner-record."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from creditflow.runtime.kafka import publish
from creditflow.runtime.service import Runtime, service_app
from creditflow.runtime.settings import Settings

from . import api, handlers
from .store import InstitutionDirectory, RecordStore, platform_key

HTTP_PORT = 8102


def options_from_env(settings: Settings) -> api.Options:
    public_url = os.environ.get("CREDITFLOW_LEARNER_RECORD_PUBLIC_URL", f"http://127.0.0.1:{settings.http_port}")
    key_file = Path(os.environ.get("CREDITFLOW_LEARNER_RECORD_KEY_FILE", ".state/learner-record/platform-key.pem"))
    return api.Options(public_url=public_url.rstrip("/"), platform_key=platform_key(key_file))


def create_app(settings: Settings, options: api.Options | None = None) -> FastAPI:
    options = options or options_from_env(settings)
    # Records per consumed batch (and so per bulk write); 1 gives the one-event-at-a-time variant `make bench` measures.
    batch_size = int(os.environ.get("CREDITFLOW_LEARNER_RECORD_BATCH_SIZE", "500"))

    def wire(app: FastAPI, runtime: Runtime) -> None:
        store, directory = RecordStore(runtime.db), InstitutionDirectory(runtime.db)
        runtime.subscribe_batch(handlers.LEARNER_TOPICS, handlers.on_learner_events(store, directory), max_records=batch_size)
        # Registrations get their own group: a slow registry never holds up learner events, nor the reverse.
        runtime.subscribe(handlers.REGISTRY_TOPICS, handlers.on_registration(store, directory),
                          group_id=f"{settings.group_id}.registry")
        # learner-record is the consent topic's only writer (0001): its consent routes publish there themselves.
        app.include_router(api.router(store, directory, options, lambda event: publish(runtime.broker, event)))

    return service_app(settings, "creditflow learner-record", wire)
