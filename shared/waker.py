"""Wake a loop on PostgreSQL ``NOTIFY``, with a poll as the fallback.

Used by the outbox relay (channel ``fmf_outbox``) and the notification sender (``fmf_notifications``)::

    async with Waker(dsn, "fmf_outbox", poll_interval_s=1.0) as waker:
        while True:
            await do_a_round()
            await waker.wait()   # a NOTIFY on the channel, or poll_interval_s seconds, whichever comes first

The listener is one connection of its own (``LISTEN`` needs a session; a pooled connection would lose it
on release). When that connection is lost (the server restarted, the backend was terminated, the network
broke), it is opened again in the background, after ``reconnect_min_s`` seconds at first, doubling on every
failed attempt up to ``reconnect_max_s`` seconds. Meanwhile the poll goes on, so the loop is never
stuck; and once listening again the waker wakes its loop at once, because a NOTIFY sent while nobody
listened is lost. A connection that goes silent without closing (a half-open TCP connection) is found by
a ``SELECT 1`` every ``check_interval_s`` seconds.

All durations are in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

_CONNECTION_TROUBLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)

Connect = Callable[[str], Awaitable[Any]]  # asyncpg.connect, or a stand-in in tests


class Waker:
    """Wakes ``wait()`` on a NOTIFY of ``channel``, else after ``poll_interval_s`` seconds.

    - ``poll_interval_s``: longest ``wait()`` without a NOTIFY (seconds, > 0).
    - ``gather_s``: after a NOTIFY, how long ``wait()`` lingers so that the commits of a busy moment are
      handled in one round (seconds, >= 0; 0: return at once).
    - ``reconnect_min_s`` / ``reconnect_max_s``: the first and the longest pause between two attempts to
      open the listener's connection again (seconds; the pause doubles after each failed attempt).
    - ``check_interval_s``: how often a quiet listener's connection is checked with ``SELECT 1``
      (seconds); a check that fails or takes longer than ``check_timeout_s`` seconds reopens it.

    A NOTIFY that arrives while nobody waits is not lost: the next ``wait()`` returns at once. Several
    tasks may wait on one waker; a NOTIFY wakes all of them. Use it as an async context manager: it
    listens from ``__aenter__`` (without waiting for the database) to ``__aexit__``.
    """

    def __init__(
        self,
        dsn: str,
        channel: str,
        *,
        poll_interval_s: float,
        gather_s: float = 0.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        check_interval_s: float = 30.0,
        check_timeout_s: float = 10.0,
        connect: Connect = asyncpg.connect,
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be more than 0 seconds")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ValueError("0 < reconnect_min_s <= reconnect_max_s, in seconds")
        self.dsn = dsn
        self.channel = channel
        self.poll_interval_s = poll_interval_s
        self.gather_s = gather_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.check_interval_s = check_interval_s
        self.check_timeout_s = check_timeout_s
        self._connect = connect
        self._woken = asyncio.Event()
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pause = reconnect_min_s  # before the next attempt to connect
        self.connections = 0  # listener connections opened so far (the first one and each reconnect)
        self.backend_pid: int | None = None  # the listener's server process while it listens, else None

    async def __aenter__(self) -> Waker:
        self._task = asyncio.create_task(self._keep_listening(), name=f"waker-{self.channel}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Wake the waiters now, as a NOTIFY does."""
        self._woken.set()

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def until_listening(self) -> None:
        """Return once the listener's connection is open and LISTENs (at once if it does)."""
        await self._listening.wait()

    async def wait(self) -> bool:
        """Wait for a NOTIFY (True) or ``poll_interval_s`` seconds (False)."""
        try:
            await asyncio.wait_for(self._woken.wait(), self.poll_interval_s)
        except TimeoutError:
            return False
        if self.gather_s > 0:
            await asyncio.sleep(self.gather_s)
        self._woken.clear()
        return True

    def _notified(self, *_: object) -> None:
        self._woken.set()

    async def _keep_listening(self) -> None:
        while True:
            conn: Any = None
            try:
                conn = await self._connect(self.dsn)
                await self._listen_on(conn)
            except Exception as exc:  # whatever it was, the waker keeps trying: its loop must not go deaf
                log.log(
                    logging.WARNING if isinstance(exc, _CONNECTION_TROUBLE) else logging.ERROR,
                    "lost the NOTIFY listener; listening again" if self.listening else "cannot LISTEN; trying again",
                    extra={"channel": self.channel, "error": repr(exc), "retry_in_s": self._pause},
                )
            finally:
                self._listening.clear()
                self.backend_pid = None
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), self.check_timeout_s)
            await asyncio.sleep(self._pause)
            self._pause = min(self._pause * 2, self.reconnect_max_s)

    async def _listen_on(self, conn: Any) -> None:
        """LISTEN on ``conn`` until it is lost; then raise ``ConnectionError``."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda *_: lost.set())
        await conn.add_listener(self.channel, self._notified)
        self.connections += 1
        self.backend_pid = conn.get_server_pid()
        self._pause = self.reconnect_min_s
        self._listening.set()
        if self.connections > 1:
            log.info("listening for NOTIFY again", extra={"channel": self.channel})
        # Whatever was notified while nobody listened is lost: have the loop look now.
        self._woken.set()
        while not (lost.is_set() or conn.is_closed()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self.check_interval_s)
            if not (lost.is_set() or conn.is_closed()):
                await asyncio.wait_for(conn.execute("SELECT 1"), self.check_timeout_s)
        raise ConnectionError("the listener's connection was closed")
