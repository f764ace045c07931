"""The national day: ``python -m bench.national_day [--tenants 357]``.

357 tenants, each with 2 meetings of 12 newcomers + 12 residents (17,136 people), run through all four
services (separate processes, as ``make up`` runs them), PostgreSQL, a Tansu broker and an SMTP server
that records every mail. The day runs twice in one run, each time on a fresh PostgreSQL and a fresh broker
(so fresh databases, topics and consumer groups): first with the consumers applying one record per
transaction (``FMF_CONSUMER_BATCH=false``), then in batches (``FMF_CONSUMER_BATCH=true``). The first day
runs ``--single-tenants`` tenants (40 by default, 1,920 people): one record per transaction, the whole
nation would take about 40 minutes on 2 cores, and its rates, which are what is compared, need only a
backlog; ``--single-tenants 357`` runs the whole nation both ways.

One day:

1. Setup (not timed): every tenant, its coordinator token, its two meetings published; then the platform
   is left to go quiet.
2. Sign-ups, through HTTP, in bursts: the tenants come in waves (``--wave`` tenants every ``--wave-every``
   seconds; a wave's sign-ups go out at once, over ``--clients`` connections). Each person signs up
   publicly (double opt-in): ``POST /v1/meetings/{id}/registrations`` without a token (202; newcomers with
   the meeting's invitation code), then, once the mail with the link reaches the SMTP server, ``POST
   /v1/signups/{id}/confirm`` with the link's token (200, the place).
3. Every meeting is closed; matching proposes the pairs; the coordinators publish them (``POST
   /v1/meetings/{id}/pairs/publish``); notification sends each person their seat.

Reported per day: sign-ups per second (confirmed people, from the first sign-up request to the last
confirmation answered); the time from the last confirmation answered (the last sign-up request) to the
last "you are signed up" mail; from the last close to the last pair proposal the coordinator can see
(registration's seating); from the last publish to the last seat message; report freshness (from the
last confirmation answered until its tenant's summary in reporting counts it); per service the records its
consumer group committed, per second while it had records waiting, and its peak lag (committed offsets
sampled every second); the mails: each person must get the confirmation link, the "signed up" mail and
the seat message exactly once (the kind of each mail is read from notification's record, by the mail's
X-FMF-Notification-Id), anything else is lost or a duplicate.

The abuse limits are off (``FMF_RATE_LIMITS_ENABLED=false``): the whole nation signs up from one load
address here. The output ends with both days side by side, the ratio per service, and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
from aiosmtpd.controller import Controller

from bench.infra import infrastructure
from bench.offsets import GroupOffsets, Samples, Throughput
from deploy.local.embedded import free_port, free_ports
from deploy.local.platform import SERVICES, PlatformConfig, ServiceProcesses
from shared.topics import ensure_topics
from tests.factories import meeting_body, person_body
from tests.support import mail_text, platform_backlog

MEETINGS_PER_TENANT = 2
PEOPLE_PER_MEETING = 24  # 12 newcomers + 12 residents, every one with a place
# One record per transaction, the nation's day takes ~40 min on 2 cores (notification drains ~50 records/s,
# and each confirmation link waits for it): that day runs a slice of the nation, enough for a backlog.
SINGLE_TENANTS = 40
TARGET_EVENTS_PER_S = 1000.0
TARGET_RATIO = 5.0
TARGET_LAST_MAIL_S = 15.0
EXPECTED_KINDS = ("confirm_signup", "registration_confirmed", "pairs_published")
_LINK = re.compile(r"/confirm/([0-9a-f-]{36})\?(\S+)")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- the SMTP server ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    received_at: float
    to: str
    notification_id: str
    link: tuple[str, str] | None  # (signup id, token) of a confirmation link


class MailSink:
    """An SMTP server that keeps each mail's arrival time, recipients and bytes; parsing waits for ``new``."""

    def __init__(self) -> None:
        self.port = free_port()
        self._raw: list[tuple[float, list[str], bytes]] = []
        self._lock = threading.Lock()
        self._read = 0
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._raw.append((time.time(), list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def received(self) -> int:
        with self._lock:
            return len(self._raw)

    def new(self) -> list[Mail]:
        """The mails that arrived since the last call, parsed."""
        with self._lock:
            raw, self._read = self._raw[self._read :], len(self._raw)
        found = []
        for at, to, content in raw:
            message = email.message_from_bytes(content)
            link = _LINK.search(mail_text(message))
            token = parse_qs(link.group(2)).get("token", [""])[0] if link else ""
            for address in to:
                found.append(
                    Mail(at, address, str(message["X-FMF-Notification-Id"]), (link.group(1), token) if link else None)
                )
        return found


# --- the people -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meeting:
    id: str
    slug: str
    invitation_code: str
    coordinator: dict[str, str]


@dataclass
class Person:
    email: str
    meeting: Meeting
    body: dict[str, Any]
    accepted: bool = False
    confirmed_at: float | None = None
    mails: list[Mail] = field(default_factory=list)

    def place_mails(self) -> list[Mail]:
        """Mails other than the confirmation link, in arrival order."""
        return [m for m in self.mails if m.link is None]


def people_of(meetings: list[Meeting]) -> list[Person]:
    found = []
    for n, meeting in enumerate(meetings):
        domain = f"m{n}.{meeting.slug}.example.no"
        for i in range(PEOPLE_PER_MEETING):
            group = "newcomer" if i % 2 else "resident"
            body = person_body(group, i, domain)
            if group == "newcomer":
                body.update(norwegian_level="B1", invitation_code=meeting.invitation_code)
            found.append(Person(body["email"], meeting, body))
    return found


# --- HTTP -----------------------------------------------------------------------------------------------


class Client:
    """The load generator's requests. An answer that says "try again" (a 5xx, 429) or no answer is retried,
    as a person would, after 0.5, 1, 2, 4, 4 s; another answer than the expected one is not. What still
    fails is counted."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.failed: Counter[str] = Counter()
        self.retried: Counter[int] = Counter()

    async def call(
        self, method: str, url: str, expect: int, body: object = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | None:
        last = ""
        for attempt in range(6):
            try:
                async with self.http.request(method, url, json=body, headers=headers) as r:
                    if r.status == expect:
                        return await r.json()
                    last = f"{r.status} {(await r.text())[:200]}"
                    if r.status < 500 and r.status != 429:
                        break
                    self.retried[r.status] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = repr(exc)
                self.retried[0] += 1
            await asyncio.sleep(min(0.5 * 2**attempt, 4.0))
        self.failed[f"{method} {urlsplit(url).path.split('/')[-1]}: {last[:80]}"] += 1
        return None

    async def must(
        self, method: str, url: str, expect: int, body: object = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        answer = await self.call(method, url, expect, body, headers)
        if answer is None:
            raise RuntimeError(f"{method} {url} failed: {dict(self.failed)}")
        return answer


async def bounded(limit: int, jobs: list[Any]) -> list[Any]:
    """Await the coroutines ``jobs`` with at most ``limit`` at a time, in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


async def onboard(client: Client, api: str, operator: dict[str, str], n: int) -> list[Meeting]:
    """Tenant ``n``: created, a coordinator token, two published meetings of 12 + 12 places."""
    slug = f"kommune-{n:03d}"
    tenant = {"slug": slug, "name": f"Kommune {n}", "municipality_number": f"{n:04d}"}
    await client.must("POST", f"{api}/tenants", 201, tenant, operator)
    token = (await client.must("POST", f"{api}/tenants/{slug}/tokens", 201, None, operator))["token"]
    coordinator = {"Authorization": f"Bearer {token}"}
    half = PEOPLE_PER_MEETING // 2
    found = []
    for _ in range(MEETINGS_PER_TENANT):
        body = meeting_body(capacity={"newcomer": half, "resident": half})
        meeting_id = (await client.must("POST", f"{api}/tenants/{slug}/meetings", 201, body, coordinator))["id"]
        await client.must("POST", f"{api}/meetings/{meeting_id}/publish", 200, None, coordinator)
        shown = await client.must("GET", f"{api}/meetings/{meeting_id}", 200, None, coordinator)
        found.append(Meeting(str(meeting_id), slug, str(shown["invitation_code"]), coordinator))
    return found


# --- one day --------------------------------------------------------------------------------------------


@dataclass
class Day:
    mode: str
    people: int = 0
    meetings: int = 0
    setup_s: float = 0.0
    first_signup: float = 0.0
    last_confirm: float = 0.0
    last_confirmation_mail: float = 0.0
    last_close: float = 0.0
    last_proposal: float = 0.0
    last_publish: float = 0.0
    last_seat: float = 0.0
    freshness_s: float | None = None
    end: float = 0.0
    throughput: dict[str, Throughput] = field(default_factory=dict)
    lost: int = 0
    duplicates: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)
    failed_requests: Counter[str] = field(default_factory=Counter)
    retried: Counter[int] = field(default_factory=Counter)
    timed_out: list[str] = field(default_factory=list)

    @property
    def signups_per_s(self) -> float:
        return self.people / (self.last_confirm - self.first_signup) if self.last_confirm > self.first_signup else 0.0

    @property
    def confirmation_mail_s(self) -> float:
        return self.last_confirmation_mail - self.last_confirm

    @property
    def proposal_s(self) -> float:
        return self.last_proposal - self.last_close

    @property
    def seat_s(self) -> float:
        return self.last_seat - self.last_publish

    @property
    def day_s(self) -> float:
        return self.end - self.first_signup


async def wait_for(what: str, check: Any, timeout_s: float, day: Day, every_s: float = 0.2) -> bool:
    """Poll the coroutine function ``check`` until it returns true; False (noted on ``day``) after the timeout."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            day.timed_out.append(what)
            log(f"  gave up waiting for {what} after {timeout_s:.0f} s")
            return False
        await asyncio.sleep(every_s)
    return True


async def run_day(config: PlatformConfig, sink: MailSink, args: argparse.Namespace, mode: str) -> Day:
    day = Day(mode)
    api = config.url("registration") + "/v1"
    operator = {"Authorization": f"Bearer {config.operator_token}"}
    connector = aiohttp.TCPConnector(limit=2 * args.clients + 16)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        client = Client(http)
        started = time.time()
        log(f"[{mode}] setup: {args.tenants} tenants, {args.tenants * MEETINGS_PER_TENANT} meetings")
        tenants = await bounded(16, [onboard(client, api, operator, n) for n in range(1, args.tenants + 1)])
        meetings = [m for found in tenants for m in found]
        people = people_of(meetings)
        by_email = {p.email: p for p in people}
        await quiet(config, day, "the setup to settle", 300)
        day.setup_s = time.time() - started
        day.meetings = len(meetings)

        groups = {name: f"{config.consumer_group_prefix}-{name}" for name in SERVICES}
        samples = Samples()
        stop_sampling = asyncio.Event()
        async with GroupOffsets(config.kafka_bootstrap, groups) as offsets:
            sampler = asyncio.create_task(samples.run(offsets, stop_sampling, 1.0))
            phase = {"name": "sign-ups"}
            reporter = asyncio.create_task(progress(phase, people, sink, samples, args.progress_every))
            try:
                await signups(day, client, api, people, by_email, sink, args)
                freshness = asyncio.create_task(report_freshness(config, http, people, day))

                async def confirmation_mails() -> bool:
                    take_mails(sink, by_email)
                    return all(p.place_mails() for p in people if p.confirmed_at)

                phase["name"] = "confirmation mails"
                await wait_for("the confirmation mails", confirmation_mails, args.phase_timeout, day)
                day.last_confirmation_mail = max(p.place_mails()[0].received_at for p in people if p.place_mails())

                phase["name"] = "close and pairs"
                await close_and_pair(day, client, api, config, meetings, args)
                phase["name"] = "publish and seats"
                await publish_and_seat(day, client, api, config, meetings, people, by_email, sink, args)
                phase["name"] = "quiet"
                await quiet(config, day, "the platform to go quiet", args.phase_timeout)
                take_mails(sink, by_email)
                day.end = time.time()
                await freshness
            finally:
                stop_sampling.set()
                reporter.cancel()
                await sampler
        day.failed_requests = client.failed
        day.retried = client.retried
    for name in SERVICES:
        day.throughput[name] = samples.throughput(name, day.first_signup, day.end)
    await check_mails(config, day, people)
    return day


async def quiet(config: PlatformConfig, day: Day, what: str, timeout_s: float) -> None:
    """Wait until every outbox is drained, every consumer group at the end, and nothing due unsent."""

    async def done() -> bool:
        return not await platform_backlog(config)

    await wait_for(what, done, timeout_s, day, every_s=0.5)


def take_mails(sink: MailSink, by_email: dict[str, Person]) -> list[Mail]:
    """File the new mails with their people; return the new ones that hold a confirmation link."""
    links = []
    for mail in sink.new():
        person = by_email.get(mail.to)
        if person is not None:
            person.mails.append(mail)
        if mail.link is not None and person is not None:
            links.append(mail)
    return links


async def signups(
    day: Day,
    client: Client,
    api: str,
    people: list[Person],
    by_email: dict[str, Person],
    sink: MailSink,
    args: argparse.Namespace,
) -> None:
    """The waves of public sign-ups, and each person's confirmation as soon as their link arrives."""
    waves: list[list[Person]] = []
    per_wave = args.wave * MEETINGS_PER_TENANT * PEOPLE_PER_MEETING
    for i in range(0, len(people), per_wave):
        wave = people[i : i + per_wave]
        random.Random(i).shuffle(wave)  # a wave's tenants sign up at the same time, mixed
        waves.append(wave)
    to_sign_up: asyncio.Queue[Person | None] = asyncio.Queue()
    to_confirm: asyncio.Queue[tuple[Person, str, str] | None] = asyncio.Queue()
    all_sent = asyncio.Event()
    confirmed = {"n": 0, "accepted": 0, "failed": 0}
    everyone_confirmed = asyncio.Event()

    async def sign_up_worker() -> None:
        while (person := await to_sign_up.get()) is not None:
            url = f"{api}/meetings/{person.meeting.id}/registrations"
            person.accepted = await client.call("POST", url, 202, person.body) is not None
            confirmed["accepted"] += person.accepted
            to_sign_up.task_done()
        to_sign_up.task_done()

    async def confirm_worker() -> None:
        while (job := await to_confirm.get()) is not None:
            person, signup_id, token = job
            answer = await client.call("POST", f"{api}/signups/{signup_id}/confirm", 200, {"token": token})
            if answer is None:
                confirmed["failed"] += 1  # counted among the failed requests
            elif person.confirmed_at is None:
                person.confirmed_at = time.time()
                confirmed["n"] += 1
            if all_sent.is_set() and confirmed["n"] + confirmed["failed"] >= confirmed["accepted"]:
                everyone_confirmed.set()

    async def links() -> None:
        while not everyone_confirmed.is_set():
            for mail in take_mails(sink, by_email):
                assert mail.link is not None
                await to_confirm.put((by_email[mail.to], *mail.link))
            await asyncio.sleep(0.05)

    workers = [asyncio.create_task(sign_up_worker()) for _ in range(args.clients)]
    confirmers = [asyncio.create_task(confirm_worker()) for _ in range(args.clients)]
    reader = asyncio.create_task(links())
    day.first_signup = time.time()
    log(f"[{day.mode}] sign-ups: {len(people)} people in {len(waves)} waves, one every {args.wave_every:g} s")
    for n, wave in enumerate(waves):
        await asyncio.sleep(max(0.0, day.first_signup + n * args.wave_every - time.time()))
        await to_sign_up.join()  # a wave still going out delays the next
        for person in wave:
            to_sign_up.put_nowait(person)
    await to_sign_up.join()
    all_sent.set()
    if confirmed["n"] + confirmed["failed"] >= confirmed["accepted"]:
        everyone_confirmed.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everyone_confirmed.wait(), args.phase_timeout)
    if not everyone_confirmed.is_set():
        day.timed_out.append("the confirmations")
    everyone_confirmed.set()
    for _ in workers:
        to_sign_up.put_nowait(None)
    for _ in confirmers:
        to_confirm.put_nowait(None)
    await asyncio.gather(*workers, *confirmers, reader)
    done = [p for p in people if p.confirmed_at]
    day.people = len(done)
    day.last_confirm = max((p.confirmed_at or 0.0 for p in done), default=time.time())
    log(
        f"[{day.mode}] {len(done)} of {len(people)} people signed up and confirmed in"
        f" {day.last_confirm - day.first_signup:.1f} s ({day.signups_per_s:.0f}/s)"
    )


