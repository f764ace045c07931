"""Wiring of the reporting service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.reporting import api, handlers
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

SPEC = ServiceSpec(
    name="reporting",
    migrations=Path(__file__).with_name("migrations"),
    subscribes_to=handlers.SUBSCRIBES_TO,
    register_handlers=handlers.register,
    router=api.router,
    description="Aggregate, personal-data-free read model; per-tenant and national figures.",
)


def build(settings: Settings | None = None) -> FastAPI:
    return create_app(SPEC, settings)
