"""Background work of the registration service."""

from __future__ import annotations

import asyncio

from services.registration.usecases import participants
from shared.service import Runtime


async def retention(runtime: Runtime) -> None:
    """Daily (by default): erase personal data that is past the tenant's retention time."""
    while True:
        await participants.erase_expired(runtime.db)
        await asyncio.sleep(runtime.settings.retention_interval_s)
