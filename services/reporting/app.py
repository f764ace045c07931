"""Wiring of the reporting service."""

from __future__ import annotations

from fastapi import FastAPI

from services.reporting import api, handlers, store
from services.reporting.running import hold_running_lock
from services.reporting.settings import ReportingSettings
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="reporting",
    migrations=store.MIGRATIONS,
    subscribes_to=handlers.SUBSCRIBES_TO,
    register_handlers=handlers.HANDLERS.register,
    router=api.router,
    background=[hold_running_lock],
    description="Aggregate, personal-data-free read model; per-tenant and national figures.",
    settings_class=ReportingSettings,
)


def build(settings: ReportingSettings | None = None) -> FastAPI:
    return create_app(SPEC, settings)
