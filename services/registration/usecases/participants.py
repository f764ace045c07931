"""Erasure of a participant's personal data, on request and when the tenant's retention time is over."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import asyncpg

from services.registration import store
from services.registration.usecases.common import SOURCE, now, scope_of, scoped
from services.registration.usecases.registrations import cancel_in_transaction
from shared import outbox, topics
from shared.auth import Principal, hash_token
from shared.db import ALL_TENANTS, Conn, set_tenant
from shared.errors import NotFound
from shared.events import Envelope, ParticipantErased, make_event

log = logging.getLogger(__name__)
_RETENTION_LOCK = 0x464D4610


async def erase_participant(
    pool: asyncpg.Pool, principal: Principal | None, manage_token: str | None, participant_id: uuid.UUID
) -> None:
    async with scoped(pool, scope_of(principal)) as conn:
        if principal is None:
            tenant_id = await conn.fetchval("SELECT tenant_of_participant($1)", participant_id)
            if tenant_id is not None:
                await set_tenant(conn, tenant_id)
        participant = await store.participant(conn, participant_id, lock=True)
        allowed = participant is not None and (
            (principal is not None and principal.can_see(participant["tenant_id"]))
            or (
                principal is None
                and manage_token is not None
                and await store.owns_registration(conn, participant_id, hash_token(manage_token))
            )
        )
        if participant is None or not allowed or participant["erased_at"] is not None:
            raise NotFound(f"no participant {participant_id}")
        await erase_in_transaction(conn, participant, "request")


async def erase_in_transaction(conn: Conn, participant: asyncpg.Record, reason: str) -> None:
    """Cancel the live places, blank the personal data, and tell everyone: the event and the tombstones."""
    correlation = uuid.uuid4()
    registrations = await store.registrations_of_participant(conn, participant["id"])
    events: list[tuple[Envelope, object]] = []
    for reg in registrations:
        if reg["status"] in ("confirmed", "waitlisted") and reg["meeting_status"] in (
            "published",
            "registration_closed",
        ):
            events += await cancel_in_transaction(conn, reg, correlation)
    await store.erase_personal_data(conn, participant["id"])
    erased = ParticipantErased(
        participant_id=participant["id"],
        tenant_id=participant["tenant_id"],
        registration_ids=[r["id"] for r in registrations],
        reason=reason,
    )
    events.append(
        (
            make_event("participant.erased", participant["tenant_id"], erased, correlation_id=correlation),
            participant["id"],
        )
    )
    await outbox.enqueue(conn, SOURCE, events)
    keys = [str(participant["id"])] + [f"{participant['id']}/{r['id']}" for r in registrations]
    await outbox.enqueue_tombstones(conn, SOURCE, participant["tenant_id"], topics.CONTACTS, keys, events[-1][0])


async def erase_expired(pool: asyncpg.Pool, at: datetime | None = None) -> int:
    """Erase everyone whose last meeting ended longer ago than their tenant's retention time."""
    at = at or now()
    async with scoped(pool, ALL_TENANTS) as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RETENTION_LOCK):
            return 0  # another replica is doing it
        expired = await store.participants_past_retention(conn, at)
    for participant_id in expired:
        async with scoped(pool, ALL_TENANTS) as conn:
            participant = await store.participant(conn, participant_id, lock=True)
            if participant is not None and participant["erased_at"] is None:
                await erase_in_transaction(conn, participant, "retention")
    if expired:
        log.info("retention: personal data erased", extra={"participants": len(expired)})
    return len(expired)
