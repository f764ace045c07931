"""Faults under load: ``python -m bench.faults [--signups 300] [--rate 20] [--only broker,pg-stop,...]``.

Starts PostgreSQL (embedded, unless FMF_DATABASE_URL is set) and a recording SMTP server once; each trial
gets a platform of its own: a fresh Tansu broker, the four services as processes (``ServiceProcesses``)
with fresh databases and consumer groups, or, for the service kill, ``make up``'s runner with its own
embedded servers and mail sink. Each trial runs a stream of coordinator sign-ups through HTTP (each one
``registration.confirmed`` and one confirmation mail), one every 1/``--rate`` s, and injects its fault a
quarter of the way in:

1. ``broker``: the broker killed with SIGKILL and started again, empty, on the same port (its topics
   created again, as ``make up``'s supervisor does);
2. ``pg-stop``: PostgreSQL stopped (``pg_ctl stop -m fast``) for ``--outage`` s, then started again;
3. ``pg-freeze``: PostgreSQL and all its backends frozen with SIGSTOP for ``--outage`` s, then SIGCONT;
4. ``kill``: notification killed with SIGKILL; under ``make up``'s runner its supervisor restarts it, else
   the bench starts it again after 2 s (the row says which);
5. ``poison``: on every partition of every consumed topic, bytes that are no envelope, an envelope whose
   payload does not validate and one of an unknown type; then ``fmf dlq replay`` twice.

Each row's figures come from the platform: answers as the HTTP client got them; mails expected = the
confirmed registrations of the trial's meeting in registration's database; mails delivered and duplicates
from the SMTP server (make up's mail sink for the kill trial); events lost = events in the four outboxes
that a consumer group routes but had not claimed in its inbox when the platform recovered (or the trial
gave up waiting), plus sign-ups answered 2xx that registration does not hold; dead letters from the
dead-letter topics. Recovery is from the end of the fault (the restart, the SIGCONT; for a supervised kill,
the kill itself) to the last expected mail, and to the platform's quiet (outboxes drained, every group at
the end of its topics, nothing due unsent).

Exits 1 if any trial lost an event, left an expected mail undelivered or delivered one twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.utils
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import asyncpg
import httpx
import psutil

from deploy.local.embedded import EmbeddedPostgres, TansuBroker, free_ports
from deploy.local.platform import SERVICES, PlatformConfig, ServiceProcesses
from shared import db
from shared.topics import ensure_topics
from tests.conftest import TEST_PARTITIONS, platform_config
from tests.registration_support import RegistrationApi, Tenant
from tests.reliability.support import account, dead_letters, dlq_replay, publish_poison, unpublished
from tests.support import RecordingSmtpHandler, platform_backlog, start_smtp

TRIALS = ("broker", "pg-stop", "pg-freeze", "kill", "poison")
FAULT_NAMES = {
    "broker": "broker SIGKILL, restarted empty",
    "pg-stop": "PostgreSQL stopped",
    "pg-freeze": "PostgreSQL SIGSTOP",
    "kill": "notification SIGKILL",
    "poison": "poison on every topic",
}
TUNING = {
    "FMF_TOPIC_PARTITIONS": str(TEST_PARTITIONS),
    "FMF_KAFKA_SESSION_TIMEOUT_MS": "3000",
    "FMF_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "FMF_OUTBOX_POLL_INTERVAL_S": "0.5",
    "FMF_SENDER_POLL_INTERVAL_S": "0.5",
    "FMF_RATE_LIMITS_ENABLED": "false",
}


@dataclass
class Row:
    fault: str
    attempted: int | None = None
    ok: int | None = None
    unavailable: int | None = None  # 503
    other: int | None = None
    mails_expected: int | None = None
    mails_delivered: int | None = None
    duplicates: int | None = None
    lost: int | None = None
    dlq_after_1: int | None = None
    dlq_after_2: int | None = None
    recovery_s: float | None = None  # end of the fault -> last expected mail
    quiet_s: float | None = None  # end of the fault -> platform quiet
    notes: list[str] = field(default_factory=list)
    unavailable_reason: str | None = None

    @property
    def failed(self) -> bool:
        if self.unavailable_reason is not None:
            return False
        undelivered = (self.mails_expected or 0) - (self.mails_delivered or 0)
        return bool(self.lost) or bool(self.duplicates) or undelivered > 0


@dataclass
class Mail:
    received_at: float
    to: str
    message_id: str


class Mailbox(Protocol):
    def mails(self, domain: str) -> list[Mail]: ...


class RecorderMailbox:
    def __init__(self, handler: RecordingSmtpHandler) -> None:
        self.handler = handler

    def mails(self, domain: str) -> list[Mail]:
        return [
            Mail(m.received_at, addr.lower(), str(m.message["Message-ID"]))
            for m in self.handler.to_domain(domain)
            for addr in m.to
            if addr.lower().endswith("@" + domain)
        ]


class FolderMailbox:
    """make up's mail sink: one .eml file per mail accepted."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: dict[Path, list[Mail]] = {}

    def mails(self, domain: str) -> list[Mail]:
        for path in sorted(self.folder.glob("*.eml")) if self.folder.is_dir() else []:
            if path in self.seen:
                continue
            try:
                message = email.message_from_bytes(path.read_bytes())
                received = path.stat().st_mtime
            except OSError:
                continue
            addresses = [a.lower() for _, a in email.utils.getaddresses(message.get_all("To", []))]
            self.seen[path] = [Mail(received, a, str(message["Message-ID"])) for a in addresses]
        return [m for mails in self.seen.values() for m in mails if m.to.endswith("@" + domain)]


