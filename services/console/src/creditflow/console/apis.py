"""The four services' public HTTP APIs, called with the signed-in registrar's token and nothing else. Every call is
authorised by the service that answers it; the console only shows what came back. Nothing is cached: each page asks
again, with the token of the session that asked."""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from .settings import SERVICES


class ApiError(Exception):
    """A service refused or failed: its status and its RFC 9457 problem body (or what stood in for one)."""

    def __init__(self, service: str, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{service}: {status} {problem.get('detail')}")
        self.service, self.status, self.problem = service, status, problem

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or f"HTTP {self.status}")


def _no_cookies() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class Apis:
    """One connection pool per service, shared by every user's calls; nothing else is shared: a cookie a service
    set would go with the next user's calls, so none is ever kept."""

    def __init__(self, urls: dict[str, str], transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._clients = {s: httpx.AsyncClient(base_url=urls[s], timeout=30, transport=transport,
                                              cookies=_no_cookies()) for s in SERVICES}

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def call(self, service: str, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self._clients[service].request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(service, 503, {"title": "Service unavailable",
                                          "detail": f"{service} does not answer ({type(exc).__name__})"}) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(service, response.status_code, body if isinstance(body, dict) else {})
        return response

    async def json(self, service: str, method: str, path: str, token: str | None, **kwargs: Any) -> Any:
        return (await self.call(service, method, path, token, **kwargs)).json()

    async def healthy(self) -> dict[str, bool]:
        answers = {}
        for service, client in self._clients.items():
            try:
                answers[service] = (await client.get("/healthz", timeout=3)).status_code == 200
            except httpx.HTTPError:
                answers[service] = False
        return answers
