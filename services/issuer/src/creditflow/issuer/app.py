"""Composition root of the issuer."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from creditflow.runtime.service import Runtime, service_app
from creditflow.runtime.settings import Settings, internal_routes
from fastapi import FastAPI

from . import api, credential, handlers
from .awarding import Awarder
from .keystore import FileKeyStore
from .store import IssuerStore

HTTP_PORT = 8101
MAX_BODY_BYTES = 2 << 20  # a bulk of 500 awards fits; anything larger is refused with 413


def options_from_env(settings: Settings) -> api.Options:
    public_url = os.environ.get("CREDITFLOW_ISSUER_PUBLIC_URL", f"http://127.0.0.1:{settings.http_port}")
    key_dir = Path(os.environ.get("CREDITFLOW_ISSUER_KEY_DIR", ".state/issuer-keys"))
    platform_url = os.environ.get("CREDITFLOW_LEARNER_RECORD_PUBLIC_URL", "http://127.0.0.1:8102").rstrip("/")
    return api.Options(public_url=public_url.rstrip("/"), key_store=FileKeyStore(key_dir),
                       platform_issuer_id=f"{platform_url}/platform", routes=internal_routes(os.environ))


def outboxes(store: IssuerStore) -> list:
    return [store.institutions, store.achievements, store.awards]


def create_app(settings: Settings, options: api.Options | None = None) -> FastAPI:
    options = options or options_from_env(settings)

    def wire(app: FastAPI, runtime: Runtime) -> None:
        store = IssuerStore(runtime.db)
        resolve_key = store.key_resolver(credential.issuer_id(options.public_url, ""))
        awarder = Awarder(store, options, runtime.broker)
        runtime.subscribe(handlers.TOPICS, handlers.on_direct_publication(runtime.broker, resolve_key))
        runtime.subscribe_pattern(handlers.INBOUND, handlers.on_inbound_award(runtime.broker, resolve_key),
                                  group_id=f"{settings.group_id}.inbound")
        runtime.subscribe(handlers.QUALIFICATION_TOPICS, handlers.on_qualification(awarder),
                          group_id=f"{settings.group_id}.qualifications")
        runtime.subscribe(handlers.PROGRAMME_TOPICS, handlers.on_programme(awarder),
                          group_id=f"{settings.group_id}.programmes")
        app.include_router(api.router(runtime, store, options, awarder))

        runtime.relay_outboxes(outboxes(store), lambda: datetime.now(UTC))

    return service_app(settings, "creditflow issuer", wire, max_body_bytes=MAX_BODY_BYTES)