@dataclass
class Platform:
    config: PlatformConfig
    mailbox: Mailbox
    processes: ServiceProcesses | None = None  # the bench's own (None under make up's runner)
    broker: TansuBroker | None = None
    runner_pids: dict[str, int] = field(default_factory=dict)  # the parts make up's runner started
    supervised: bool = False


@dataclass
class Answers:
    statuses: list[int] = field(default_factory=list)  # 0: no answer (timeout, refused)
    acknowledged: set[str] = field(default_factory=set)  # e-mails of sign-ups answered 2xx
    others: Counter[str] = field(default_factory=Counter)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.folder = Path(tempfile.mkdtemp(prefix="fmf-bench-faults-"))
        self.postgres: EmbeddedPostgres | None = None
        self.server_dsn = os.environ.get("FMF_DATABASE_URL", "")
        self.smtp_port = 0
        self.recorder: RecordingSmtpHandler | None = None

    # --- infrastructure ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def infrastructure(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            if not self.args.keep:
                stack.callback(shutil.rmtree, self.folder, True)
            else:
                print(f"logs and data kept in {self.folder}", flush=True)
            if not self.server_dsn:
                self.postgres = EmbeddedPostgres(self.folder / "postgres")
                self.postgres.start()
                stack.callback(self.postgres.destroy)
                self.server_dsn = self.postgres.dsn
            (self.smtp_port,) = free_ports(1)
            controller, self.recorder = start_smtp(self.smtp_port)
            stack.callback(controller.stop)
            yield

    @contextlib.asynccontextmanager
    async def own_platform(self, name: str) -> AsyncIterator[Platform]:
        """A fresh broker and the four services as processes, with fresh databases."""
        assert self.recorder is not None
        log_dir = self.folder / name
        log_dir.mkdir(parents=True, exist_ok=True)
        broker = TansuBroker(log_path=log_dir / "tansu.log")
        broker.start()
        platform = Platform(
            platform_config(self.server_dsn, broker.bootstrap, self.smtp_port, log_dir), RecorderMailbox(self.recorder)
        )
        platform.broker = broker
        processes = ServiceProcesses(platform.config)
        platform.processes = processes
        try:
            await ensure_topics(broker.bootstrap, TEST_PARTITIONS)
            processes.start()
            await asyncio.to_thread(processes.wait_ready, 90.0)
            yield platform
        finally:
            await asyncio.to_thread(processes.stop)
            if platform.broker is not None:
                platform.broker.stop()
            for service in SERVICES:
                with contextlib.suppress(Exception):
                    await db.drop_database(platform.config.database_url(service))

    @contextlib.asynccontextmanager
    async def runner_platform(self) -> AsyncIterator[Platform]:
        """``make up``'s runner (``python -m deploy.local.runner``) with embedded servers of its own, in a
        directory of its own; what it prints says where everything is."""
        var = self.folder / "make-up"
        var.mkdir(parents=True, exist_ok=True)
        pg_port, smtp_port, sms_port = free_ports(3)
        token = secrets.token_urlsafe(24)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FMF_")}
        env.update(TUNING)
        env.update(
            {
                "FMF_VAR_DIR": str(var),
                "FMF_PG_PORT": str(pg_port),
                "FMF_SMTP_PORT": str(smtp_port),
                "FMF_SMS_SINK_PORT": str(sms_port),
                "FMF_OPERATOR_TOKEN": token,
            }
        )
        out_path = var / "runner.out"
        runner = await asyncio.to_thread(_start_runner, env, out_path)
        try:
            text = await _wait_for_output(runner, out_path, "Press Ctrl-C to stop.", 180.0)
            ports = {
                m.group(1): int(m.group(2))
                for m in re.finditer(r"^\s+(\w+)\s+http://127\.0\.0\.1:(\d+)/docs", text, re.MULTILINE)
            }
            pg = re.search(r"^\s+PostgreSQL\s+(\S+)", text, re.MULTILINE)
            kafka = re.search(r"^\s+Kafka\s+(\S+)", text, re.MULTILINE)
            mail = re.search(r"^\s+SMTP sink\s+127\.0\.0\.1:(\d+)", text, re.MULTILINE)
            if not (pg and kafka and mail and set(ports) == set(SERVICES)):
                raise RuntimeError(f"cannot read where make up's parts are from its output:\n{text}")
            pids = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+)\s+pid (\d+)$", text, re.MULTILINE)}
            config = PlatformConfig(
                server_dsn=pg.group(1),
                kafka_bootstrap=kafka.group(1),
                operator_token=token,
                smtp_port=int(mail.group(1)),
                ports=ports,
                log_dir=var / "log",
                extra_env=dict(TUNING),
            )
            yield Platform(
                config,
                FolderMailbox(var / "mail"),
                runner_pids=pids,
                supervised="a part that stops is started again" in text,
            )
        finally:
            runner.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(runner.wait, 120)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()
                for pid in _children_left(var):  # what the runner started and could not stop
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    # --- the load and the measurements -------------------------------------------------------------------

    async def sign_ups(self, platform: Platform, meeting: tuple[RegistrationApi, Tenant, str], domain: str) -> Answers:
        api, tenant, meeting_id = meeting
        answers = Answers()
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=self.args.http_timeout, limits=limits) as http:

            async def one(i: int) -> None:
                group = ("newcomer", "resident")[i % 2]
                try:
                    r = await api.sign_up(http, tenant, meeting_id, group, i, domain=domain)
                    status = r.status_code
                except httpx.HTTPError as exc:
                    status = 0
                    answers.others[type(exc).__name__] += 1
                answers.statuses.append(status)
                if 200 <= status < 300:
                    answers.acknowledged.add(f"{group}{i}@{domain}")
                elif status not in (0, 503):
                    answers.others[str(status)] += 1

            started = time.monotonic()
            tasks = []
            for i in range(self.args.signups):
                await asyncio.sleep(max(0.0, started + i / self.args.rate - time.monotonic()))
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
        return answers

    async def meeting(self, platform: Platform) -> tuple[RegistrationApi, Tenant, str]:
        api = RegistrationApi(platform.config)
        capacity = {"newcomer": 500, "resident": 500}
        async with httpx.AsyncClient(timeout=30) as http:
            tenant = await api.tenant(http)
            meeting_id = await api.meeting(http, tenant, capacity=capacity)
        return api, tenant, meeting_id

    async def expected_mails(self, platform: Platform, meeting_id: str) -> set[str]:
        conn = await asyncpg.connect(platform.config.database_url("registration"), timeout=5)
        try:
            rows = await conn.fetch(
                "SELECT p.email FROM registrations r JOIN participants p ON p.id = r.participant_id"
                " WHERE r.meeting_id = $1 AND r.status = 'confirmed' AND p.email IS NOT NULL",
                uuid.UUID(meeting_id),
            )
        finally:
            await conn.close()
        return {str(r["email"]).lower() for r in rows}

    async def settle(
        self, platform: Platform, meeting_id: str, domain: str, fault_end: float, row: Row, answers: Answers
    ) -> None:
        """Wait until every expected mail arrived and the platform is quiet (or nothing changes for
        ``--give-up`` s, or ``--recovery-timeout`` passes); fill the row's figures."""
        deadline = time.time() + self.args.recovery_timeout
        expected: set[str] = set()
        quiet_at: float | None = None
        last_change, last_state = time.time(), None
        backlog: object = None
        while time.time() < deadline:
            try:
                expected = await self.expected_mails(platform, meeting_id)
                backlog = await asyncio.wait_for(platform_backlog(platform.config), 30)
            except Exception as exc:  # a server still coming back
                backlog = repr(exc)
                await asyncio.sleep(0.5)
                continue
            delivered = {m.to for m in platform.mailbox.mails(domain)}
            if not backlog and quiet_at is None:
                quiet_at = time.time()
            elif backlog:
                quiet_at = None
            if expected <= delivered and quiet_at is not None:
                break
            state = (len(delivered), str(backlog))
            if state != last_state:
                last_change, last_state = time.time(), state
            elif time.time() - last_change > self.args.give_up:
                row.notes.append(f"stuck for {self.args.give_up:.0f} s")
                break
            await asyncio.sleep(0.5)
        else:
            row.notes.append(f"not recovered within {self.args.recovery_timeout:.0f} s")
        if backlog:
            row.notes.append(f"backlog at the end: {backlog}")
        mails = platform.mailbox.mails(domain)
        firsts: dict[str, float] = {}
        for m in sorted(mails, key=lambda m: m.received_at):
            firsts.setdefault(m.to, m.received_at)
        delivered_expected = [firsts[a] for a in expected if a in firsts]
        row.mails_expected = len(expected)
        row.mails_delivered = len(delivered_expected)
        row.duplicates = len(mails) - len(firsts)
        if unexpected := set(firsts) - expected:
            row.notes.append(f"{len(unexpected)} mails to people without a confirmed place")
        if delivered_expected and len(delivered_expected) == len(expected):
            row.recovery_s = max(0.0, max(delivered_expected) - fault_end)
        if quiet_at is not None:
            row.quiet_s = max(0.0, quiet_at - fault_end)
        books = await account(platform.config)
        acknowledged_missing = answers.acknowledged - expected
        row.lost = books.lost + len(acknowledged_missing)
        if books.lost:
            missing = {i for m in books.missing.values() for i in m}
            waiting = await unpublished(platform.config, missing)
            row.notes.append(
                "not applied: "
                + ", ".join(f"{s} {len(m)}" for s, m in books.missing.items() if m)
                + f" ({len(waiting)} of {len(missing)} events still unpublished in an outbox)"
            )
        if acknowledged_missing:
            row.notes.append(f"{len(acknowledged_missing)} sign-ups answered 2xx but not held by registration")
        row.attempted = len(answers.statuses)
        row.ok = sum(200 <= s < 300 for s in answers.statuses)
        row.unavailable = sum(s == 503 for s in answers.statuses)
        row.other = len(answers.statuses) - row.ok - row.unavailable
        if answers.others:
            row.notes.append("other answers: " + ", ".join(f"{k} x{n}" for k, n in answers.others.most_common()))

    async def trial(
        self,
        platform: Platform,
        row: Row,
        inject: Callable[[], Awaitable[float]],
    ) -> tuple[str, str]:
        """The sign-up stream with ``inject`` started a quarter of the way in (it returns when the fault
        ended); then wait for the platform to recover. Returns (meeting id, mail domain)."""
        meeting = await self.meeting(platform)
        domain = f"{uuid.uuid4().hex[:10]}.example.no"
        stream = asyncio.create_task(self.sign_ups(platform, meeting, domain))
        await asyncio.sleep(self.args.signups / self.args.rate / 4)
        fault_end = await inject()
        answers = await stream
        await self.settle(platform, meeting[2], domain, fault_end, row, answers)
        return meeting[2], domain

    # --- the trials --------------------------------------------------------------------------------------

    async def broker_trial(self, row: Row) -> None:
        async with self.own_platform("broker") as platform:
            assert platform.broker is not None

            async def inject() -> float:
                old = platform.broker
                assert old is not None and old.proc is not None
                os.kill(old.proc.pid, signal.SIGKILL)
                await asyncio.to_thread(old.proc.wait)
                await asyncio.sleep(self.args.broker_down)
                fresh = TansuBroker(old.port, log_path=old.log_path)
                await asyncio.to_thread(fresh.start)
                platform.broker = fresh
                await ensure_topics(fresh.bootstrap, TEST_PARTITIONS)  # as make up's supervisor does
                return time.time()

            await self.trial(platform, row, inject)

    async def pg_stop_trial(self, row: Row) -> None:
        postgres = self.postgres
        if postgres is None:
            row.unavailable_reason = "PostgreSQL is not the bench's own (FMF_DATABASE_URL is set)"
            return
        async with self.own_platform("pg-stop") as platform:

            async def inject() -> float:
                await asyncio.to_thread(postgres.stop)
                await asyncio.sleep(self.args.outage)
                await asyncio.to_thread(postgres.start)
                return time.time()

            await self.trial(platform, row, inject)

    async def pg_freeze_trial(self, row: Row) -> None:
        postgres = self.postgres
        if postgres is None:
            row.unavailable_reason = "PostgreSQL is not the bench's own (FMF_DATABASE_URL is set)"
            return
        async with self.own_platform("pg-freeze") as platform:

            async def inject() -> float:
                pid = postgres.pid()
                if pid is None:
                    raise RuntimeError("PostgreSQL's postmaster.pid names no process")
                postmaster = psutil.Process(pid)
                postmaster.suspend()  # first: it forks no new backend meanwhile
                frozen = [postmaster]
                try:
                    for child in postmaster.children(recursive=True):
                        with contextlib.suppress(psutil.NoSuchProcess):
                            child.suspend()
                            frozen.append(child)
                    await asyncio.sleep(self.args.outage)
                finally:
                    for process in reversed(frozen):
                        with contextlib.suppress(psutil.NoSuchProcess):
                            process.resume()
                return time.time()

            await self.trial(platform, row, inject)

    async def kill_trial(self, row: Row) -> None:
        if self.args.no_runner:
            reason = "make up's runner not used (--no-runner)"
        else:
            try:
                async with self.runner_platform() as platform:
                    if platform.supervised and "notification" in platform.runner_pids:
                        row.notes.append("under make up's supervision: the runner restarted it")
                        await self._kill_supervised(platform, row)
                        return
                    reason = "make up's runner does not restart services"
            except Exception as exc:
                reason = f"make up's runner failed: {_short(exc)}"
        row.notes.append(f"{reason}; the bench restarted it after 2 s")
        async with self.own_platform("kill") as platform:
            processes = platform.processes
            assert processes is not None

            async def inject() -> float:
                os.kill(processes.procs["notification"].pid, signal.SIGKILL)
                await asyncio.to_thread(processes.procs["notification"].wait)
                await asyncio.sleep(2.0)
                processes.procs["notification"] = _restart_one(processes, "notification")
                return time.time()

            await self.trial(platform, row, inject)

    async def _kill_supervised(self, platform: Platform, row: Row) -> None:
        pid = platform.runner_pids["notification"]
        url = platform.config.url("notification") + "/readyz"

        async def inject() -> float:
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            async with httpx.AsyncClient(timeout=2) as http:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(url)).status_code == 200:
                            row.notes.append(f"ready again {time.time() - killed_at:.1f} s after the kill")
                            break
                    await asyncio.sleep(0.1)
                else:
                    row.notes.append("not ready again within 120 s")
            return killed_at

        await self.trial(platform, row, inject)

    async def poison_trial(self, row: Row) -> None:
        async with self.own_platform("poison") as platform:
            label = uuid.uuid4().hex[:8]
            sent: list[object] = []

            async def inject() -> float:
                sent.extend(await publish_poison(platform.config, label))
                return time.time()

            await self.trial(platform, row, inject)
            before = await dead_letters(platform.config.kafka_bootstrap)
            row.notes.append(f"{len(sent)} poison messages, {len(before)} dead letters before the replay")
            for attempt in (1, 2):
                try:
                    await dlq_replay(platform.config)
                except Exception as exc:
                    row.notes.append(f"replay {attempt}: not available: {_short(exc)}")
                    return
                with contextlib.suppress(Exception):
                    await _quiet(platform.config, 90)
                count = len(await dead_letters(platform.config.kafka_bootstrap))
                if attempt == 1:
                    row.dlq_after_1 = count
                else:
                    row.dlq_after_2 = count
            books = await account(platform.config)
            if books.lost:
                row.lost = (row.lost or 0) + books.lost
                row.notes.append(f"{books.lost} events not applied after the replays")

    async def run(self) -> list[Row]:
        trials: dict[str, Callable[[Row], Awaitable[None]]] = {
            "broker": self.broker_trial,
            "pg-stop": self.pg_stop_trial,
            "pg-freeze": self.pg_freeze_trial,
            "kill": self.kill_trial,
            "poison": self.poison_trial,
        }
        rows = []
        for name in self.args.only:
            row = Row(FAULT_NAMES[name])
            print(f"{time.strftime('%H:%M:%S')} trial: {row.fault} ...", flush=True)
            try:
                await trials[name](row)
            except Exception as exc:
                row.unavailable_reason = _short(exc)
                if self.args.verbose:
                    traceback.print_exc()
            rows.append(row)
            print(format_row(row), flush=True)
        return rows


