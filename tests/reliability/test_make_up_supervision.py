"""`make up`'s runner keeps the platform running: a part killed with SIGKILL (a service, the broker, the
embedded PostgreSQL, the mail or SMS sink) is started again on its port while the rest stays up, and every
``FMF_`` setting of the runner's environment reaches the services.

Processes are found by the port they listen on (``/proc``), not by what the runner prints, and only
processes the runner started (its children, or the PostgreSQL of this test's own data folder) are killed.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from shared.topics import ALL, TENANTS, connect_admin
from tests.support import end_offsets

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout_s: float = 60.0, every_s: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value after the timeout."""
    deadline = time.monotonic() + timeout_s
    last = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s; last value: {last!r}")
        time.sleep(every_s)
        last = check()
    return last


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(fields[9])
    return inodes


def pid_listening_on(port: int) -> int | None:
    """The process that listens on ``port`` on this machine, if any."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                if os.readlink(fd.path) in wanted:
                    return int(entry.name)
        except OSError:  # gone meanwhile, or not ours to look into
            continue
    return None


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@dataclass
class Runner:
    proc: subprocess.Popen[bytes]
    out: Path
    var: Path
    services: dict[str, int]  # name -> HTTP port
    broker_port: int
    smtp_port: int
    sms_port: int
    operator: str  # the operator's token

    def said(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def child_on(self, port: int) -> int:
        """The runner's own child process that listens on ``port``: only such a process is killed here."""
        pid = wait_until(lambda: pid_listening_on(port), timeout_s=30)
        assert pid is not None
        assert parent_of(pid) == self.proc.pid, f"port {port} is served by pid {pid}, not a child of the runner"
        return pid

    def service_pids(self) -> dict[str, int]:
        return {name: self.child_on(port) for name, port in self.services.items()}

    def ready(self, name: str) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.services[name]}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def all_ready(self) -> list[str]:
        """The services not ready (empty when all are)."""
        return [name for name in self.services if not self.ready(name)]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    tmp = tmp_path_factory.mktemp("make-up")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMF_")}
    env.update(
        {
            "FMF_VAR_DIR": str(tmp / "var"),
            "FMF_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "FMF_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            # Settings the runner itself does not read: they must reach the services all the same.
            "FMF_SMS_SENDER": "Testkommune",
            "FMF_MAX_BODY_BYTES": "1000",
        }
    )
    out = tmp / "runner.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.local.runner"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    try:

        def up_or_ended() -> str:
            text = out.read_text(errors="replace")
            return text if "Press Ctrl-C" in text or proc.poll() is not None else ""

        text = wait_until(up_or_ended, timeout_s=180, every_s=0.5)
        assert "Press Ctrl-C to stop" in text, text
        services = {
            name: int(port) for name, port in re.findall(r"^\s+(\w+)\s+http://127\.0\.0\.1:(\d+)/docs", text, re.M)
        }
        assert sorted(services) == ["matching", "notification", "registration", "reporting"]
        broker = re.search(r"Kafka\s+127\.0\.0\.1:(\d+)", text)
        smtp = re.search(r"SMTP sink\s+127\.0\.0\.1:(\d+)", text)
        sms = re.search(r"SMS sink\s+http://127\.0\.0\.1:(\d+)/sms", text)
        operator = re.search(r"Operator token:\s+(\S+)", text)
        assert broker and smtp and sms and operator, text
        yield Runner(proc, out, tmp / "var", services, int(broker[1]), int(smtp[1]), int(sms[1]), operator[1])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
        proc.wait(timeout=90)
    said = out.read_text(errors="replace")
    assert proc.returncode == 0, said[-3000:]
    assert "Stopped." in said
    assert not listening(int(broker[1])) and not [p for p in services.values() if listening(p)]
    assert not (tmp / "var" / "postgres" / "postmaster.pid").exists()


def test_every_fmf_setting_reaches_the_services(runner: Runner) -> None:
    pids = runner.service_pids()
    with httpx.Client(timeout=5) as http:
        for name, port in runner.services.items():
            # FMF_MAX_BODY_BYTES=1000 (the default is 64 KiB): a body of 2000 bytes is refused by every service.
            answer = http.post(f"http://127.0.0.1:{port}/v1/tenants", content=b"x" * 2000)
            assert answer.status_code == 413, (name, answer.status_code, answer.text)
    environ = Path(f"/proc/{pids['notification']}/environ").read_bytes().split(b"\0")
    assert b"FMF_SMS_SENDER=Testkommune" in environ


