"""Wiring of the registration service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.registration import api, console, handlers, jobs, pages
from services.registration.settings import RegistrationSettings
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="registration",
    migrations=Path(__file__).with_name("migrations"),
    subscribes_to=handlers.SUBSCRIBES_TO,
    register_handlers=handlers.HANDLERS.register,
    router=api.router,
    extra_routers=(pages.router, console.router),
    db_role="fmf_registration_app",
    background=[jobs.retention, jobs.expire_links, jobs.close_registration],
    description="Tenants, coordinators' tokens, meetings, participants and registrations: the source of truth.",
    settings_class=RegistrationSettings,
)


def build(settings: RegistrationSettings | None = None) -> FastAPI:
    return create_app(SPEC, settings)
