"""How fast each service's consumer drains a backlog: ``python -m bench.consumers [--events 50000]``.

Per service (registration, matching, notification, reporting), a broker of its own is preloaded with
``--events`` valid events of the types that service consumes, as the other services' outboxes emit them
(payloads built from the ``shared/events.py`` models, keyed and with the headers the outbox gives them):

- registration: matching's seating plans (``matching.pairs_proposed`` versions 1-49 and
  ``matching.pairs_published`` version 50, 12 pairs each) of meetings that exist in its database
  (created first through its API);
- matching: per meeting ``meeting.created``, ``meeting.published``, 24 ``registration.confirmed`` with
  profiles, ``meeting.registration_closed`` with the roster (which makes it propose the pairs);
- notification: per meeting ``meeting.created`` and ``meeting.published``; per person the public sign-up's
  ``contact.signup_requested``, then the confirmation's ``contact.upserted``, ``contact.manage_link``,
  ``registration.confirmed``, ``contact.signup_closed`` and its tombstone (the sender mails an SMTP server
  of this benchmark's meanwhile);
- reporting: per meeting its lifecycle, 24 ``registration.confirmed``, the proposed and published plan
  and 72 ``notification.sent``;

and every tenant's ``tenant.created`` and ``tenant.token_issued`` before them (consumed once while the
service's database is prepared). Then, for each way of consuming -- one record per transaction
(``FMF_CONSUMER_BATCH=false``) and batched (``true``) -- the service starts as its own process on a fresh
copy of the prepared database (``CREATE DATABASE ... TEMPLATE``) with a fresh consumer group, and the drain
is timed: from the group's first commit to the moment its lag is 0 and its inbox holds the id of every
event it handles (committed offsets and the inbox sampled every 0.2 s). It prints records per second and
the ratio, per service. The service runs whole (its outbox relay, and notification's sender, included).
The one-record-per-transaction drain is timed for at most ``--single-limit`` seconds (120): it is behind
all along, so its rate over that part is its rate, and the whole 50,000 would take notification about half
an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from aiokafka import AIOKafkaProducer

from bench.infra import embedded_broker, postgres_server
from bench.national_day import MailSink
from bench.offsets import GroupOffsets
from deploy.local.embedded import free_port
from deploy.local.platform import PlatformConfig, ServiceProcesses
from shared import db, topics
from shared.events import (
    Capacity,
    ContactUpserted,
    Envelope,
    ManageLink,
    MeetingSnapshot,
    MeetingStatus,
    NotificationOutcome,
    Pair,
    Pairing,
    PairMember,
    Profile,
    RegistrationChanged,
    RegistrationStatus,
    SignupClosed,
    SignupRequested,
    TenantCreated,
    TokenIssued,
    Venue,
    make_event,
)
from shared.topics import ensure_topics
from tests.factories import INTERESTS, meeting_body

SERVICES = ("registration", "matching", "notification", "reporting")
MODES = {"single": "false", "batched": "true"}
PEOPLE = 24
TENANTS = 20
PLAN_VERSIONS = 50
NOTIFICATIONS_PER_PERSON = 3  # the confirmation link, "you are signed up", the seat


@dataclass
class Record:
    """One record as the outbox relay publishes it."""

    topic: str
    key: str
    value: bytes | None  # None: a tombstone
    headers: list[tuple[str, bytes]]
    event_type: str | None

    @classmethod
    def of(cls, event: Envelope, key: object, source: str = "registration") -> Record:
        from shared.events import topic_for

        headers = [(k, v.encode()) for k, v in event.headers(source).items()]
        return cls(topic_for(event.type), str(key), event.model_dump_json().encode(), headers, event.type)

    @classmethod
    def tombstone(cls, topic: str, key: str) -> Record:
        return cls(topic, key, None, [], None)


@dataclass
class Load:
    """What a service is given: the setup (tenants) and the backlog to drain."""

    setup: list[Record] = field(default_factory=list)
    backlog: list[Record] = field(default_factory=list)
    meetings: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (tenant, meeting)


def tenants(load: Load, n: int = TENANTS) -> list[uuid.UUID]:
    found = []
    for i in range(n):
        tenant = uuid.uuid4()
        created = TenantCreated(
            tenant_id=tenant, slug=f"kommune-{i:03d}", name=f"Kommune {i}", municipality_number=f"{i + 1:04d}"
        )
        issued = TokenIssued(token_id=uuid.uuid4(), tenant_id=tenant, token_hash=secrets.token_hex(32))
        load.setup.append(Record.of(make_event("tenant.created", tenant, created), tenant))
        load.setup.append(Record.of(make_event("tenant.token_issued", tenant, issued), tenant))
        found.append(tenant)
    return found


def snapshot(
    tenant: uuid.UUID, meeting: uuid.UUID, status: MeetingStatus, roster: list[uuid.UUID] | None = None
) -> MeetingSnapshot:
    return MeetingSnapshot(
        meeting_id=meeting,
        tenant_id=tenant,
        title="Kaffe og prat på biblioteket",
        format="standard",
        status=status,
        starts_at=datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=10),
        duration_minutes=105,
        venue=Venue(name="Arendal bibliotek", address="Torvet 6, 4836 Arendal", kind="library"),
        capacity=Capacity(newcomer=PEOPLE // 2, resident=PEOPLE // 2),
        confirmed_registration_ids=roster,
    )


def meeting_events(
    tenant: uuid.UUID, meeting: uuid.UUID, *statuses: MeetingStatus, roster: list[uuid.UUID] | None = None
) -> Iterator[Record]:
    for status in statuses:
        type_ = {
            MeetingStatus.DRAFT: "meeting.created",
            MeetingStatus.PUBLISHED: "meeting.published",
            MeetingStatus.REGISTRATION_CLOSED: "meeting.registration_closed",
        }[status]
        closed = roster if status == MeetingStatus.REGISTRATION_CLOSED else None
        yield Record.of(make_event(type_, tenant, snapshot(tenant, meeting, status, closed)), meeting)


@dataclass(frozen=True)
class Person:
    registration: uuid.UUID
    participant: uuid.UUID
    group: str
    i: int


def people() -> list[Person]:
    return [Person(uuid.uuid4(), uuid.uuid4(), "newcomer" if i % 2 else "resident", i) for i in range(PEOPLE)]


def confirmed(tenant: uuid.UUID, meeting: uuid.UUID, p: Person) -> Record:
    profile = Profile(
        interests=[INTERESTS[p.i % len(INTERESTS)], INTERESTS[(p.i * 3 + 1) % len(INTERESTS)]],
        occupation_field="health_care" if p.i % 2 else "education",
        languages=["nb", "en"],
        age_band="35-44",
        norwegian_level="B1" if p.group == "newcomer" else None,
        first_time=p.i % 2 == 0,
    )
    data = RegistrationChanged(
        registration_id=p.registration,
        participant_id=p.participant,
        meeting_id=meeting,
        tenant_id=tenant,
        group=p.group,
        status=RegistrationStatus.CONFIRMED,
        language=["nb", "nn", "en"][p.i % 3],
        profile=profile,
    )
    return Record.of(make_event("registration.confirmed", tenant, data), meeting)


def plan(tenant: uuid.UUID, meeting: uuid.UUID, version: int, status: str, persons: list[Person]) -> Pairing:
    newcomers = [p for p in persons if p.group == "newcomer"]
    residents = [p for p in persons if p.group == "resident"]
    pairs = [
        Pair(
            number=n + 1,
            members=[
                PairMember(
                    participant_id=a.participant,
                    registration_id=a.registration,
                    group="newcomer",
                    seat=2 * n + 1,
                    side="left",
                ),
                PairMember(
                    participant_id=b.participant,
                    registration_id=b.registration,
                    group="resident",
                    seat=2 * n + 2,
                    side="right",
                ),
            ],
            score=4.5,
            reasons=["interests: music", "occupation_field"],
        )
        for n, (a, b) in enumerate(
            zip(newcomers, residents[version % len(residents) :] + residents[: version % len(residents)], strict=True)
        )
    ]
    return Pairing(meeting_id=meeting, tenant_id=tenant, version=version, status=status, pairs=pairs, total_score=54.0)


def plan_record(tenant: uuid.UUID, meeting: uuid.UUID, version: int, status: str, persons: list[Person]) -> Record:
    type_ = "matching.pairs_published" if status == "published" else "matching.pairs_proposed"
    event = make_event(type_, tenant, plan(tenant, meeting, version, status, persons))
    return Record.of(event, meeting, source="matching")


def registration_load(events: int, meetings: list[tuple[uuid.UUID, uuid.UUID]]) -> Load:
    """Seating plans of ``meetings`` (which exist in registration's database), version by version."""
    load = Load(meetings=meetings)
    persons = {m: people() for _, m in meetings}
    for version in range(1, PLAN_VERSIONS + 1):
        status = "published" if version == PLAN_VERSIONS else "proposed"
        for tenant, meeting in meetings:
            load.backlog.append(plan_record(tenant, meeting, version, status, persons[meeting]))
    del load.backlog[events:]
    return load


def matching_load(events: int) -> Load:
    load = Load()
    ids = tenants(load)
    n = 0
    while len(load.backlog) < events:
        tenant, meeting, persons = ids[n % len(ids)], uuid.uuid4(), people()
        load.backlog += meeting_events(tenant, meeting, MeetingStatus.DRAFT, MeetingStatus.PUBLISHED)
        load.backlog += [confirmed(tenant, meeting, p) for p in persons]
        roster = [p.registration for p in persons]
        load.backlog += meeting_events(tenant, meeting, MeetingStatus.REGISTRATION_CLOSED, roster=roster)
        n += 1
    return load


def notification_load(events: int) -> Load:
    load = Load()
    ids = tenants(load)
    n = 0
    expires = datetime.now(UTC) + timedelta(days=1)
    while sum(r.value is not None for r in load.backlog) < events:
        tenant, meeting = ids[n % len(ids)], uuid.uuid4()
        load.backlog += meeting_events(tenant, meeting, MeetingStatus.DRAFT, MeetingStatus.PUBLISHED)
        for p in people():
            signup = uuid.uuid4()
            address = f"p{p.i}.{meeting.hex[:12]}@bench.example.no"
            language = ["nb", "nn", "en"][p.i % 3]
            key = f"signup/{signup}"
            requested = SignupRequested(
                signup_id=signup,
                tenant_id=tenant,
                meeting_id=meeting,
                name=f"Person {p.i}",
                email=address,
                language=language,
                confirm_token=secrets.token_urlsafe(24),
                expires_at=expires,
            )
            contact = ContactUpserted(
                participant_id=p.participant, tenant_id=tenant, name=f"Person {p.i}", email=address, language=language
            )
            link = ManageLink(
                participant_id=p.participant,
                registration_id=p.registration,
                meeting_id=meeting,
                tenant_id=tenant,
                manage_token=secrets.token_urlsafe(24),
            )
            closed = SignupClosed(signup_id=signup, tenant_id=tenant, outcome="confirmed")
            load.backlog += [
                Record.of(make_event("contact.signup_requested", tenant, requested), key),
                Record.of(make_event("contact.upserted", tenant, contact), p.participant),
                Record.of(make_event("contact.manage_link", tenant, link), f"{p.participant}/{p.registration}"),
                confirmed(tenant, meeting, p),
                Record.of(make_event("contact.signup_closed", tenant, closed), key),
                Record.tombstone(topics.CONTACTS, key),
            ]
        n += 1
    return load


def reporting_load(events: int) -> Load:
    load = Load()
    ids = tenants(load)
    n = 0
    while len(load.backlog) < events:
        tenant, meeting, persons = ids[n % len(ids)], uuid.uuid4(), people()
        load.backlog += meeting_events(tenant, meeting, MeetingStatus.DRAFT, MeetingStatus.PUBLISHED)
        load.backlog += [confirmed(tenant, meeting, p) for p in persons]
        roster = [p.registration for p in persons]
        load.backlog += meeting_events(tenant, meeting, MeetingStatus.REGISTRATION_CLOSED, roster=roster)
        load.backlog.append(plan_record(tenant, meeting, 1, "proposed", persons))
        load.backlog.append(plan_record(tenant, meeting, 1, "published", persons))
        for p in persons:
            for _ in range(NOTIFICATIONS_PER_PERSON):
                sent = NotificationOutcome(
                    notification_id=uuid.uuid4(),
                    tenant_id=tenant,
                    meeting_id=meeting,
                    participant_id=p.participant,
                    kind="registration_confirmed",
                    channel="email",
                )
                load.backlog.append(Record.of(make_event("notification.sent", tenant, sent), meeting, "notification"))
        n += 1
    return load


async def produce(bootstrap: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for start in range(0, len(records), 5000):
            sent = [
                await producer.send(r.topic, r.value, key=r.key.encode(), headers=r.headers)
                for r in records[start : start + 5000]
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()


# --- the run --------------------------------------------------------------------------------------------


@dataclass
class Drain:
    records: int = 0
    seconds: float = 0.0
    timed_out: bool = False
    cut_short: bool = False  # stopped after the time allowed, still behind: the rate is over what it did

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def config_for(service: str, server: str, bootstrap: str, prefix: str, sink: MailSink, batch: str) -> PlatformConfig:
    return PlatformConfig(
        server_dsn=server,
        kafka_bootstrap=bootstrap,
        operator_token=secrets.token_urlsafe(16),
        smtp_port=sink.port,
        ports={service: free_port()},
        database_prefix=prefix,
        consumer_group_prefix=prefix,
        extra_env={
            "FMF_CONSUMER_BATCH": batch,
            "FMF_RATE_LIMITS_ENABLED": "false",
            "FMF_LOG_LEVEL": "WARNING",
            "FMF_LAG_INTERVAL_S": "1",
            "FMF_SENDER_POLL_INTERVAL_S": "0.5",
        },
    )


def handled(service: str, records: list[Record]) -> int:
    """How many of ``records`` the service's inbox records: those of a type it has a handler for."""
    table = importlib.import_module(f"services.{service}.handlers").HANDLERS
    subscribed = set(importlib.import_module(f"services.{service}.handlers").SUBSCRIBES_TO)
    return sum(1 for r in records if r.event_type in table and r.topic in subscribed)


async def settle(config: PlatformConfig, service: str, timeout_s: float = 120) -> None:
    """Wait until the service's group has committed everything on its topics."""
    async with GroupOffsets(config.kafka_bootstrap, {service: f"{config.consumer_group_prefix}-{service}"}) as offsets:
        deadline = time.monotonic() + timeout_s
        while (await offsets.positions())[service].lag:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} did not consume its setup in {timeout_s:.0f} s")
            await asyncio.sleep(0.2)


async def registration_meetings(config: PlatformConfig, count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``count`` meetings of one tenant, created through registration's API."""
    api = config.url("registration") + "/v1"
    operator = {"Authorization": f"Bearer {config.operator_token}"}
    async with aiohttp.ClientSession() as http:
        tenant_body = {"slug": "bench", "name": "Benchmark kommune", "municipality_number": "9998"}
        async with http.post(f"{api}/tenants", json=tenant_body, headers=operator) as r:
            tenant = uuid.UUID((await r.json())["id"])
        async with http.post(f"{api}/tenants/bench/tokens", headers=operator) as r:
            coordinator = {"Authorization": f"Bearer {(await r.json())['token']}"}
        gate = asyncio.Semaphore(16)

        async def one() -> tuple[uuid.UUID, uuid.UUID]:
            async with gate, http.post(f"{api}/tenants/bench/meetings", json=meeting_body(), headers=coordinator) as r:
                if r.status != 201:
                    raise RuntimeError(f"meeting not created: {r.status} {await r.text()}")
                return tenant, uuid.UUID((await r.json())["id"])

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def drain(config: PlatformConfig, service: str, expected: int, timeout_s: float, limit_s: float) -> Drain:
    """Time the service's group from its first commit until its lag is 0 and its inbox holds ``expected`` ids;
    or, after ``limit_s`` seconds of draining, stop and time what it committed so far (``cut_short``)."""
    group = f"{config.consumer_group_prefix}-{service}"
    result = Drain()
    conn = await asyncpg.connect(config.database_url(service))
    try:
        async with GroupOffsets(config.kafka_bootstrap, {service: group}) as offsets:
            deadline = time.monotonic() + timeout_s
            first: tuple[float, int] | None = None
            shown = time.monotonic()
            while True:
                position = (await offsets.positions())[service]
                now = time.time()
                if first is None and position.committed > 0:
                    first = (now, position.committed)
                if first is not None and position.lag == 0:
                    inbox = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group)
                    if inbox >= expected:
                        result.records = position.committed - first[1]
                        result.seconds = now - first[0]
                        return result
                if first is not None and now - first[0] > limit_s:
                    result.records = position.committed - first[1]
                    result.seconds = now - first[0]
                    result.cut_short = True
                    return result
                if time.monotonic() > deadline:
                    result.timed_out = True
                    print(f"    gave up after {timeout_s:.0f} s: lag {position.lag}", flush=True)
                    return result
                if time.monotonic() - shown > 10:
                    shown = time.monotonic()
                    print(f"    {position.committed} committed, lag {position.lag}", flush=True)
                await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def clone(server: str, template: str, name: str) -> None:
    conn = await asyncpg.connect(db.with_database(server, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()


def bench_service(service: str, server: str, args: argparse.Namespace, sink: MailSink) -> dict[str, Drain]:
    """Prepare the service's database, preload its broker, and drain the backlog each way."""
    run = f"cb{uuid.uuid4().hex[:6]}"
    results: dict[str, Drain] = {}
    with embedded_broker() as bootstrap:
        asyncio.run(ensure_topics(bootstrap, args.partitions))
        base = config_for(service, server, bootstrap, f"{run}base", sink, "false")
        load_meetings = -(-args.events // PLAN_VERSIONS) if service == "registration" else 0
        loads = {"matching": matching_load, "notification": notification_load, "reporting": reporting_load}
        load = loads[service](args.events) if service in loads else Load()
        asyncio.run(produce(bootstrap, load.setup))
        processes = ServiceProcesses(base, services=(service,))
        try:
            processes.start()
            processes.wait_ready()
            if load_meetings:
                load = registration_load(args.events, asyncio.run(registration_meetings(base, load_meetings)))
            asyncio.run(settle(base, service))
        finally:
            processes.stop()
        started = time.time()
        asyncio.run(produce(bootstrap, load.backlog))
        records = len(load.setup) + len(load.backlog)
        expected = handled(service, load.setup + load.backlog)
        types = sorted({r.event_type or "tombstone" for r in load.backlog})
        print(
            f"  {service}: {records} records preloaded in {time.time() - started:.1f} s"
            f" ({len(load.backlog)} of {', '.join(types)}; {len(load.setup)} tenant records),"
            f" {expected} for its inbox",
            flush=True,
        )
        for mode in args.modes:
            config = config_for(service, server, bootstrap, f"{run}{mode}", sink, MODES[mode])
            asyncio.run(clone(server, f"{run}base_{service}", f"{run}{mode}_{service}"))
            processes = ServiceProcesses(config, services=(service,))
            try:
                processes.start()
                processes.wait_ready()
                limit = args.single_limit if mode == "single" else float("inf")
                results[mode] = asyncio.run(drain(config, service, expected, args.timeout, limit))
            finally:
                processes.stop()
                asyncio.run(db.drop_database(config.database_url(service)))
            r = results[mode]
            cut = f" (stopped after {args.single_limit:.0f} s, still behind)" if r.cut_short else ""
            print(f"    {mode}: {r.records} records in {r.seconds:.1f} s, {r.per_second:.0f}/s{cut}", flush=True)
        asyncio.run(db.drop_database(base.database_url(service)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.consumers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000, help="events preloaded per service")
    parser.add_argument("--services", default=",".join(SERVICES), help="comma-separated, of " + ", ".join(SERVICES))
    parser.add_argument("--modes", default="single,batched", help="single (one record per transaction), batched")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic")
    parser.add_argument("--timeout", type=float, default=1200.0, help="longest drain, seconds")
    parser.add_argument(
        "--single-limit",
        type=float,
        default=120.0,
        help="seconds the one-record-per-transaction drain is timed before it is stopped (its rate is over what it"
        " committed by then: it was behind all along); notification drains ~30 records/s that way on 2 cores",
    )
    args = parser.parse_args()
    services = [s.strip() for s in args.services.split(",") if s.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(services) <= set(SERVICES) or not set(args.modes) <= set(MODES):
        parser.error("unknown service or mode")
    print(
        f"consumer drain, {args.events} events per service, {args.partitions} partitions per topic;"
        f" {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    results: dict[str, dict[str, Drain]] = {}
    started = time.time()
    sink = MailSink()
    sink.controller.start()
    try:
        with postgres_server() as server:
            for service in services:
                results[service] = bench_service(service, server, args, sink)
    finally:
        sink.controller.stop()
    print(f"\n{'service':<14}" + "".join(f"{m + ' /s':>14}" for m in args.modes) + f"{'ratio':>10}")
    for service, found in results.items():
        rates = [found[m].per_second for m in args.modes if m in found]
        ratio = f"{rates[-1] / rates[0]:.1f}x" if len(rates) > 1 and rates[0] else ""
        flags = " (timed out)" if any(d.timed_out for d in found.values()) else ""
        if found.get("single") and found["single"].cut_short:
            flags += f" (one per transaction: the first {found['single'].seconds:.0f} s)"
        print(f"{service:<14}" + "".join(f"{r:>14.0f}" for r in rates) + f"{ratio:>10}{flags}")
    print(f"\n{time.time() - started:.0f} s in all; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
