"""HTTP conventions shared by the services' APIs: RFC 9457 problem responses naming the field and the rule,
correlation ids, health endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("creditflow.http")

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


class Problem(Exception):
    """Raise from a route to answer with a problem body."""

    def __init__(self, status: int, title: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def _field(loc: tuple[object, ...]) -> str:
    # ("body", "achievement", "credits", "value") -> "achievement.credits.value"; query/path params keep their name.
    parts = [str(p) for p in loc]
    return ".".join(parts[1:] if parts and parts[0] == "body" and len(parts) > 1 else parts)


class BodyLimit:
    """Refuse request bodies above a size with 413, counting what arrives, so no declared or chunked body can make
    the service buffer more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "Payload too large", f"request bodies are limited to {self.max_bytes} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def install_http_conventions(app: FastAPI, max_body_bytes: int = 1 << 20) -> None:
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e["loc"])), "rule": e["msg"], "type": e["type"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['rule']}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this outside every middleware, so the correlation id is set here too; the body says
        # nothing of the cause (it may name internals), the id lets an operator find it in the log.
        correlation_id = getattr(request.state, "correlation_id", None) or str(uuid.uuid4())
        log.error("unhandled error", correlation_id=correlation_id, path=request.url.path,
                  exc_info=(type(exc), exc, exc.__traceback__))
        response = problem(500, "Internal Server Error",
                           f"the service failed to answer; quote correlation id {correlation_id}",
                           correlation_id=correlation_id)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    @app.middleware("http")
    async def _correlate(request: Request, call_next: Callable[[Request], Awaitable]) -> object:
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            request.state.correlation_id = correlation_id
            response = await call_next(request)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response


class _Routed(httpx.AsyncBaseTransport):
    def __init__(self, routes: Mapping[str, str], inner: httpx.AsyncBaseTransport) -> None:
        self.routes, self.inner = routes, inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        for public, internal in self.routes.items():
            if url == public or url.startswith(public + "/"):
                request.url = httpx.URL(internal + url[len(public):])
                break
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def routed_client(routes: Mapping[str, str], inner: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A client for URLs read from credentials (key documents, status lists): a URL under one of the public base URLs
    of `routes` (settings.internal_routes) is fetched from where this process reaches that service; any other as is."""
    return httpx.AsyncClient(transport=_Routed(routes, inner or httpx.AsyncHTTPTransport()))
