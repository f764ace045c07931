"""The registration use cases. Each runs in one transaction that also writes its events to the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from services.registration import domain, store
from services.registration.schemas import LockIn, MeetingIn, PublishPairsIn, SignUpIn, SwapIn, TenantIn
from shared import metrics, outbox
from shared.auth import Principal, hash_token, new_token
from shared.db import Conn
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import (
    Capacity,
    ContactUpserted,
    Envelope,
    LockRequested,
    MeetingSnapshot,
    Pairing,
    Payload,
    Profile,
    PublishRequested,
    RegistrationChanged,
    SwapRequested,
    TenantCreated,
    TokenIssued,
    Venue,
    make_event,
)
from shared.formats import FORMATS

SOURCE = "registration"


def _now() -> datetime:
    return datetime.now(UTC)


def snapshot(row: asyncpg.Record, roster: list[uuid.UUID] | None = None) -> MeetingSnapshot:
    return MeetingSnapshot(
        meeting_id=row["id"],
        tenant_id=row["tenant_id"],
        title=row["title"],
        format=row["format"],
        status=row["status"],
        starts_at=row["starts_at"],
        duration_minutes=row["duration_minutes"],
        timezone=row["timezone"],
        venue=Venue(**store.venue_of(row)),
        capacity=Capacity(newcomer=row["capacity_newcomer"], resident=row["capacity_resident"]),
        confirmed_registration_ids=roster,
    )


def registration_event(type_: str, reg: asyncpg.Record, status: str, correlation: uuid.UUID) -> Envelope:
    data = RegistrationChanged(
        registration_id=reg["id"],
        participant_id=reg["participant_id"],
        meeting_id=reg["meeting_id"],
        tenant_id=reg["tenant_id"],
        group=reg["group"],
        status=status,
        language=reg["language"],
        profile=Profile.model_validate(reg["profile"] or {}),
    )
    return make_event(type_, reg["tenant_id"], data, correlation_id=correlation)


# --- tenants ---------------------------------------------------------------------------------


async def create_tenant(pool: asyncpg.Pool, body: TenantIn) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        try:
            row = await store.insert_tenant(conn, uuid.uuid4(), body.slug, body.name, body.municipality_number)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                f"a tenant with slug '{body.slug}' or municipality number {body.municipality_number} exists"
            ) from exc
        event = make_event(
            "tenant.created",
            row["id"],
            TenantCreated(
                tenant_id=row["id"],
                slug=row["slug"],
                name=row["name"],
                municipality_number=row["municipality_number"],
                timezone=row["timezone"],
            ),
        )
        await outbox.enqueue(conn, SOURCE, [(event, row["id"])])
        return row


async def issue_token(pool: asyncpg.Pool, slug: str) -> tuple[uuid.UUID, str]:
    async with pool.acquire() as conn, conn.transaction():
        tenant = await store.tenant_by_slug(conn, slug)
        if tenant is None:
            raise NotFound(f"no tenant '{slug}'")
        token, token_id = new_token(), uuid.uuid4()
        await store.insert_token(conn, token_id, tenant["id"], hash_token(token))
        event = make_event(
            "tenant.token_issued",
            tenant["id"],
            TokenIssued(token_id=token_id, tenant_id=tenant["id"], token_hash=hash_token(token)),
        )
        await outbox.enqueue(conn, SOURCE, [(event, tenant["id"])])
        return token_id, token


async def visible_tenant(conn: Conn, principal: Principal, slug: str) -> asyncpg.Record:
    tenant = await store.tenant_by_slug(conn, slug)
    if tenant is None or not principal.can_see(tenant["id"]):
        raise NotFound(f"no tenant '{slug}'")
    return tenant


async def visible_meeting(
    conn: Conn, principal: Principal | None, meeting_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record:
    row = await store.meeting(conn, meeting_id, lock=lock)
    if row is None or principal is None or not principal.can_see(row["tenant_id"]):
        raise NotFound(f"no meeting {meeting_id}")
    return row


# --- meetings --------------------------------------------------------------------------------


async def create_meeting(pool: asyncpg.Pool, principal: Principal, slug: str, body: MeetingIn) -> asyncpg.Record:
    fmt = FORMATS[body.format]
    duration = body.duration_minutes or fmt.duration_minutes
    capacity = body.capacity or Capacity(newcomer=fmt.newcomers, resident=fmt.residents)
    async with pool.acquire() as conn, conn.transaction():
        tenant = await visible_tenant(conn, principal, slug)
        window = domain.DayWindow(tenant["timezone"], tenant["day_starts"], tenant["day_ends"])
        problems = domain.meeting_problems(
            starts_at=body.starts_at,
            duration_minutes=duration,
            registration_closes_at=body.registration_closes_at,
            now=_now(),
            window=window,
        )
        if problems:
            raise Unprocessable("; ".join(problems))
        row = await store.insert_meeting(
            conn,
            id=uuid.uuid4(),
            tenant_id=tenant["id"],
            title=body.title,
            format=body.format,
            starts_at=body.starts_at,
            duration_minutes=duration,
            registration_closes_at=body.registration_closes_at,
            venue=body.venue.model_dump(),
            capacity_newcomer=capacity.newcomer,
            capacity_resident=capacity.resident,
        )
        created = await store.meeting(conn, row["id"])
        assert created is not None
        event = make_event("meeting.created", created["tenant_id"], snapshot(created))
        await outbox.enqueue(conn, SOURCE, [(event, created["id"])])
        return created


async def transition(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, action: str) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        row = await visible_meeting(conn, principal, meeting_id, lock=True)
        try:
            target = domain.next_state(action, row["status"])
        except domain.RuleViolation as exc:
            raise Conflict(str(exc)) from exc
        row = await store.set_meeting_status(conn, meeting_id, target)
        roster = await store.confirmed_registration_ids(conn, meeting_id) if target == "registration_closed" else None
        event = make_event(domain.EVENT_OF_STATE[target], row["tenant_id"], snapshot(row, roster))
        await outbox.enqueue(conn, SOURCE, [(event, meeting_id)])
        return row


# --- registrations ---------------------------------------------------------------------------


async def sign_up(
    pool: asyncpg.Pool, principal: Principal | None, meeting_id: uuid.UUID, body: SignUpIn
) -> tuple[asyncpg.Record, str]:
    async with pool.acquire() as conn, conn.transaction():
        # The meeting row lock serialises sign-ups per meeting, so capacity can never be exceeded.
        meeting = await store.meeting(conn, meeting_id, lock=True)
        coordinator = meeting is not None and principal is not None and principal.can_see(meeting["tenant_id"])
        if meeting is None or (meeting["status"] == "draft" and not coordinator):
            raise NotFound(f"no meeting {meeting_id}")
        if meeting["status"] != "published":
            raise Conflict(f"the meeting is {meeting['status']}; sign-up is open only while it is published")
        if body.group == "newcomer" and not coordinator:
            raise Forbidden("newcomers are signed up by the coordinator, or with the meeting's invitation code")
        now = _now()
        participant = await store.find_or_create_participant(
            conn,
            meeting["tenant_id"],
            name=body.name,
            email=body.email,
            phone=body.phone,
            language=body.language,
            profile=Profile.model_validate(body.model_dump()).model_dump(),
            consent_at=now,
        )
        if await store.has_live_registration(conn, meeting_id, participant["id"]):
            raise Conflict("this person is already signed up for this meeting")
        capacity = meeting[f"capacity_{body.group}"]
        status = domain.place_for(await store.count_confirmed(conn, meeting_id, body.group), capacity)
        token = new_token()
        await store.insert_registration(
            conn,
            id=uuid.uuid4(),
            tenant_id=meeting["tenant_id"],
            meeting_id=meeting_id,
            participant_id=participant["id"],
            group=body.group,
            status=status,
            token_hash=hash_token(token),
        )
        reg = await store.registration_by_token(conn, hash_token(token))
        assert reg is not None
        correlation = uuid.uuid4()
        contact = make_event(
            "contact.upserted",
            meeting["tenant_id"],
            ContactUpserted(
                participant_id=participant["id"],
                tenant_id=meeting["tenant_id"],
                name=participant["name"],
                email=participant["email"],
                phone=participant["phone"],
                language=participant["language"],
            ),
            correlation_id=correlation,
        )
        await outbox.enqueue(
            conn,
            SOURCE,
            [
                (contact, participant["id"]),
                (registration_event(f"registration.{status}", reg, status, correlation), meeting_id),
            ],
        )
    metrics.REGISTRATIONS.labels(outcome=status).inc()
    return reg, token


async def cancel_registration(
    pool: asyncpg.Pool, principal: Principal | None, manage_token: str | None, registration_id: uuid.UUID
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        reg = await store.registration(conn, registration_id)
        allowed = reg is not None and (
            (principal is not None and principal.can_see(reg["tenant_id"]))
            or (manage_token is not None and reg["manage_token_hash"] == hash_token(manage_token))
        )
        if reg is None or not allowed:
            raise NotFound(f"no registration {registration_id}")
        meeting = await store.meeting(conn, reg["meeting_id"], lock=True)
        assert meeting is not None
        reg = await store.registration(conn, registration_id)  # re-read under the meeting lock
        assert reg is not None
        if reg["status"] == "cancelled":
            return
        if meeting["status"] in ("completed", "cancelled"):
            raise Conflict(f"the meeting is {meeting['status']}; its registrations can no longer change")
        await store.set_registration_status(conn, registration_id, "cancelled")
        correlation = uuid.uuid4()
        waiting = None
        if reg["status"] == "confirmed":
            waiting = await store.first_waitlisted(conn, reg["meeting_id"], reg["group"])
        cancelled = registration_event("registration.cancelled", reg, "cancelled", correlation)
        events = [(cancelled, reg["meeting_id"])]
        if waiting is not None:
            await store.set_registration_status(conn, waiting["id"], "confirmed")
            cancelled.data["promoted_registration_id"] = str(waiting["id"])
            promoted = registration_event("registration.promoted", waiting, "confirmed", correlation)
            events.append((promoted, reg["meeting_id"]))
        await outbox.enqueue(conn, SOURCE, events)
    metrics.REGISTRATIONS.labels(outcome="cancelled").inc()


# --- the coordinator's say over the pairs ------------------------------------------------------


async def _open_plan(conn: Conn, principal: Principal, meeting_id: uuid.UUID) -> tuple[asyncpg.Record, Pairing]:
    meeting = await visible_meeting(conn, principal, meeting_id, lock=True)
    if meeting["status"] != "registration_closed":
        raise Conflict(f"the meeting is {meeting['status']}; pairs can be changed after registration closes")
    row = await store.seating(conn, meeting_id)
    if row is None:
        raise Conflict("no pairs proposed yet; try again in a moment")
    return meeting, Pairing.model_validate(row["proposal"])


def _seated(plan: Pairing) -> dict[uuid.UUID, tuple[int, str]]:
    return {m.registration_id: (pair.number, m.group) for pair in plan.pairs for m in pair.members}


async def _command(conn: Conn, meeting: asyncpg.Record, type_: str, data: Payload) -> uuid.UUID:
    event = make_event(type_, meeting["tenant_id"], data)
    await outbox.enqueue(conn, SOURCE, [(event, meeting["id"])])
    return event.id


async def swap(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: SwapIn) -> tuple[uuid.UUID, int]:
    async with pool.acquire() as conn, conn.transaction():
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        seated = _seated(plan)
        a, b = body.registration_ids
        for rid in (a, b):
            if rid not in seated:
                raise Unprocessable(f"registration {rid} is not seated in version {plan.version} of the plan")
        if seated[a][1] != seated[b][1]:
            raise Unprocessable("swap two newcomers or two residents, so every pair keeps one of each")
        if seated[a][0] == seated[b][0]:
            raise Unprocessable("the two people sit in the same pair already")
        data = SwapRequested(meeting_id=meeting_id, tenant_id=meeting["tenant_id"], registration_ids=(a, b))
        return await _command(conn, meeting, "matching.swap_requested", data), plan.version


async def lock(pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: LockIn) -> tuple[uuid.UUID, int]:
    async with pool.acquire() as conn, conn.transaction():
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        if body.registration_id not in _seated(plan):
            raise Unprocessable(f"registration {body.registration_id} is not seated in version {plan.version}")
        data = LockRequested(
            meeting_id=meeting_id,
            tenant_id=meeting["tenant_id"],
            registration_id=body.registration_id,
            locked=body.locked,
        )
        return await _command(conn, meeting, "matching.lock_requested", data), plan.version


async def publish_pairs(
    pool: asyncpg.Pool, principal: Principal, meeting_id: uuid.UUID, body: PublishPairsIn
) -> tuple[uuid.UUID, int]:
    async with pool.acquire() as conn, conn.transaction():
        meeting, plan = await _open_plan(conn, principal, meeting_id)
        if body.version != plan.version:
            raise Conflict(f"the current plan is version {plan.version}; review it and publish that version")
        if plan.status == "published":
            raise Conflict(f"version {plan.version} is published already")
        data = PublishRequested(meeting_id=meeting_id, tenant_id=meeting["tenant_id"], version=plan.version)
        return await _command(conn, meeting, "matching.publish_requested", data), plan.version
