"""Wiring of the notification service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notification import handlers, sender
from services.notification.settings import NotificationSettings
from shared.service import ServiceSpec, create_app


def spec(clock: sender.Clock = sender.system_clock) -> ServiceSpec:
    """The service; ``clock`` is what the sender takes for "now" (tests move it)."""
    return ServiceSpec(
        name="notification",
        migrations=Path(__file__).with_name("migrations"),
        subscribes_to=handlers.SUBSCRIBES_TO,
        register_handlers=handlers.HANDLERS.register,
        background=[sender.sender_task(clock)],
        description=(
            "Contact details, message templates per language (nb, nn, en), delivery by e-mail and SMS,"
            " reminders, retries, and the record of what was sent."
        ),
        settings_class=NotificationSettings,
    )


SPEC = spec()


def build(settings: NotificationSettings | None = None) -> FastAPI:
    return create_app(SPEC, settings)
