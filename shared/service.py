"""Wiring every service shares: database pool, broker, outbox relay, consumers and the HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer
from fastapi import APIRouter, FastAPI, Request
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_fastapi_instrumentator import Instrumentator
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared import broker_loss, db, lag, logs, metrics, topics
from shared.consumer import EventConsumer
from shared.http import (
    BodySizeLimit,
    RefuseControlCharacters,
    RequestContext,
    SecurityHeaders,
    docs_router,
    document_problems,
    health_router,
    install_problem_handlers,
    mount_static,
)
from shared.outbox import OutboxRelay
from shared.settings import Settings

log = logging.getLogger(__name__)

S = TypeVar("S", bound=Settings)
BackgroundTask = Callable[["Runtime[Any]"], Awaitable[None]]


@dataclass
class ServiceSpec:
    name: str
    migrations: Path
    subscribes_to: tuple[str, ...] = ()
    register_handlers: Callable[[EventConsumer], None] | None = None
    router: APIRouter | None = None
    extra_routers: tuple[APIRouter, ...] = ()  # e.g. HTML pages outside /v1
    background: list[BackgroundTask] = field(default_factory=list)
    description: str = ""
    db_role: str | None = None  # the role the service works as, when it differs from the login
    # The service's own settings (read from the environment when none are given); matching has the common ones.
    settings_class: type[Settings] = Settings


class Runtime(Generic[S]):
    """What a running service holds: settings, pool, broker and its consumer.

    ``settings`` is an instance of the service's ``spec.settings_class``; code of one service annotates
    ``Runtime[ItsSettings]`` to have them typed.
    """

    def __init__(self, spec: ServiceSpec, settings: S) -> None:
        if not isinstance(settings, spec.settings_class):
            raise TypeError(f"{spec.name} reads {spec.settings_class.__name__}, not {type(settings).__name__}")
        self.spec = spec
        self.settings: S = settings
        self.pool: asyncpg.Pool | None = None
        self.broker = make_broker(settings, spec.name)
        self.consumer = EventConsumer(
            f"{settings.consumer_group_prefix}-{spec.name}",
            None,
            self.broker,
            max_attempts=settings.consumer_max_attempts,
            batch=settings.consumer_batch,
            batch_max_records=settings.consumer_batch_max_records,
            batch_max_wait_ms=settings.consumer_batch_max_wait_ms,
            tenant_scoped=spec.db_role is not None,  # row-level security applies only to a role of its own
        )
        if spec.register_handlers is not None:
            spec.register_handlers(self.consumer)
        # Takes the consumers back to the beginning when the broker comes back without its log.
        self.rewinder = broker_loss.ConsumerRewinder(
            settings.kafka_bootstrap, self._kafka_consumers, self.consumer.group
        )
        if spec.subscribes_to:
            self.consumer.subscribe(
                *spec.subscribes_to,
                session_timeout_ms=settings.kafka_session_timeout_ms,
                heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
                listener=self.rewinder,
            )

    def _kafka_consumers(self) -> list[AIOKafkaConsumer]:
        """The aiokafka consumers of the service's running subscribers."""
        found = (getattr(subscriber, "consumer", None) for subscriber in self.broker.subscribers)
        return [c for c in found if isinstance(c, AIOKafkaConsumer)]

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "the service has not started"
        return self.pool

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        settings = self.settings
        await db.ensure_database(settings.database_url)
        await db.migrate(settings.database_url, self.spec.migrations)
        await topics.ensure_topics(settings.kafka_bootstrap, settings.topic_partitions, settings.topic_replication)
        # The group's positions belong to this log: a later epoch means another one.
        self.rewinder.known = await broker_loss.ensure_epoch(settings.kafka_bootstrap, settings.topic_replication)
        self.pool = await db.create_pool(
            settings.database_url,
            settings.db_pool_min,
            settings.db_pool_max,
            role=self.spec.db_role,
            timeouts=db.Timeouts.of(settings),
        )
        self.consumer.pool = self.pool
        await self.broker.start()
        relay = OutboxRelay(
            self.pool,
            settings.database_url,
            settings.kafka_bootstrap,
            poll_interval_s=settings.outbox_poll_interval_s,
            batch_size=settings.outbox_batch_size,
            client_id=f"fmf-{self.spec.name}-outbox",
            retention_hours=settings.outbox_retention_hours,
            topic_partitions=settings.topic_partitions,
            topic_replication=settings.topic_replication,
            check_interval_s=settings.broker_check_interval_s,
        )
        tasks = [asyncio.create_task(_supervised("outbox-relay", relay.run))]
        if self.spec.subscribes_to:
            watch_lag = functools.partial(
                lag.watch,
                settings.kafka_bootstrap,
                self.consumer.group,
                self.spec.subscribes_to,
                settings.lag_interval_s,
            )
            tasks.append(asyncio.create_task(_supervised("consumer-lag", watch_lag)))
            watch_log = functools.partial(self.rewinder.watch, settings.broker_check_interval_s)
            tasks.append(asyncio.create_task(_supervised("broker-loss", watch_log)))
        for task in self.spec.background:
            tasks.append(asyncio.create_task(_supervised(task.__name__, functools.partial(task, self))))
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.broker.stop()
            await self.pool.close()


