"""Composition root of recognition."""

from __future__ import annotations

from fastapi import FastAPI

from creditflow.runtime.service import Runtime, service_app
from creditflow.runtime.settings import Settings

from . import handlers

HTTP_PORT = 8103


def create_app(settings: Settings) -> FastAPI:
    def wire(app: FastAPI, runtime: Runtime) -> None:
        runtime.subscribe(handlers.TOPICS, handlers.on_event)

    return service_app(settings, "creditflow recognition", wire)