async def _quiet(config: PlatformConfig, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not await platform_backlog(config):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"not quiet within {timeout_s} s")


def _restart_one(processes: ServiceProcesses, name: str) -> subprocess.Popen[bytes]:
    """Service ``name`` started again in ``processes`` (as its first start, with the same settings)."""
    start_one = getattr(processes, "start_one", None)
    if start_one is not None:
        start_one(name)
        return processes.procs[name]
    others = ServiceProcesses(processes.config, services=(name,))
    others.start()
    return others.procs[name]


def _start_runner(env: dict[str, str], out_path: Path) -> subprocess.Popen[bytes]:
    with open(out_path, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "deploy.local.runner"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


async def _wait_for_output(proc: subprocess.Popen[bytes], path: Path, marker: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(_read, path)
        if marker in text:
            return text
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {text[-500:]}")
        await asyncio.sleep(0.2)
    raise TimeoutError(f"not up within {timeout_s} s")


def _children_left(var: Path) -> list[int]:
    text = _read(var / "runner.out")
    return [int(m.group(1)) for m in re.finditer(r"pid (\d+)$", text, re.MULTILINE)]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


# --- output --------------------------------------------------------------------------------------------

COLUMNS = (
    "fault",
    "sign-ups",
    "2xx",
    "503",
    "other",
    "mails exp.",
    "delivered",
    "dup.",
    "lost",
    "DLQ r1",
    "DLQ r2",
    "recovery s",
    "quiet s",
)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def cells(row: Row) -> list[str]:
    if row.unavailable_reason is not None:
        return [row.fault, f"not available: {row.unavailable_reason}"]
    return [
        row.fault,
        *(
            _cell(v)
            for v in (
                row.attempted,
                row.ok,
                row.unavailable,
                row.other,
                row.mails_expected,
                row.mails_delivered,
                row.duplicates,
                row.lost,
                row.dlq_after_1,
                row.dlq_after_2,
                row.recovery_s,
                row.quiet_s,
            )
        ),
    ]


WIDTHS = (32, 8, 5, 5, 5, 10, 9, 5, 5, 6, 6, 10, 8)


def format_row(row: Row) -> str:
    values = cells(row)
    if len(values) == 2:
        line = f"{values[0]:<{WIDTHS[0]}} {values[1]}"
    else:
        line = " ".join(
            f"{v:<{w}}" if i == 0 else f"{v:>{w}}" for i, (v, w) in enumerate(zip(values, WIDTHS, strict=True))
        )
    if row.failed:
        line += "   FAILED"
    notes = "".join(f"\n    {note}" for note in row.notes)
    return line + notes


def header() -> str:
    return " ".join(
        f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(COLUMNS, WIDTHS, strict=True))
    )


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " | notes |", "|" + "---|" * (len(COLUMNS) + 1)]
    for row in rows:
        values = cells(row)
        if len(values) == 2:
            values = [values[0], *["-"] * (len(COLUMNS) - 1)]
            notes = [f"not available: {row.unavailable_reason}", *row.notes]
        else:
            notes = list(row.notes)
        if row.failed:
            notes.insert(0, "**FAILED**")
        lines.append("| " + " | ".join(values) + " | " + "; ".join(n.replace("|", "/") for n in notes) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--signups", type=int, default=300, help="sign-ups per trial")
    parser.add_argument("--rate", type=float, default=20.0, help="sign-ups per second")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds PostgreSQL is stopped or frozen")
    parser.add_argument("--broker-down", type=float, default=1.0, help="seconds between the broker's kill and start")
    parser.add_argument("--http-timeout", type=float, default=30.0, help="seconds the client waits for an answer")
    parser.add_argument("--recovery-timeout", type=float, default=180.0, help="seconds to wait for recovery")
    parser.add_argument("--give-up", type=float, default=30.0, help="stop waiting when nothing changed this long")
    parser.add_argument("--no-runner", action="store_true", help="kill trial without make up's runner")
    parser.add_argument("--keep", action="store_true", help="keep the services' logs (printed where)")
    parser.add_argument("--verbose", action="store_true", help="tracebacks of trials that could not run")
    parser.add_argument(
        "--only", default=",".join(TRIALS), help=f"comma-separated trials to run, of: {', '.join(TRIALS)}"
    )
    args = parser.parse_args(argv)
    args.only = [t.strip() for t in args.only.split(",") if t.strip()]
    if unknown := [t for t in args.only if t not in TRIALS]:
        parser.error(f"unknown trials: {', '.join(unknown)}")
    return args


async def main_async(args: argparse.Namespace) -> int:
    bench = Bench(args)
    with bench.infrastructure():
        print(
            f"faults under load: {args.signups} coordinator sign-ups per trial, {args.rate:g}/s;"
            f" {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the start",
            flush=True,
        )
        print(header(), flush=True)
        rows = await bench.run()
    print()
    print(header())
    for row in rows:
        print(format_row(row))
    print()
    print(markdown(rows))
    failed = [r.fault for r in rows if r.failed]
    if failed:
        print(f"\nFAILED (an event lost, a mail undelivered or doubled): {', '.join(failed)}")
        return 1
    return 0


def main() -> int:
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return asyncio.run(main_async(parse_args()))


if __name__ == "__main__":
    sys.exit(main())
