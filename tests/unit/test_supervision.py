"""The supervisor of `make up` alone: its restart pauses, on a clock of the test's own (nothing started)."""

from __future__ import annotations

import re

from deploy.local.runner import RESTART_BACKOFF
from deploy.local.supervision import Supervisor


class _FlakyPart:
    """A part that is up or down as the test says, and fails to start as often as it is told."""

    name = "flaky"

    def __init__(self) -> None:
        self.up = True
        self.failing_starts = 0
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        if self.failing_starts:
            self.failing_starts -= 1
            raise RuntimeError("port taken")
        self.up = True

    def stop(self) -> None:
        self.up = False

    def exit_reason(self) -> str | None:
        return None if self.up else "exited with 1"

    def pid(self) -> int | None:
        return 4242 if self.up else None


def test_the_pause_doubles_to_30_s_and_starts_over_after_a_minute_up() -> None:
    """The supervisor's rule alone, on a clock of the test's own (no runner needed)."""
    now = [0.0]
    said: list[str] = []
    supervisor = Supervisor(RESTART_BACKOFF, log=said.append, clock=lambda: now[0])
    part = _FlakyPart()
    supervisor.watch(part)

    pauses = []
    for _ in range(8):  # dies right after each restart
        part.up = False
        supervisor.check()
        pauses.append(float(re.findall(r"restarting in ([\d.]+) s", said[-1])[0]))
        now[0] += pauses[-1]
        supervisor.check()
        assert part.up
    assert pauses == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert said[0] == "flaky exited with 1; restarting in 0.5 s (attempt 1)"
    assert said[1].startswith("flaky restarted (pid 4242), 0.5 s after it went down")

    part.failing_starts = 1  # a failed start counts as an attempt too
    now[0] += 10
    part.up = False
    supervisor.check()
    now[0] += 30
    supervisor.check()
    assert "flaky did not start again (port taken); restarting in 30 s (attempt 10)" in said
    now[0] += 30
    supervisor.check()
    assert part.up

    now[0] += 61  # up a minute: the next death is the first again
    part.up = False
    supervisor.check()
    assert said[-1] == "flaky exited with 1; restarting in 0.5 s (attempt 1)"