def test_a_killed_service_is_restarted_and_the_others_stay_up(runner: Runner) -> None:
    before = runner.service_pids()
    os.kill(before["notification"], signal.SIGKILL)

    wait_until(lambda: not alive(before["notification"]), timeout_s=10)
    said = r"notification exited with -9 \(SIGKILL\); restarting in [\d.]+ s \(attempt \d+\)"
    wait_until(lambda: re.search(said, runner.said()))
    wait_until(lambda: runner.ready("notification"))
    after = runner.service_pids()
    assert after["notification"] != before["notification"]
    others = {name: pid for name, pid in before.items() if name != "notification"}
    assert {name: after[name] for name in others} == others
    assert all(alive(pid) for pid in others.values())
    assert runner.proc.poll() is None
    wait_until(lambda: "notification is ready again" in runner.said())


def test_a_killed_broker_comes_back_on_its_port_with_the_topics(runner: Runner) -> None:
    services = runner.service_pids()
    broker = runner.child_on(runner.broker_port)
    os.kill(broker, signal.SIGKILL)

    wait_until(lambda: not alive(broker), timeout_s=10)
    again = runner.child_on(runner.broker_port)
    assert again != broker
    wait_until(lambda: re.search(r"broker exited with -9 \(SIGKILL\); restarting in", runner.said()))

    async def topics() -> set[str]:
        admin = await connect_admin(f"127.0.0.1:{runner.broker_port}")
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    wait_until(lambda: set(ALL) <= asyncio.run(topics()), timeout_s=30, every_s=0.5)
    # The services reconnect by themselves: none of them was stopped for it.
    wait_until(lambda: runner.all_ready() == [], timeout_s=60)
    assert runner.service_pids() == services
    assert runner.proc.poll() is None

    # Events flow again into the new broker: registration's outbox publishes a new tenant there.
    created = httpx.post(
        f"http://127.0.0.1:{runner.services['registration']}/v1/tenants",
        json={"slug": "etter-omstart", "name": "Etter omstart", "municipality_number": "9998"},
        headers={"Authorization": f"Bearer {runner.operator}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    bootstrap = f"127.0.0.1:{runner.broker_port}"
    wait_until(lambda: sum(asyncio.run(end_offsets(bootstrap, [TENANTS])).values()) > 0, timeout_s=60, every_s=0.5)


def test_a_killed_mail_sink_comes_back_and_keeps_mail(runner: Runner) -> None:
    sink = runner.child_on(runner.smtp_port)
    os.kill(sink, signal.SIGKILL)

    wait_until(lambda: not alive(sink), timeout_s=10)
    assert runner.child_on(runner.smtp_port) != sink
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "test@example.org", "person@example.org", "after a restart"
    mail.set_content("Hei igjen")
    with smtplib.SMTP("127.0.0.1", runner.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)
    kept = wait_until(lambda: [p for p in (runner.var / "mail").glob("*.eml") if b"after a restart" in p.read_bytes()])
    assert len(kept) == 1
    wait_until(lambda: re.search(r"mail sink exited with -9 \(SIGKILL\); restarting in", runner.said()))


def test_a_killed_sms_sink_comes_back(runner: Runner) -> None:
    sink = runner.child_on(runner.sms_port)
    os.kill(sink, signal.SIGKILL)

    wait_until(lambda: not alive(sink), timeout_s=10)
    assert runner.child_on(runner.sms_port) != sink
    sms = {"to": "+4791234567", "from": "Testkommune", "text": "Hei igjen", "reference": "after-restart"}
    answer = httpx.post(f"http://127.0.0.1:{runner.sms_port}/sms", json=sms, timeout=5)
    assert answer.status_code == 200, answer.text
    assert list((runner.var / "sms").glob("*-after-restart.txt"))


def test_a_killed_postgres_comes_back_and_the_services_with_it(runner: Runner) -> None:
    services = runner.service_pids()
    # The embedded PostgreSQL of this test's own data folder (pg_ctl started it, so it is no child).
    postmaster = int((runner.var / "postgres" / "postmaster.pid").read_text().split()[0])
    assert alive(postmaster)
    os.kill(postmaster, signal.SIGKILL)

    wait_until(lambda: not alive(postmaster), timeout_s=10)
    wait_until(lambda: "postgres is gone" in runner.said())
    wait_until(lambda: (pid := pid_listening_on_pg(runner)) is not None and pid != postmaster, timeout_s=60)
    wait_until(lambda: runner.all_ready() == [], timeout_s=60)
    assert runner.service_pids() == services
    assert runner.proc.poll() is None


def pid_listening_on_pg(runner: Runner) -> int | None:
    match = re.search(r"PostgreSQL\s+postgresql://postgres@127\.0\.0\.1:(\d+)/", runner.said())
    assert match is not None
    return pid_listening_on(int(match[1]))
