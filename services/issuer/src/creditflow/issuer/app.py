"""Composition root of the issuer."""

from __future__ import annotations

from fastapi import FastAPI

from creditflow.runtime.service import Runtime, service_app
from creditflow.runtime.settings import Settings

from . import api

HTTP_PORT = 8101


def create_app(settings: Settings) -> FastAPI:
    def wire(app: FastAPI, runtime: Runtime) -> None:
        app.include_router(api.router(runtime))

    return service_app(settings, "creditflow issuer", wire)
