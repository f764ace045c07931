"""Registration under a steady load of sign-ups (a coordinator's and public ones), reads and a participant's
page while its PostgreSQL is stopped for 10 s, and while it is frozen (SIGSTOP) for 10 s.

Every request gets an answer within 5 s: a 2xx, or a 503 with Retry-After (problem+json from the API, a
plain HTML page from the participant's pages); never a 500, never a connection closed without one. Nothing
is half-written: a sign-up exists once with its event in the outbox, or not at all, and each one answered
2xx exists. Afterwards everything works again, in the same process (no restart)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.embedded import EmbeddedPostgres
from deploy.local.platform import PlatformConfig, ServiceProcesses
from shared import db
from tests.conftest import platform_config, private_dir
from tests.factories import person_body
from tests.registration_support import RegistrationApi, Tenant
from tests.support import RecordingSmtpHandler, eventually, outbox_backlog

OUTAGE_S = 10.0  # how long the database is stopped or frozen: the fault itself
ANSWER_WITHIN_S = 5.0
READY_WITHIN_S = 3.0  # /readyz: within a probe's usual timeout
PROBLEM = "application/problem+json"
# Short database timeouts, so that an answer comes well within ANSWER_WITHIN_S (acquire + statement).
DATABASE_TIMEOUTS = {
    "FMF_DB_ACQUIRE_TIMEOUT_S": "1",
    "FMF_DB_CONNECT_TIMEOUT_S": "1",
    "FMF_DB_STATEMENT_TIMEOUT_S": "2",
}
# The abuse limits on, counting in PostgreSQL (their storage meets the outage first), never reached here.
GENEROUS_LIMITS = {
    "FMF_RATE_LIMITS_ENABLED": "true",
    "FMF_LIMIT_SIGNUP_PER_CLIENT": "100000/minute",
    "FMF_LIMIT_SIGNUP_PER_MEETING": "100000/minute",
    "FMF_LIMIT_SIGNUP_PER_CONTACT": "100/minute",
    "FMF_LIMIT_MANAGE_FAILURES_PER_CLIENT": "100000/minute",
    "FMF_LIMIT_BEARER_FAILURES_PER_CLIENT": "100000/minute",
}
JOBS = {"FMF_REGISTRATION_CLOSE_INTERVAL_S": "1", "FMF_LINK_EXPIRY_INTERVAL_S": "1"}


@dataclass
class Answer:
    kind: str  # coordinator | public | read | page | ready
    email: str | None
    started: float
    elapsed_s: float
    status: int | None  # None: no answer (the connection was closed, or it timed out)
    content_type: str = ""
    retry_after: str | None = None
    body: Any = None
    error: str = ""


@dataclass
class Load:
    """Sign-ups, reads and page views, each kind from its own workers, one request after the other."""

    http: httpx.AsyncClient
    api: RegistrationApi
    tenant: Tenant
    meeting_id: str
    manage_url: str
    answers: list[Answer] = field(default_factory=list)
    running: bool = True
    counter: int = 0

    def email(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}{self.counter}-{uuid.uuid4().hex[:6]}@outage.example.no"

    async def _one(self, kind: str) -> Answer:
        email: str | None = None
        if kind == "coordinator":
            email = self.email(kind)
            group = "newcomer" if self.counter % 2 else "resident"
            call: Callable[[], Awaitable[httpx.Response]] = lambda: self.http.post(  # noqa: E731
                f"{self.api.base}/meetings/{self.meeting_id}/registrations",
                headers=self.tenant.headers,
                json=person_body(group, self.counter, "outage.example.no", email=email),
            )
        elif kind == "public":
            email = self.email(kind)
            call = lambda: self.http.post(  # noqa: E731
                f"{self.api.base}/meetings/{self.meeting_id}/registrations",
                json=person_body("resident", self.counter, "outage.example.no", email=email),
            )
        elif kind == "ready":
            call = lambda: self.http.get(self.api.config.url("registration") + "/readyz")  # noqa: E731
        elif kind == "read":
            call = lambda: self.http.get(f"{self.api.base}/meetings/{self.meeting_id}", headers=self.tenant.headers)  # noqa: E731
        else:
            call = lambda: self.http.get(self.manage_url)  # noqa: E731
        started = time.monotonic()
        try:
            r = await call()
        except httpx.HTTPError as exc:
            return Answer(kind, email, started, time.monotonic() - started, None, error=repr(exc))
        body: Any = None
        if r.headers.get("content-type", "").startswith(("application/json", PROBLEM)):
            body = r.json()
        return Answer(
            kind,
            email,
            started,
            time.monotonic() - started,
            r.status_code,
            r.headers.get("content-type", ""),
            r.headers.get("retry-after"),
            body,
        )

    async def worker(self, kind: str) -> None:
        while self.running:
            self.answers.append(await self._one(kind))
            await asyncio.sleep(0.05)

    async def run(self) -> None:
        kinds = ["coordinator", "coordinator", "public", "public", "read", "page", "ready"]
        await asyncio.gather(*(self.worker(kind) for kind in kinds))

    def since(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.started >= moment]


@dataclass
class Outage:
    postgres: EmbeddedPostgres
    config: PlatformConfig
    service: ServiceProcesses
    api: RegistrationApi


@pytest.fixture(scope="module")
def outage(kafka_bootstrap: str, smtp: tuple[int, RecordingSmtpHandler]) -> Iterator[Outage]:
    """Registration alone, on a PostgreSQL server of the module's own (the tests stop and freeze it)."""
    folder = private_dir("outage")
    postgres = EmbeddedPostgres(folder / "data")
    postgres.start()
    env = {**DATABASE_TIMEOUTS, **GENEROUS_LIMITS, **JOBS}
    config = platform_config(postgres.dsn, kafka_bootstrap, smtp[0], folder / "logs", **env)
    service = ServiceProcesses(config, services=("registration",))
    service.start()
    try:
        service.wait_ready()
        yield Outage(postgres, config, service, RegistrationApi(config))
    finally:
        resume(postgres)  # should a test have failed while the server was frozen
        service.stop()
        log = folder / "logs" / "registration.log"
        lines = [json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]
        errors = [
            f"{e['event']} {e.get('task', '')}: {e.get('exception', '')[-700:]}"
            for e in lines
            if e.get("level") == "error"
        ]
        if errors:
            print("\nregistration logged errors:\n" + "\n".join(errors[-6:]))
        postgres.destroy()
        shutil.rmtree(folder, ignore_errors=True)


