"""Background work of the registration service."""

from __future__ import annotations

import asyncio

from services.registration.usecases import participants, signups
from shared.service import Runtime


async def retention(runtime: Runtime) -> None:
    """Daily (by default): erase personal data that is past the tenant's retention time."""
    while True:
        await participants.erase_expired(runtime.db)
        await asyncio.sleep(runtime.settings.retention_interval_s)


async def expire_links(runtime: Runtime) -> None:
    """Every few minutes: close the sign-ups and erasure requests whose links were not used in time, so
    that their details and tokens do not outlive them."""
    while True:
        await signups.expire(runtime.db)
        await participants.expire_erasure_requests(runtime.db)
        await asyncio.sleep(runtime.settings.link_expiry_interval_s)
