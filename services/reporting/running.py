"""While a reporting service runs, it holds a shared advisory lock, so a rebuild can tell and refuse."""

from __future__ import annotations

import asyncio

import asyncpg

from services.reporting import store
from shared.service import Runtime


async def hold_running_lock(runtime: Runtime) -> None:
    """Hold the running lock on a connection of its own until the service stops (cancels this task)."""
    conn = await asyncpg.connect(runtime.settings.database_url)
    try:
        await store.hold_running_lock(conn)
        await asyncio.Event().wait()  # until the service stops and cancels this task
    finally:
        await conn.close()