def server_processes(postgres: EmbeddedPostgres) -> list[int]:
    """The postmaster this test started and its children (the backends and the server's own workers)."""
    postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def freeze(postgres: EmbeddedPostgres) -> None:
    """SIGSTOP the whole server: the postmaster first (it forks no new backend then), then its children."""
    postmaster, *_ = server_processes(postgres)
    os.kill(postmaster, signal.SIGSTOP)
    for pid in server_processes(postgres)[1:]:
        os.kill(pid, signal.SIGSTOP)


def resume(postgres: EmbeddedPostgres) -> None:
    if not (postgres.data_dir / "postmaster.pid").exists():
        return
    for pid in reversed(server_processes(postgres)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


async def stop_for_a_while(postgres: EmbeddedPostgres) -> None:
    await asyncio.to_thread(postgres.stop)  # pg_ctl stop -m fast: backends terminated, connections refused
    await asyncio.sleep(OUTAGE_S)
    await asyncio.to_thread(postgres.start)  # the same data directory and port


async def freeze_for_a_while(postgres: EmbeddedPostgres) -> None:
    freeze(postgres)  # connections open, nothing answers
    try:
        await asyncio.sleep(OUTAGE_S)
    finally:
        resume(postgres)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Far longer than ANSWER_WITHIN_S: a slow answer is measured, not cut off.
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
        yield client


async def load_through(outage: Outage, http: httpx.AsyncClient, fault: Callable[[], Awaitable[None]]) -> list[Answer]:
    """Run the load, let it settle, apply ``fault`` under it, and go on until sign-ups of both kinds work
    again; return every answer from the start of the fault on."""
    api = outage.api
    tenant = await api.tenant(http)
    meeting_id = await api.meeting(http, tenant, capacity={"newcomer": 500, "resident": 500})
    place = await api.sign_up(http, tenant, meeting_id, "resident", 0, "outage.example.no")
    assert place.status_code == 201, place.text
    manage_url = f"{outage.config.url('registration')}/manage/{place.json()['registration_id']}"
    manage_url += f"?token={place.json()['manage_token']}"
    load = Load(http, api, tenant, meeting_id, manage_url)
    running = asyncio.create_task(load.run())
    try:

        async def settled() -> bool:
            return _answered_ok(load.answers, ("coordinator", "public", "read", "page"))

        await eventually(settled, timeout_s=30)
        fault_started = time.monotonic()
        await fault()
        fault_ended = time.monotonic()

        async def working_again() -> bool:
            return _answered_ok(load.since(fault_ended), ("coordinator", "public", "read", "page"))

        await eventually(working_again, timeout_s=60)
    finally:
        load.running = False
        await running
    during = load.since(fault_started)
    print(_figures(during))
    return during


def _answered_ok(answers: list[Answer], kinds: tuple[str, ...]) -> bool:
    return all(any(a.kind == kind and a.status is not None and a.status < 300 for a in answers) for kind in kinds)


def _figures(answers: list[Answer]) -> str:
    statuses = Counter(a.status for a in answers)
    slowest = max((a.elapsed_s for a in answers), default=0.0)
    answered = sum(1 for a in answers if a.status is not None)
    by_kind = {
        kind: f"{len(mine)} ({max(a.elapsed_s for a in mine) * 1000:.0f} ms)"
        for kind in sorted({a.kind for a in answers})
        if (mine := [a for a in answers if a.kind == kind])
    }
    return (
        f"requests {len(answers)}, answered {answered}, 2xx {sum(n for s, n in statuses.items() if s and s < 300)},"
        f" 503 {statuses.get(503, 0)}, statuses {dict(statuses)}, slowest {slowest * 1000:.0f} ms; by kind {by_kind}"
    )


def check_answers(answers: list[Answer]) -> None:
    unanswered = [a for a in answers if a.status is None]
    assert unanswered == [], f"{len(unanswered)} requests got no answer: {unanswered[:3]}"
    wrong = [a for a in answers if a.status not in (200, 201, 202, 503)]
    assert wrong == [], f"{len(wrong)} answers neither 2xx nor 503: {[(a.kind, a.status, a.body) for a in wrong[:5]]}"
    slow = [a for a in answers if a.elapsed_s > ANSWER_WITHIN_S]
    assert slow == [], (
        f"{len(slow)} answers took longer than {ANSWER_WITHIN_S} s: {[(a.kind, a.elapsed_s) for a in slow[:5]]}"
    )
    probes = [a for a in answers if a.kind == "ready"]
    assert probes and all(a.elapsed_s <= READY_WITHIN_S for a in probes), max(a.elapsed_s for a in probes)
    assert any(a.status == 503 and a.content_type == PROBLEM for a in probes)
    unavailable = [a for a in answers if a.status == 503 and a.kind != "ready"]
    assert unavailable, "the outage was not noticed: no 503 at all"
    for a in unavailable:
        assert a.retry_after is not None and int(a.retry_after) >= 1, a
        if a.kind == "page":  # the participant's page: a plain HTML page
            assert a.content_type.startswith("text/html"), a
        else:
            assert a.content_type == PROBLEM, a
            assert a.body["status"] == 503 and a.body["title"] and a.body["type"], a
            assert "temporarily unavailable" in a.body["detail"] and "retry" in a.body["detail"], a
    assert {a.kind for a in unavailable} >= {"coordinator", "public"}, Counter(a.kind for a in unavailable)


async def check_nothing_half_written(api: RegistrationApi, answers: list[Answer]) -> None:
    """Each sign-up answered 2xx exists once with its one event; one answered 503 exists once with its
    event (it committed before the answer was lost to the outage) or not at all; nothing else."""
    coordinator = {a.email: a for a in answers if a.kind == "coordinator"}
    public = {a.email: a for a in answers if a.kind == "public"}
    registrations = await api.sql(
        "SELECT p.email, r.id, (SELECT count(*) FROM outbox o WHERE o.event_type LIKE 'registration.%'"
        " AND o.body->'data'->>'registration_id' = r.id::text) AS events"
        " FROM registrations r JOIN participants p ON p.id = r.participant_id WHERE p.email = ANY($1::text[])",
        list(coordinator),
    )
    found = Counter(r["email"] for r in registrations)
    assert all(n == 1 for n in found.values()), [e for e, n in found.items() if n > 1]
    assert all(r["events"] == 1 for r in registrations), [r for r in registrations if r["events"] != 1]
    for email, a in coordinator.items():
        if a.status == 201:
            assert found[email] == 1, f"{email} was answered 201 but is not registered"
            assert str(a.body["registration_id"]) in {str(r["id"]) for r in registrations if r["email"] == email}
    orphans = await api.sql(
        "SELECT count(*) AS n FROM outbox o WHERE o.event_type LIKE 'registration.%'"
        " AND NOT EXISTS (SELECT 1 FROM registrations r WHERE r.id::text = o.body->'data'->>'registration_id')"
    )
    assert orphans[0]["n"] == 0

    signups = await api.sql(
        "SELECT s.email, (SELECT count(*) FROM outbox o WHERE o.event_type = 'contact.signup_requested'"
        " AND o.body->'data'->>'signup_id' = s.id::text) AS events FROM signups s WHERE s.email = ANY($1::text[])",
        list(public),
    )
    found = Counter(r["email"] for r in signups)
    assert all(n == 1 for n in found.values()), [e for e, n in found.items() if n > 1]
    assert all(r["events"] == 1 for r in signups), [r for r in signups if r["events"] != 1]
    for email, a in public.items():
        if a.status == 202:
            assert found[email] == 1, f"{email} was answered 202 but no sign-up is waiting for confirmation"
    events = await api.sql(
        "SELECT body->'data'->>'email' AS email FROM outbox WHERE event_type = 'contact.signup_requested'"
        " AND body->'data'->>'email' = ANY($1::text[])",
        list(public),
    )
    assert Counter(r["email"] for r in events) == found  # no event without its sign-up


async def check_working_again(outage: Outage, pid_before: int) -> None:
    """Ready, the same process, its relay publishing again, and its jobs never crashed."""
    assert outage.service.dead() == []
    assert outage.service.procs["registration"].pid == pid_before
    async with httpx.AsyncClient(timeout=5) as client:
        ready = await client.get(outage.config.url("registration") + "/readyz")
    assert ready.status_code == 200, ready.text

    async def relayed() -> bool:
        return await outbox_backlog(outage.api.database_url) == 0

    await eventually(relayed, timeout_s=60, every_s=0.5)
    log_path = outage.config.log_dir / "registration.log" if outage.config.log_dir else None
    assert log_path is not None
    crashed = [
        json.loads(line)
        for line in log_path.read_text(errors="replace").splitlines()
        if "background task crashed" in line and any(job in line for job in ("retention", "expire_links", "close_"))
    ]
    assert crashed == [], [(c.get("task"), c.get("exception", c)) for c in crashed[:2]]


async def test_postgresql_stopped_for_ten_seconds(outage: Outage, http: httpx.AsyncClient) -> None:
    pid = outage.service.procs["registration"].pid
    answers = await load_through(outage, http, lambda: stop_for_a_while(outage.postgres))
    check_answers(answers)
    await check_nothing_half_written(outage.api, answers)
    await check_working_again(outage, pid)


async def test_postgresql_frozen_for_ten_seconds(outage: Outage, http: httpx.AsyncClient) -> None:
    pid = outage.service.procs["registration"].pid
    answers = await load_through(outage, http, lambda: freeze_for_a_while(outage.postgres))
    check_answers(answers)
    await check_nothing_half_written(outage.api, answers)
    await check_working_again(outage, pid)


def test_the_timeouts_are_what_the_service_reads() -> None:
    """The names above are the service's settings (a misspelt one would be ignored, and the test weaker)."""
    from services.registration.settings import RegistrationSettings

    assert set(DATABASE_TIMEOUTS) | set(GENEROUS_LIMITS) | set(JOBS) <= RegistrationSettings.env_names()
    assert db.Timeouts.of(RegistrationSettings(**{k[4:].lower(): v for k, v in DATABASE_TIMEOUTS.items()})) == (
        db.Timeouts(acquire_s=1, connect_s=1, statement_s=2)
    )
