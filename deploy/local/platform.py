"""Start the four services as separate processes against a given PostgreSQL server and broker.

Used by ``make up`` and by the end-to-end tests, so both run the services exactly the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from deploy.local.embedded import describe_exit
from shared.db import with_database
from shared.registry import SERVICE_PORTS, SERVICES

DEFAULT_PORTS = SERVICE_PORTS


@dataclass
class PlatformConfig:
    server_dsn: str  # any database on the server; each service gets its own database on it
    kafka_bootstrap: str
    operator_token: str
    smtp_port: int
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    database_prefix: str = "fmf"
    consumer_group_prefix: str = "fmf"
    log_dir: Path | None = None
    sms_gateway_url: str = ""  # empty: the services send no SMS
    extra_env: dict[str, str] = field(default_factory=dict)

    def database_url(self, service: str) -> str:
        return with_database(self.server_dsn, f"{self.database_prefix}_{service}")

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self, service: str) -> dict[str, str]:
        """The environment of ``service``'s process: this process's own, every ``FMF_`` setting included (a
        service reads only the settings of its own class, so the others do no harm), then where this
        platform's servers and ports are, then ``extra_env`` over all."""
        env = dict(os.environ)
        env.update(
            {
                "FMF_DATABASE_URL": self.database_url(service),
                "FMF_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
                "FMF_HTTP_PORT": str(self.ports[service]),
                "FMF_OPERATOR_TOKEN": self.operator_token,
                "FMF_SMTP_HOST": "127.0.0.1",
                "FMF_SMTP_PORT": str(self.smtp_port),
                "FMF_CONSUMER_GROUP_PREFIX": self.consumer_group_prefix,
            }
        )
        if "registration" in self.ports:  # the links in messages (confirm a sign-up, manage a place) lead here
            env["FMF_PUBLIC_BASE_URL"] = self.url("registration")
        if "reporting" in self.ports:  # the console opens reporting's dashboards there
            env["FMF_REPORTING_URL"] = self.url("reporting")
        # Plain http on 127.0.0.1: the console's session cookie cannot be Secure here.
        env["FMF_CONSOLE_COOKIE_SECURE"] = "false"
        if self.sms_gateway_url:
            env["FMF_SMS_GATEWAY_URL"] = self.sms_gateway_url
        env.update(self.extra_env)
        return env


class ServiceProcesses:
    def __init__(self, config: PlatformConfig, services: tuple[str, ...] = SERVICES) -> None:
        self.config = config
        self.services = services
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for name in self.services:
            self.start_one(name)

    def start_one(self, name: str) -> None:
        """Start service ``name`` (again), without waiting for it to be ready."""
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.config.log_dir is not None:
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.config.log_dir / f"{name}.log", "ab")  # noqa: SIM115
        try:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                env=self.config.env(name),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the runner, which stops the services in order
            )
        finally:
            if not isinstance(out, int):
                out.close()  # the service keeps its own copy

    def stop_one(self, name: str, timeout_s: float = 15.0) -> None:
        """Stop service ``name`` (SIGTERM, SIGKILL after ``timeout_s``), if it runs."""
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def ready(self, name: str) -> bool:
        """Whether service ``name`` answers its /readyz with 200."""
        try:
            return httpx.get(self.config.url(name) + "/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def part(self, name: str) -> ServicePart:
        """Service ``name`` as a part the supervisor can restart (``deploy/local/supervision.py``)."""
        return ServicePart(self, name)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(self.services)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name in sorted(pending):
                    proc = self.procs[name]
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited with {proc.returncode} while starting")
                    try:
                        if client.get(self.config.url(name) + "/readyz").status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout_s} s: {', '.join(sorted(pending))}")
                time.sleep(0.1)

    def dead(self) -> list[str]:
        return [name for name, p in self.procs.items() if p.poll() is not None]

    def stop(self, timeout_s: float = 15.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


class ServicePart:
    """One service of a ``ServiceProcesses``, as the supervisor sees it."""

    def __init__(self, processes: ServiceProcesses, name: str) -> None:
        self.processes = processes
        self.name = name

    def start(self) -> None:
        """Start the service again (its readiness is watched apart)."""
        self.processes.start_one(self.name)

    def stop(self) -> None:
        """Stop the service, if it runs."""
        self.processes.stop_one(self.name)

    def ready(self) -> bool:
        """Whether it answers /readyz with 200."""
        return self.processes.ready(self.name)

    def exit_reason(self) -> str | None:
        """``None`` while the service runs; else how it ended."""
        proc = self.processes.procs.get(self.name)
        if proc is None:
            return "is not running"
        code = proc.poll()
        return None if code is None else describe_exit(code)

    def pid(self) -> int | None:
        """The service's process id."""
        proc = self.processes.procs.get(self.name)
        return proc.pid if proc is not None else None
