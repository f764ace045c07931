"""Background work of the registration service."""

from __future__ import annotations

import asyncio

from services.registration.usecases import meetings, participants, signups
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


async def close_registration(runtime: Runtime) -> None:
    """Every half minute (by default): close registration of the published meetings whose closing time has
    come (``registration_closes_at``, at the latest the start), with the same event and roster as the
    coordinator's close, so that matching proposes the pairs."""
    while True:
        await meetings.close_due(runtime.db)
        await asyncio.sleep(runtime.settings.registration_close_interval_s)