async def report_freshness(config: PlatformConfig, http: aiohttp.ClientSession, people: list[Person], day: Day) -> None:
    """From the last confirmation answered until its tenant's summary in reporting counts every confirmed
    person of that meeting."""
    done = [p for p in people if p.confirmed_at]
    if not done:
        return
    last = max(done, key=lambda p: p.confirmed_at or 0.0)
    expected = sum(1 for p in done if p.meeting is last.meeting)
    url = config.url("reporting") + f"/v1/tenants/{last.meeting.slug}/summary"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(url, headers=last.meeting.coordinator) as r:
                if r.status == 200:
                    shown = next((m for m in (await r.json())["meetings"] if m["meeting_id"] == last.meeting.id), None)
                    if shown and sum(shown["confirmed"].values()) >= expected:
                        day.freshness_s = time.time() - (last.confirmed_at or 0.0)
                        return
        await asyncio.sleep(0.05)


async def close_and_pair(
    day: Day, client: Client, api: str, config: PlatformConfig, meetings: list[Meeting], args: argparse.Namespace
) -> None:
    log(f"[{day.mode}] closing {len(meetings)} meetings")
    closes = [client.call("POST", f"{api}/meetings/{m.id}/close", 200, None, m.coordinator) for m in meetings]
    await bounded(args.clients, closes)
    day.last_close = time.time()
    conn = await asyncpg.connect(config.database_url("registration"))
    try:

        async def proposed() -> bool:
            return int(await conn.fetchval("SELECT count(*) FROM seating")) >= len(meetings)

        await wait_for("the pair proposals", proposed, args.phase_timeout, day)
        day.last_proposal = float(await conn.fetchval("SELECT extract(epoch FROM max(updated_at)) FROM seating") or 0)
    finally:
        await conn.close()


