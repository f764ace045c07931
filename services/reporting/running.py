"""While a reporting service runs, it holds a shared advisory lock, so a rebuild can tell and refuse."""

from __future__ import annotations

import asyncio

import asyncpg

from shared.service import Runtime

RUNNING_LOCK = 0x464D4652  # "FMFR"


async def hold_running_lock(runtime: Runtime) -> None:
    conn = await asyncpg.connect(runtime.settings.database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock_shared($1)", RUNNING_LOCK)
        await asyncio.Event().wait()  # until the service stops and cancels this task
    finally:
        await conn.close()
