"""The participant pages, server-rendered in the participant's language (``shared.i18n``): the tenant's
public page, a meeting with its sign-up form, the confirmation, manage and erasure links. Plain HTML forms
with a CSRF token, no JavaScript; built on the same use cases as the JSON API."""

from __future__ import annotations

from fastapi import APIRouter

from services.registration.pages import participant, public

router = APIRouter()
router.include_router(public.router)
router.include_router(participant.router)