async def publish_and_seat(
    day: Day,
    client: Client,
    api: str,
    config: PlatformConfig,
    meetings: list[Meeting],
    people: list[Person],
    by_email: dict[str, Person],
    sink: MailSink,
    args: argparse.Namespace,
) -> None:
    conn = await asyncpg.connect(config.database_url("registration"))
    try:
        versions = {
            str(r["meeting_id"]): r["version"] for r in await conn.fetch("SELECT meeting_id, version FROM seating")
        }
    finally:
        await conn.close()
    log(f"[{day.mode}] publishing the pairs of {len(meetings)} meetings")
    publishes = [
        client.call(
            "POST", f"{api}/meetings/{m.id}/pairs/publish", 202, {"version": versions.get(m.id, 1)}, m.coordinator
        )
        for m in meetings
    ]
    await bounded(args.clients, publishes)
    day.last_publish = time.time()

    async def seated() -> bool:
        take_mails(sink, by_email)
        return all(len(p.place_mails()) >= 2 for p in people if p.confirmed_at)

    await wait_for("the seat messages", seated, args.phase_timeout, day)
    day.last_seat = max((p.place_mails()[1].received_at for p in people if len(p.place_mails()) >= 2), default=0.0)


async def check_mails(config: PlatformConfig, day: Day, people: list[Person]) -> None:
    """Every confirmed person got each expected kind of mail exactly once; anything else is counted."""
    conn = await asyncpg.connect(config.database_url("notification"))
    try:
        kinds = {str(r["id"]): r["kind"] for r in await conn.fetch("SELECT id, kind FROM notifications")}
    finally:
        await conn.close()
    for person in people:
        if not person.confirmed_at:
            continue
        got = Counter(kinds.get(m.notification_id, "unknown") for m in person.mails)
        for kind in EXPECTED_KINDS:
            if got[kind] == 0:
                day.lost += 1
            day.duplicates += max(0, got[kind] - 1)
        for kind, n in got.items():
            if kind not in EXPECTED_KINDS:
                day.unexpected[kind] += n


