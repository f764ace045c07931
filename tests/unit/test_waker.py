"""The waker's wake and poll logic and its reconnects, against a stand-in for the listener's connection
(tests/integration/test_waker.py shows the same against PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from shared.waker import Waker

CHANNEL = "fmf_test"
PATIENCE_S = 5.0  # how long a test waits for something that should happen at once


class FakeConnection:
    """What the waker uses of an asyncpg connection."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.closed = False
        self.hung = False  # a half-open connection: queries never answer
        self.listeners: dict[str, Callable[..., None]] = {}
        self.on_termination: list[Callable[..., None]] = []

    def add_termination_listener(self, callback: Callable[..., None]) -> None:
        self.on_termination.append(callback)

    async def add_listener(self, channel: str, callback: Callable[..., None]) -> None:
        self.listeners[channel] = callback

    def get_server_pid(self) -> int:
        return self.pid

    def is_closed(self) -> bool:
        return self.closed

    async def execute(self, query: str) -> str:
        if self.hung:
            await asyncio.Event().wait()
        return "SELECT 1"

    async def close(self) -> None:
        self.closed = True

    def notify(self) -> None:
        self.listeners[CHANNEL](self, self.pid, CHANNEL, "")

    def lose(self) -> None:
        self.closed = True
        for callback in self.on_termination:
            callback(self)


class FakeServer:
    """Hands out connections; fails the next ``failures`` attempts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.connections: list[FakeConnection] = []

    async def connect(self, dsn: str) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("the database is down")
        conn = FakeConnection(pid=100 + len(self.connections))
        self.connections.append(conn)
        return conn


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` to hold, PATIENCE_S at most."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_S
    while True:
        if condition():
            return
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def waker(server: FakeServer, **options: Any) -> Waker:
    options = {"poll_interval_s": 3600.0, "reconnect_min_s": 0.001, "reconnect_max_s": 0.004, **options}
    return Waker("postgresql://fake", CHANNEL, connect=server.connect, **options)


async def test_without_a_notify_it_wakes_after_the_poll_interval() -> None:
    server = FakeServer()
    async with waker(server, poll_interval_s=0.02) as w:
        await asyncio.wait_for(w.until_listening(), PATIENCE_S)
        assert await w.wait() is True  # at once: whatever was notified before it listened
        assert await asyncio.wait_for(w.wait(), PATIENCE_S) is False  # the poll


async def test_a_notify_wakes_it_and_one_sent_while_nobody_waits_is_not_lost() -> None:
    server = FakeServer()
    async with waker(server) as w:
        await asyncio.wait_for(w.until_listening(), PATIENCE_S)
        assert await asyncio.wait_for(w.wait(), PATIENCE_S) is True
        waiting = asyncio.create_task(w.wait())
        await asyncio.sleep(0)
        assert not waiting.done()
        server.connections[0].notify()
        assert await asyncio.wait_for(waiting, PATIENCE_S) is True
        server.connections[0].notify()  # nobody waits now
        assert await asyncio.wait_for(w.wait(), PATIENCE_S) is True


async def test_a_notify_wakes_every_waiter() -> None:
    server = FakeServer()
    async with waker(server) as w:
        await asyncio.wait_for(w.until_listening(), PATIENCE_S)
        await asyncio.wait_for(w.wait(), PATIENCE_S)
        waiters = [asyncio.create_task(w.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        server.connections[0].notify()
        assert await asyncio.wait_for(asyncio.gather(*waiters), PATIENCE_S) == [True, True, True]


async def test_it_listens_again_after_the_connection_is_lost() -> None:
    server = FakeServer()
    async with waker(server) as w:
        await asyncio.wait_for(w.until_listening(), PATIENCE_S)
        await asyncio.wait_for(w.wait(), PATIENCE_S)
        server.connections[0].lose()
        await until(lambda: w.connections == 2 and w.listening)
        assert w.backend_pid == server.connections[1].pid
        assert await asyncio.wait_for(w.wait(), PATIENCE_S) is True  # a notify may have been missed meanwhile
        waiting = asyncio.create_task(w.wait())
        await asyncio.sleep(0)
        server.connections[1].notify()
        assert await asyncio.wait_for(waiting, PATIENCE_S) is True
    assert all(conn.closed for conn in server.connections)


async def test_a_silent_connection_is_found_by_the_check_and_replaced() -> None:
    server = FakeServer()
    async with waker(server, check_interval_s=0.005, check_timeout_s=0.005) as w:
        await asyncio.wait_for(w.until_listening(), PATIENCE_S)
        server.connections[0].hung = True
        await until(lambda: w.connections == 2 and w.listening)
        assert server.connections[0].closed


async def test_reconnecting_backs_off_doubling_up_to_the_longest_pause(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer(failures=5)
    caplog.set_level(logging.WARNING, logger="shared.waker")
    async with waker(server, reconnect_min_s=0.001, reconnect_max_s=0.004) as w:
        await asyncio.wait_for(w.until_listening(), PATIENCE_S)
        pauses = [record.retry_in_s for record in caplog.records]  # type: ignore[attr-defined]
        assert pauses == [0.001, 0.002, 0.004, 0.004, 0.004]
        # Once it listens, the next loss starts again from the shortest pause.
        caplog.clear()
        server.connections[0].lose()
        await until(lambda: w.connections == 2 and w.listening)
        assert [record.retry_in_s for record in caplog.records] == [0.001]  # type: ignore[attr-defined]


async def test_it_waits_for_nothing_on_entry_and_polls_while_the_database_is_down() -> None:
    server = FakeServer(failures=10**6)
    async with waker(server, poll_interval_s=0.01, reconnect_min_s=0.01, reconnect_max_s=0.01) as w:
        assert await asyncio.wait_for(w.wait(), PATIENCE_S) is False
        assert not w.listening and w.backend_pid is None


def test_the_intervals_must_make_sense() -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        Waker("dsn", CHANNEL, poll_interval_s=0)
    with pytest.raises(ValueError, match="reconnect"):
        Waker("dsn", CHANNEL, poll_interval_s=1, reconnect_min_s=2, reconnect_max_s=1)