async def _supervised(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Keep a background loop alive: log a crash and start it again after a pause."""
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task crashed; restarting", extra={"task": name})
            await asyncio.sleep(1.0)


def make_broker(settings: Settings, service: str) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=f"fmf-{service}",
        logger=logs.broker_logger(),  # our JSON lines, not FastStream's coloured plain text
        middlewares=[KafkaPrometheusMiddleware(registry=metrics.registry, app_name=f"fmf-{service}")],
        enable_idempotence=False,  # the embedded broker lacks it; the outbox + inbox give exactly-once effects
    )


def create_app(spec: ServiceSpec, settings: Settings | None = None) -> FastAPI:
    """The service's HTTP app; ``settings`` default to the service's own class read from the environment."""
    settings = settings or spec.settings_class()
    logs.configure(spec.name, settings.log_level, settings.log_json)
    runtime = Runtime(spec, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    app = FastAPI(
        title=f"Folk møter folk — {spec.name}",
        description=spec.description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,  # docs_router serves /docs from local assets, under the Content-Security-Policy
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    document_problems(app)
    # The last added runs first: the client address, then the correlation id and access log, then the
    # protective headers (on every answer, the 413 too), then the body limit.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RefuseControlCharacters)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext)
    if trusted := [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    Instrumentator(excluded_handlers=["/metrics", "/healthz", "/readyz"]).instrument(app, metric_namespace="")
    app.include_router(health_router())
    app.include_router(docs_router(app.title))
    mount_static(app, spec.migrations.parent / "static")
    for router in (spec.router, *spec.extra_routers):
        if router is not None:
            app.include_router(router)
    return app


def runtime_of(request: Request) -> Runtime[Any]:
    runtime: Runtime[Any] = request.app.state.runtime
    return runtime


async def current_runtime(request: Request) -> Runtime[Any]:
    """The service's runtime as a FastAPI dependency (async: sync dependencies cost a worker thread)."""
    return runtime_of(request)


def serve(spec: ServiceSpec) -> None:
    import uvicorn

    settings = spec.settings_class()
    app = create_app(spec, settings)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.port_for(spec.name),
        log_config=None,
        # RequestContext writes the access log, without the query string (a manage link's token is in it).
        access_log=False,
        # Forwarded headers are believed from FMF_TRUSTED_PROXIES only (the app's ProxyHeadersMiddleware);
        # uvicorn's own would trust 127.0.0.1.
        proxy_headers=False,
        # Longer than the idle timeout of the proxies and clients in front, so that no request is
        # sent on a connection the server is closing at that moment.
        timeout_keep_alive=75,
    )
