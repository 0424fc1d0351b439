"""The composition root every service uses: settings -> broker, MongoDB client, FastAPI app with a lifespan.

A service passes `wire`, which registers its Kafka handlers and HTTP routes on the runtime it is given; nothing
connects before the lifespan starts, so importing a service does no I/O.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from .auth import Identity, authenticated
from .clock import OperatorClock
from .http import install_http_conventions, problem
from .identity import load_public_key
from .kafka import Assignment, BatchHandler, Handler, make_broker, subscribe, subscribe_batch
from .logging import configure_logging, get_logger
from .metrics import clock_exposition, exposition
from .mongo import mongo_client
from .outbox import RELAY_EVERY_S, relay_all
from .principals import diagnose
from .settings import Settings, installed_service_settings
from .token_registry import TokenRegistry


KAFKA_RETRY_S = 10.0


@dataclass
class Runtime:
    settings: Settings
    broker: KafkaBroker
    mongo: AsyncMongoClient
    # Long-running jobs (an outbox relay, a clock for overdue cases) started after the broker, cancelled at stop.
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # consumer group -> its topics (or the pattern it subscribes by), for the lag metrics
    subscriptions: dict[str, tuple[str, ...] | str] = field(default_factory=dict)
    # consumer group -> the partitions this process holds in it now, for the per-instance lag
    assignments: dict[str, Assignment] = field(default_factory=dict)
    # Why Kafka cannot be used right now (a refused login, say), for /readyz and operators; None when connected.
    kafka_problem: str | None = None
    # Set by operator_clock(): the clock of a service whose rules depend on time, shown in /metrics and the logs.
    clock: OperatorClock | None = None

    def operator_clock(self) -> OperatorClock:
        """The clock this service's time-dependent rules read (real time unless the operator moved it, which only a
        development stack allows: runtime/clock.py)."""
        if self.clock is None:
            self.clock = self.settings.operator_clock()
            if self.clock.offset():
                get_logger(f"creditflow.{self.settings.service}").warning(
                    "operator clock moved: rules that depend on time run at a moved time",
                    environment=self.settings.environment, now=self.clock().isoformat(), **self.clock.describe())
        return self.clock

    def subscribe(self, topics: tuple[str, ...], handle: Handler, group_id: str | None = None) -> None:
        group = group_id or self.settings.group_id
        subscribe(self.broker, topics, group, handle, assignment=self._assignment(group))
        self.subscriptions[group] = topics

    def subscribe_pattern(self, pattern: str, handle: Handler, group_id: str) -> None:
        """Register `handle` for every topic matching `pattern`, those created later included (seen within the
        client's metadata refresh, CREDITFLOW_KAFKA_METADATA_MAX_AGE_MS)."""
        subscribe(self.broker, (), group_id, handle, pattern=pattern, assignment=self._assignment(group_id))
        self.subscriptions[group_id] = pattern

    def subscribe_batch(
        self, topics: tuple[str, ...], handle: BatchHandler, group_id: str | None = None, max_records: int = 500
    ) -> None:
        group = group_id or self.settings.group_id
        subscribe_batch(self.broker, topics, group, handle, max_records, self._assignment(group))
        self.subscriptions[group] = topics

    def _assignment(self, group: str) -> Assignment:
        return self.assignments.setdefault(group, Assignment())

    def repeat(self, every_s: float, job: Callable[[], Coroutine[Any, Any, Any]], what: str) -> None:
        """Run `job` in the background every `every_s` seconds; a failure is logged and the next run tries again."""
        log = get_logger(f"creditflow.{self.settings.service}")

        async def loop() -> None:
            while True:
                try:
                    await job()
                except Exception:
                    log.exception(f"{what} failed; retrying", job=what)
                await asyncio.sleep(every_s)

        self.background.append(loop)

    def relay_outboxes(self, collections: list[AsyncCollection], clock: Callable[[], datetime]) -> None:
        """Publish, in the background, events a crashed writer left in these collections' outboxes."""
        self.repeat(RELAY_EVERY_S, lambda: relay_all(collections, self.broker, clock()), "outbox relay")

    @property
    def db(self) -> AsyncDatabase:
        return self.mongo[self.settings.mongodb_database]


def service_app(
    settings: Settings, title: str, wire: Callable[[FastAPI, Runtime], None], max_body_bytes: int = 1 << 20
) -> FastAPI:
    runtime = Runtime(settings, make_broker(settings), mongo_client(settings))
    log = get_logger(f"creditflow.{settings.service}")
    identity = Identity(load_public_key(Path(settings.identity_public_key_file)))
    registry = TokenRegistry(settings.kafka_login, identity.revoked, f"creditflow-{settings.service}-tokens")
    runtime.background.append(registry.follow)

    tasks: list[asyncio.Task] = []

    async def start_kafka() -> bool:
        """Start the broker and, once it runs, the background jobs; on failure record and log the cause."""
        try:
            await runtime.broker.start()
        except Exception as exc:
            cause = await asyncio.to_thread(diagnose, settings.kafka_login) or f"Kafka unavailable: {exc}"
            if cause != runtime.kafka_problem:  # logged once per cause, not once per retry
                log.error("cannot use Kafka; retrying", reason=cause, retry_every_s=KAFKA_RETRY_S)
            runtime.kafka_problem = cause
            await runtime.broker.stop()  # drop whatever half-started before the next attempt
            return False
        runtime.kafka_problem = None
        tasks.extend(asyncio.create_task(job()) for job in runtime.background)
        log.info("service started", kafka=settings.kafka_bootstrap, principal=settings.kafka_username,
                 database=settings.mongodb_database, environment=settings.environment,
                 **(runtime.clock.describe() if runtime.clock else {}))
        return True

    async def keep_trying() -> None:
        while not await start_kafka():
            await asyncio.sleep(KAFKA_RETRY_S)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A refused login must not kill the process: it keeps serving /readyz with the reason until Kafka accepts it.
        if not await start_kafka():
            tasks.append(asyncio.create_task(keep_trying()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runtime.broker.stop()
            await runtime.mongo.close()
            log.info("service stopped")

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.identity = identity
    install_http_conventions(app, max_body_bytes)

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Kafka and MongoDB answer; the token revocations are read")
    async def readyz() -> object:
        if runtime.kafka_problem is not None:
            return problem(503, "Not ready", runtime.kafka_problem, checks={"kafka": False})
        checks = {"kafka": await runtime.broker.ping(timeout=2.0), "token_registry": registry.ready.is_set()}
        try:
            await runtime.mongo.admin.command("ping")
            checks["mongodb"] = True
        except Exception:
            checks["mongodb"] = False
        if all(checks.values()):
            return {"status": "ready", "checks": checks}
        return problem(503, "Not ready", "a dependency does not answer", checks=checks)

    @app.get("/metrics", tags=["operations"], summary="Consumer lag per partition and dead letters (Prometheus)",
             response_class=PlainTextResponse, dependencies=[Depends(authenticated("operator"))])
    async def metrics() -> str:
        text = await exposition(settings.kafka_login, runtime.subscriptions,
                                {g: a.partitions for g, a in runtime.assignments.items()})
        if runtime.clock is None:
            return text
        return text + clock_exposition(settings.environment, runtime.clock)

    wire(app, runtime)
    return app


def serve(service: str, http_port: int, create_app: Callable[[Settings], FastAPI]) -> None:
    """Entry point of `python -m creditflow.<service>`: settings from the environment, JSON logs, uvicorn."""
    settings = Settings.from_env(service, http_port)
    configure_logging(service, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep our JSON logging
        access_log=False,
        lifespan="on",
    )


def healthcheck_main() -> None:
    """`creditflow-healthcheck`: exit 0 when this container's service answers /readyz (docker-compose healthcheck).
    The service is named by CREDITFLOW_SERVICE (set by deploy/docker/Dockerfile); its port by its settings."""
    import os
    import sys
    import urllib.request

    service = os.environ["CREDITFLOW_SERVICE"]
    settings = installed_service_settings(service)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.http_port}/readyz", timeout=3) as response:
            sys.exit(0 if response.status == 200 else 1)
    except OSError as exc:
        print(f"{service} not ready: {exc}", file=sys.stderr)
        sys.exit(1)
