"""While a reporting service runs, it holds a shared advisory lock, so a rebuild can tell and refuse."""

from __future__ import annotations

import asyncio

import asyncpg

from shared import locks
from shared.service import Runtime


async def hold_running_lock(runtime: Runtime) -> None:
    conn = await asyncpg.connect(runtime.settings.database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock_shared($1)", locks.REPORTING_RUNNING)
        await asyncio.Event().wait()  # until the service stops and cancels this task
    finally:
        await conn.close()
