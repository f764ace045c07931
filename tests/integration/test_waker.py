"""The waker against PostgreSQL: a NOTIFY wakes it, and after its listener's backend is terminated it
listens again on a new connection, so a later NOTIFY still wakes it."""

from __future__ import annotations

import asyncio

import asyncpg

from shared.waker import Waker
from tests.support import eventually

CHANNEL = "fmf_test_waker"
PATIENCE_S = 10.0  # for what should happen at once; the poll interval is far longer, so only a NOTIFY wakes


async def _listening_backend(conn: asyncpg.Connection, waker: Waker) -> int | None:
    """The waker's backend, once it listens and the server shows it as a session of this database."""
    pid = waker.backend_pid if waker.listening else None
    if pid is None:
        return None
    alive = await conn.fetchval(
        "SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $1 AND datname = current_database()", pid
    )
    return pid if alive else None


async def _woken_by_notify(conn: asyncpg.Connection, waker: Waker) -> bool:
    waiting = asyncio.create_task(waker.wait())
    await asyncio.sleep(0)  # the waiter waits before the NOTIFY is sent
    await conn.execute(f"NOTIFY {CHANNEL}")
    return await asyncio.wait_for(waiting, PATIENCE_S)


async def test_a_notify_wakes_the_waker_also_after_its_backend_was_terminated(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        async with Waker(database, CHANNEL, poll_interval_s=3600.0, reconnect_min_s=0.05, reconnect_max_s=1.0) as waker:
            first = await eventually(lambda: _listening_backend(conn, waker), timeout_s=PATIENCE_S, every_s=0.02)
            # The wake of listening at all (a NOTIFY before it may have been missed), then a NOTIFY's.
            assert await asyncio.wait_for(waker.wait(), PATIENCE_S) is True
            assert await _woken_by_notify(conn, waker) is True

            assert await conn.fetchval("SELECT pg_terminate_backend($1)", first) is True

            async def listening_again() -> int | None:
                pid = await _listening_backend(conn, waker)
                return pid if pid not in (None, first) else None

            second = await eventually(listening_again, timeout_s=PATIENCE_S, every_s=0.02)
            assert waker.connections == 2
            # The wake of listening again, then a NOTIFY sent after the loss wakes it.
            assert await asyncio.wait_for(waker.wait(), PATIENCE_S) is True
            assert await _woken_by_notify(conn, waker) is True
            assert waker.backend_pid == second and waker.connections == 2  # woken by the NOTIFY, not a reconnect
        assert not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", second)
    finally:
        await conn.close()