async def progress(
    phase: dict[str, str], people: list[Person], sink: MailSink, samples: Samples, every_s: float
) -> None:
    while True:
        await asyncio.sleep(every_s)
        confirmed = sum(1 for p in people if p.confirmed_at)
        lags = ", ".join(f"{name} {pos.lag}" for name in SERVICES if (pos := samples.latest(name)) is not None)
        log(f"  {phase['name']}: {confirmed}/{len(people)} confirmed, {sink.received()} mails; lag: {lags}")


# --- the run --------------------------------------------------------------------------------------------


def platform(server_dsn: str, bootstrap: str, sink: MailSink, work: Path, mode: str) -> PlatformConfig:
    prefix = f"day{uuid.uuid4().hex[:6]}"
    return PlatformConfig(
        server_dsn=server_dsn,
        kafka_bootstrap=bootstrap,
        operator_token=secrets.token_urlsafe(16),
        smtp_port=sink.port,
        ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
        database_prefix=prefix,
        consumer_group_prefix=prefix,
        log_dir=work / mode,
        extra_env={
            "FMF_CONSUMER_BATCH": "true" if mode == "batched" else "false",
            "FMF_RATE_LIMITS_ENABLED": "false",
            "FMF_LOG_LEVEL": "WARNING",
            "FMF_DB_POOL_MAX": "20",
            "FMF_LAG_INTERVAL_S": "1",
            "FMF_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "FMF_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            "FMF_SENDER_POLL_INTERVAL_S": "0.5",
        },
    )


