"""Wiring of the matching service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.matching import handlers
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

SPEC = ServiceSpec(
    name="matching",
    migrations=Path(__file__).with_name("migrations"),
    subscribes_to=handlers.SUBSCRIBES_TO,
    register_handlers=handlers.HANDLERS.register,
    description="Pseudonymous read model of confirmed participants; proposes pairs and the long-table seating.",
)


def build(settings: Settings | None = None) -> FastAPI:
    return create_app(SPEC, settings)
