"""What the use cases share: the tenant-scoped transaction, lookups that answer 404, the rule checks that
answer 409/422, event builders."""

from __future__ import annotations

import contextlib
import hmac
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from services.registration import domain, store
from shared.auth import Principal, hash_token
from shared.db import ALL_TENANTS, Conn, tenant_scope, transaction
from shared.errors import Conflict, NotFound, Unprocessable
from shared.events import (
    Capacity,
    Envelope,
    MeetingSnapshot,
    MeetingStatus,
    Profile,
    RegistrationChanged,
    RegistrationStatus,
    Venue,
    make_event,
)

SOURCE = "registration"
Row = asyncpg.Record | Mapping[str, Any]
NOBODY = ""  # a scope that sees no tenant's rows


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def refuse(problem: str | None, error: type[Conflict] | type[Unprocessable] = Conflict) -> None:
    """Raise ``error`` (Conflict, 409, by default; or Unprocessable, 422) with a domain rule's ``problem``
    sentence; nothing when the rule allowed the change (``problem`` is None)."""
    if problem:
        raise error(problem)


def scope_of(principal: Principal | None) -> str:
    """The tenant scope of the principal's transaction: its tenant, ALL_TENANTS for the operator, NOBODY for
    a public caller."""
    if principal is None:
        return NOBODY
    if principal.role == "operator":
        return ALL_TENANTS
    return str(principal.tenant_id)


@contextlib.asynccontextmanager
async def scoped(pool: asyncpg.Pool, scope: str, *, public_meeting: uuid.UUID | None = None) -> AsyncIterator[Conn]:
    """A transaction that sees only the rows of ``scope`` (a tenant id, ALL_TENANTS or NOBODY).

    A public caller (NOBODY) who names a meeting sees that meeting's tenant, or nothing if it is unknown.
    """
    if scope != NOBODY:
        setup = tenant_scope(scope)
    elif public_meeting is not None:
        setup = store.scope_to_tenant_of_meeting(public_meeting)
    else:
        setup = ""  # a fresh transaction sees nothing until a tenant is set
    async with transaction(pool, setup) as conn:
        yield conn


async def visible_tenant(conn: Conn, principal: Principal, slug: str) -> asyncpg.Record:
    """The tenant with ``slug`` if the principal may see it; raises NotFound otherwise."""
    tenant = await store.tenant_by_slug(conn, slug)
    if tenant is None or not principal.can_see(tenant["id"]):
        raise NotFound(f"no tenant '{slug}'")
    return tenant


async def visible_meeting(
    conn: Conn, principal: Principal | None, meeting_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record:
    """The meeting (``store.meeting``), locked with ``lock``, if the principal is its tenant's coordinator or
    the operator; raises NotFound otherwise (also to a public caller)."""
    row = await store.meeting(conn, meeting_id, lock=lock)
    if row is None or principal is None or not principal.can_see(row["tenant_id"]):
        raise NotFound(f"no meeting {meeting_id}")
    return row


async def registration_for(
    conn: Conn, principal: Principal | None, manage_token: str | None, registration_id: uuid.UUID
) -> asyncpg.Record:
    """The registration, if the caller is its participant (manage token) or its tenant's coordinator.

    A manage token is worth nothing once its participant is erased (erasure also deletes its hash): the
    registration then answers 404 to it, like an unknown one (issue 17, kind 4). Raises NotFound."""
    if principal is None:
        await store.enter_tenant_of_registration(conn, registration_id)
    reg = await store.registration(conn, registration_id)
    allowed = reg is not None and (
        (principal is not None and principal.can_see(reg["tenant_id"]))
        or (
            principal is None
            and manage_token is not None
            and reg["erased_at"] is None
            and reg["manage_token_hash"] is not None
            and hmac.compare_digest(reg["manage_token_hash"], hash_token(manage_token))
        )
    )
    if reg is None or not allowed:
        raise NotFound(f"no registration {registration_id}")
    return reg


def clock_of(meeting: Row) -> domain.MeetingClock:
    """The meeting's clock (start, end, closing time) from its row."""
    return domain.MeetingClock(
        starts_at=meeting["starts_at"],
        ends_at=meeting["ends_at"],
        registration_closes_at=meeting["registration_closes_at"],
    )


def check_time(action: str, meeting: Row) -> None:
    """Raise Conflict (409) when the meeting's clock refuses ``action`` now, whatever its status says."""
    refuse(domain.time_problem(action, clock_of(meeting), now()))


def meeting_facts(row: asyncpg.Record) -> dict[str, Any]:
    """What both the API's view of a meeting and its events say about it."""
    return {
        "tenant_id": row["tenant_id"],
        "title": row["title"],
        "format": row["format"],
        "status": MeetingStatus(row["status"]),
        "starts_at": row["starts_at"],
        "duration_minutes": row["duration_minutes"],
        "venue": Venue(**store.venue_of(row)),
        "capacity": Capacity(newcomer=row["capacity_newcomer"], resident=row["capacity_resident"]),
    }


def snapshot(row: asyncpg.Record, roster: list[uuid.UUID] | None = None) -> MeetingSnapshot:
    """The meeting as every ``meeting.*`` event carries it; ``roster``: the confirmed registrations."""
    return MeetingSnapshot(
        meeting_id=row["id"],
        timezone=row["timezone"],
        confirmed_registration_ids=roster,
        **meeting_facts(row),
    )


def registration_event(
    type_: str, reg: Row, status: str, correlation: uuid.UUID, reason: Literal["erasure"] | None = None
) -> Envelope:
    """A ``registration.*`` event (``type_``) of the registration row ``reg`` as it is with ``status``."""
    status = RegistrationStatus(status)
    data = RegistrationChanged(
        registration_id=reg["id"],
        participant_id=reg["participant_id"],
        meeting_id=reg["meeting_id"],
        tenant_id=reg["tenant_id"],
        group=reg["group"],
        status=status,
        language=reg["language"],
        profile=Profile.model_validate(reg["profile"] or {}),
        reason=reason,
        waitlist_position=reg.get("waitlist_position") if status == "waitlisted" else None,
    )
    return make_event(type_, reg["tenant_id"], data, correlation_id=correlation)
