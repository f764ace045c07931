"""Wiring of the notification service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notification import handlers, sender
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

SPEC = ServiceSpec(
    name="notification",
    migrations=Path(__file__).with_name("migrations"),
    subscribes_to=handlers.SUBSCRIBES_TO,
    register_handlers=handlers.register,
    background=[sender.run_sender],
    description="Contact details, message templates per language, delivery by e-mail, the record of what was sent.",
)


def build(settings: Settings | None = None) -> FastAPI:
    return create_app(SPEC, settings)
