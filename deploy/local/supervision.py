"""Keep ``make up``'s parts running: a part that dies is started again, with a growing pause in between.

A part is anything with a name that can be started, stopped and asked whether it still runs: the embedded
PostgreSQL and broker (``deploy/local/embedded.py``), the mail and SMS sinks (``SinkProcess`` here) and each
service (``ServicePart`` in ``deploy/local/platform.py``). The ``Supervisor`` only restarts: the runner
starts everything the first time (waiting for each to be ready) and stops everything in the reverse order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from deploy.local.embedded import describe_exit, terminate, wait_for_port


class Part(Protocol):
    """What the supervisor needs of a part."""

    name: str

    def start(self) -> None:
        """Start it and return once it serves (or raise)."""

    def stop(self) -> None:
        """Stop it, if it runs."""

    def exit_reason(self) -> str | None:
        """``None`` while it runs; else how it ended, in words ("exited with -9")."""

    def pid(self) -> int | None:
        """The process id it runs as, if it runs."""


@dataclass(frozen=True)
class Backoff:
    """The pause before restart ``attempt`` (1, 2, ...): ``first_s``, doubling up to ``longest_s``. A part
    that stayed up ``reset_after_s`` starts over at attempt 1 the next time it dies."""

    first_s: float = 0.5
    longest_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart ``attempt``."""
        return float(min(self.longest_s, self.first_s * 2 ** max(0, attempt - 1)))


@dataclass
class _Watched:
    part: Part
    after_start: Callable[[], None] | None
    ready: Callable[[], bool] | None
    up_since: float
    attempt: int = 0
    down_since: float | None = None
    restart_at: float | None = None
    waiting_for_ready: bool = False


class Supervisor:
    """Restarts the parts it watches when they die, each with its own ``Backoff``; says so on ``log``."""

    def __init__(
        self,
        backoff: Backoff | None = None,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff = backoff or Backoff()
        self.log = log or (lambda line: print(line, flush=True))
        self.clock = clock
        self._watched: list[_Watched] = []

    def watch(
        self,
        part: Part,
        after_start: Callable[[], None] | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        """Watch ``part`` (already started). ``after_start`` runs after each restart (create the topics
        again on a broker that lost them); ``ready``, if given, tells when a restarted part serves again."""
        self._watched.append(_Watched(part, after_start, ready, up_since=self.clock()))

    def run_until(self, stop: threading.Event, every_s: float = 0.2) -> None:
        """Check the parts every ``every_s`` until ``stop`` is set."""
        while not stop.wait(every_s):
            self.check()

    def check(self) -> None:
        """One round: notice the parts that died, restart those whose pause is over."""
        for watched in self._watched:
            if watched.restart_at is None:
                self._notice_exit(watched)
            elif self.clock() >= watched.restart_at:
                self._restart(watched)
            if watched.waiting_for_ready and watched.ready is not None and watched.restart_at is None:
                self._notice_ready(watched)

    def _notice_exit(self, watched: _Watched) -> None:
        reason = watched.part.exit_reason()
        if reason is None:
            return
        now = self.clock()
        if now - watched.up_since >= self.backoff.reset_after_s:
            watched.attempt = 0
        watched.down_since = now
        watched.waiting_for_ready = False
        self._schedule(watched, f"{watched.part.name} {reason}")

    def _schedule(self, watched: _Watched, what_happened: str) -> None:
        watched.attempt += 1
        delay = self.backoff.delay(watched.attempt)
        watched.restart_at = self.clock() + delay
        self.log(f"{what_happened}; restarting in {delay:g} s (attempt {watched.attempt})")

    def _restart(self, watched: _Watched) -> None:
        part = watched.part
        try:
            part.start()
            if watched.after_start is not None:
                watched.after_start()
        except Exception as exc:
            try:
                part.stop()
            except Exception as stop_exc:
                self.log(f"{part.name} could not be stopped either: {stop_exc}")
            self._schedule(watched, f"{part.name} did not start again ({_in_short(exc)})")
            return
        now = self.clock()
        down_for = now - (now if watched.down_since is None else watched.down_since)
        self.log(f"{part.name} restarted (pid {part.pid()}), {down_for:.1f} s after it went down")
        watched.restart_at = None
        watched.up_since = now
        watched.waiting_for_ready = watched.ready is not None

    def _notice_ready(self, watched: _Watched) -> None:
        assert watched.ready is not None
        try:
            ready = watched.ready()
        except Exception:
            ready = False
        if ready:
            watched.waiting_for_ready = False
            now = self.clock()
            down_for = now - (now if watched.down_since is None else watched.down_since)
            self.log(f"{watched.part.name} is ready again, {down_for:.1f} s after it went down")


def _in_short(exc: Exception) -> str:
    """A failed start in one line: for a command that failed, the last line it wrote to stderr."""
    if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
        said = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
        if lines := [line.strip() for line in said.splitlines() if line.strip()]:
            return f"{Path(str(exc.cmd[0])).name}: {lines[-1]}"
    return str(exc) or type(exc).__name__


class SinkProcess:
    """A local sink run as ``python -m <module> <folder> <port>``, so that it can die and be restarted on
    its own (the mail sink, the SMS sink)."""

    def __init__(self, name: str, module: str, folder: Path, port: int, log_path: Path | None = None) -> None:
        self.name = name
        self.module = module
        self.folder = folder
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the sink and wait until its port answers."""
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.log_path is not None:
            out = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps its own copy)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, str(self.folder), str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(os.environ),
                start_new_session=True,  # Ctrl-C reaches the runner only, which stops the sinks in order
            )
        finally:
            if not isinstance(out, int):
                out.close()
        wait_for_port(self.port, timeout_s=30, proc=self.proc)

    def stop(self) -> None:
        """Stop the sink (SIGTERM, then SIGKILL after 10 s)."""
        terminate(self.proc)
        self.proc = None

    def exit_reason(self) -> str | None:
        """How the sink ended, or ``None`` while it runs."""
        if self.proc is None:
            return "is not running"
        code = self.proc.poll()
        return None if code is None else describe_exit(code)

    def pid(self) -> int | None:
        """The sink's process id."""
        return self.proc.pid if self.proc is not None else None


def serve_until_stopped(start: Callable[[], object], stop: Callable[[], object]) -> None:
    """Run a sink's ``python -m`` entry point: start it, wait for SIGTERM or SIGINT, stop it."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    start()
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        stop()
