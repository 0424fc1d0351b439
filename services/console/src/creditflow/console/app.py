"""Composition root of the console: settings -> the session codec, the API clients, the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from creditflow.runtime.http import problem
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from . import pages
from .apis import Apis
from .session import SessionCodec, load_key
from .settings import ConsoleSettings

HTTP_PORT = 8105
HERE = Path(__file__).parent

# Every page is personal: never stored by a browser or a proxy, never shown from one user's cache to another.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Vary": "Cookie",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # page URLs carry learner ids
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def create_app(settings: ConsoleSettings, clock=lambda: datetime.now(UTC)) -> FastAPI:
    codec = SessionCodec(load_key(Path(settings.session_key_file)), int(settings.session_hours * 3600))
    apis = Apis(settings.service_urls)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await apis.close()

    app = FastAPI(title="creditflow console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/static/"):
            response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> object:
        checks = await apis.healthy()
        if all(checks.values()):
            return {"status": "ready", "checks": checks}
        return problem(503, "Not ready", "a service the console calls does not answer", checks=checks)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    console = pages.Console(settings, codec, apis, clock)
    app.include_router(pages.router(console))
    pages.install_error_pages(app, console)
    return app