def one_day(args: argparse.Namespace, mode: str, work: Path) -> Day:
    """A day on its own PostgreSQL server (or fresh databases on FMF_DATABASE_URL's) and its own broker;
    ``args.tenants`` tenants (``args.single_tenants`` for the one-record-per-transaction day)."""
    if mode == "single":
        args = argparse.Namespace(**{**vars(args), "tenants": min(args.tenants, args.single_tenants)})
    with infrastructure() as (server_dsn, bootstrap):
        asyncio.run(ensure_topics(bootstrap, 6))
        sink = MailSink()
        sink.controller.start()
        config = platform(server_dsn, bootstrap, sink, work, mode)
        services = ServiceProcesses(config)
        try:
            services.start()
            services.wait_ready()
            return asyncio.run(run_day(config, sink, args, mode))
        finally:
            services.stop()
            sink.controller.stop()


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def ratio_of(figures: list[Throughput]) -> str:
    """The last figure over the first (batched over one per transaction): ``>=`` when only the last kept up
    (its figure is a lower bound), ``<=`` when only the first did, ``?`` when both did."""
    if len(figures) < 2 or not figures[0].per_second:
        return ""
    first, last = figures[0], figures[-1]
    if first.kept_up and last.kept_up:
        return "?"
    bound = ">=" if last.kept_up else "<=" if first.kept_up else ""
    return f"{bound}{last.per_second / first.per_second:.1f}x"


def report(days: list[Day], total_s: float) -> bool:
    """Print both days side by side and the targets; True when every target is met."""
    width = 16
    print(f"\n{'':<44}" + "".join(f"{d.mode:>{width}}" for d in days) + f"{'ratio':>{width}}")

    def row(label: str, values: list[str], ratio: str = "") -> None:
        print(f"{label:<44}" + "".join(f"{v:>{width}}" for v in values) + f"{ratio:>{width}}")

    row("people signed up and confirmed", [str(d.people) for d in days])
    row("sign-ups per second", [f"{d.signups_per_s:.0f}" for d in days])
    row("last sign-up -> last confirmation mail", [seconds(d.confirmation_mail_s) for d in days])
    row("last close -> last pair proposal", [seconds(d.proposal_s) for d in days])
    row("last publish -> last seat message", [seconds(d.seat_s) for d in days])
    row("report freshness (last sign-up -> counted)", [seconds(d.freshness_s) for d in days])
    row("the day (first sign-up -> quiet)", [seconds(d.day_s) for d in days])
    row("setup (not in the day)", [seconds(d.setup_s) for d in days])
    row("mails lost / duplicated", [f"{d.lost} / {d.duplicates}" for d in days])
    for d in days:
        if d.unexpected:
            print(f"  {d.mode}: mails of other kinds: {dict(d.unexpected)}")
        if d.failed_requests:
            print(f"  {d.mode}: failed requests: {dict(d.failed_requests)}")
        if d.retried:
            print(f"  {d.mode}: requests tried again, by status (0: no answer): {dict(d.retried)}")
        if d.timed_out:
            print(f"  {d.mode}: gave up waiting for {', '.join(d.timed_out)}")
    print(
        "\nconsumers: records committed in the day; per second while saturated (>= : never saturated, it kept up"
        " with what arrived, and the figure is its fastest second); peak lag"
    )
    for name in SERVICES:
        figures = [d.throughput[name] for d in days]
        row(f"  {name} records", [str(f.records) for f in figures])
        row(f"  {name} per second", [f.shown() for f in figures], ratio_of(figures))
        row(f"  {name} peak lag", [str(f.peak_lag) for f in figures])
    print(f"\ntotal time of the run (both days, setup and start-up included): {total_s:.0f} s")

    batched = next((d for d in days if d.mode == "batched"), None)
    single = next((d for d in days if d.mode == "single"), None)
    results: list[tuple[str, bool]] = []
    if batched is not None:
        for name in SERVICES:
            fig = batched.throughput[name]
            rate = fig.per_second
            results.append(
                (f"{name}: {fig.shown()} events/s batched >= {TARGET_EVENTS_PER_S:.0f}", rate >= TARGET_EVENTS_PER_S)
            )
            if single is not None:
                base = single.throughput[name]
                ratio_ok = base.per_second > 0 and rate >= TARGET_RATIO * base.per_second
                results.append(
                    (f"{name}: batched >= {TARGET_RATIO:.0f}x one-per-transaction ({base.shown()}/s)", ratio_ok)
                )
        results.append(
            (
                f"last confirmation mail {batched.confirmation_mail_s:.1f} s <= {TARGET_LAST_MAIL_S:.0f} s"
                " after the last sign-up",
                0 <= batched.confirmation_mail_s <= TARGET_LAST_MAIL_S and not batched.timed_out,
            )
        )
        results.append(
            (
                f"last seat message {batched.seat_s:.1f} s <= {TARGET_LAST_MAIL_S:.0f} s after the last publish",
                0 <= batched.seat_s <= TARGET_LAST_MAIL_S and not batched.timed_out,
            )
        )
    for d in days:
        results.append(
            (f"{d.mode}: 0 lost and 0 duplicate mails", d.lost == 0 and d.duplicates == 0 and not d.unexpected)
        )
    print("\ntargets:")
    for text, ok in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return all(ok for _, ok in results)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.national_day", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=357, help="tenants, 2 meetings of 24 people each")
    parser.add_argument(
        "--single-tenants",
        type=int,
        default=SINGLE_TENANTS,
        help="tenants of the one-record-per-transaction day (its rates are compared; the whole nation takes it"
        " about 40 minutes on 2 cores)",
    )
    parser.add_argument("--wave", type=int, default=30, help="tenants whose sign-ups arrive in one burst")
    parser.add_argument("--wave-every", type=float, default=10.0, help="seconds between the starts of two waves")
    parser.add_argument("--clients", type=int, default=32, help="concurrent sign-ups, and as many confirmations")
    parser.add_argument(
        "--modes", default="single,batched", help="which days to run: single (one record per transaction), batched"
    )
    parser.add_argument("--phase-timeout", type=float, default=900.0, help="longest wait for one phase, seconds")
    parser.add_argument("--progress-every", type=float, default=10.0, help="seconds between progress lines")
    args = parser.parse_args()
    if os.environ.get("FMF_KAFKA_BOOTSTRAP"):
        print("each day needs fresh topics: unset FMF_KAFKA_BOOTSTRAP (an embedded broker is started per day)")
        return 2
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"single", "batched"}:
        parser.error("--modes takes single and/or batched")
    people = args.tenants * MEETINGS_PER_TENANT * PEOPLE_PER_MEETING
    single = min(args.tenants, args.single_tenants)
    log(
        f"national day: {args.tenants} tenants x {MEETINGS_PER_TENANT} meetings x {PEOPLE_PER_MEETING} people ="
        f" {people} people (the one-record-per-transaction day: {single} tenants,"
        f" {single * MEETINGS_PER_TENANT * PEOPLE_PER_MEETING} people), days: {', '.join(modes)};"
        f" {os.cpu_count()} CPUs, load average"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}; abuse limits off (FMF_RATE_LIMITS_ENABLED=false)"
    )
    work = Path(tempfile.mkdtemp(prefix="fmf-national-day-"))
    started = time.time()
    days = []
    try:
        for mode in modes:
            days.append(one_day(args, mode, work))
            log(f"[{mode}] done; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report(days, time.time() - started) else 1


if __name__ == "__main__":
    sys.exit(main())
