"""Erasure of a participant's personal data, on request and when the tenant's retention time is over."""

from __future__ import annotations

import hmac
import logging
import uuid
from datetime import datetime, timedelta

import asyncpg

from services.registration import domain, store
from services.registration.usecases import signups
from services.registration.usecases.common import NOBODY, SOURCE, now, refuse, scope_of, scoped
from services.registration.usecases.registrations import cancel_in_transaction
from shared import outbox, topics
from shared.auth import Principal, hash_token, new_token
from shared.db import ALL_TENANTS, Conn, transaction
from shared.errors import NotFound
from shared.events import (
    Envelope,
    ErasureRequestClosed,
    ErasureRequested,
    ParticipantErased,
    make_event,
)

log = logging.getLogger(__name__)


ERASURE_LINK_HOURS = 24


def erasure_key(request_id: uuid.UUID) -> str:
    """The contacts-topic key of an erasure waiting for confirmation."""
    return f"erasure/{request_id}"


async def erase_participant(pool: asyncpg.Pool, principal: Principal, participant_id: uuid.UUID) -> None:
    """A coordinator erases a participant of their tenant at once. Raises NotFound otherwise."""
    async with scoped(pool, scope_of(principal)) as conn:
        participant = await store.participant(conn, participant_id, lock=True)
        if participant is None or not principal.can_see(participant["tenant_id"]) or participant["erased_at"]:
            raise NotFound(f"no participant {participant_id}")
        await erase_in_transaction(conn, participant, "request")


async def request_erasure(pool: asyncpg.Pool, manage_token: str, participant_id: uuid.UUID) -> uuid.UUID:
    """A participant asks, with one of their manage tokens, to erase all their data. Nothing is erased yet:
    a link to confirm goes to their own contact (valid ERASURE_LINK_HOURS), so that a manage link that
    reached someone else cannot erase the person. Returns the request id; raises NotFound."""
    async with scoped(pool, NOBODY) as conn:
        await store.enter_tenant_of_participant(conn, participant_id)
        participant = await store.participant(conn, participant_id, lock=True)
        if (
            participant is None
            or participant["erased_at"] is not None
            or not await store.owns_registration(conn, participant_id, hash_token(manage_token))
        ):
            raise NotFound(f"no participant {participant_id}")
        request_id, token = uuid.uuid4(), new_token()
        expires_at = now() + timedelta(hours=ERASURE_LINK_HOURS)
        await store.insert_erasure_request(
            conn,
            id=request_id,
            tenant_id=participant["tenant_id"],
            participant_id=participant_id,
            confirm_token_hash=hash_token(token),
            expires_at=expires_at,
        )
        requested = ErasureRequested(
            request_id=request_id,
            participant_id=participant_id,
            tenant_id=participant["tenant_id"],
            confirm_token=token,
            expires_at=expires_at,
        )
        event = make_event("contact.erasure_requested", participant["tenant_id"], requested)
        await outbox.enqueue(conn, SOURCE, [(event, erasure_key(request_id))])
        return request_id


async def _open_erasure_request(
    conn: Conn, request_id: uuid.UUID, token: str, *, lock: bool = False
) -> tuple[asyncpg.Record, asyncpg.Record]:
    request = await store.erasure_request(conn, request_id, lock=lock)
    if request is None or not hmac.compare_digest(request["confirm_token_hash"], hash_token(token)):
        raise NotFound("this link is not valid; copy the whole link from the message")
    participant = await store.participant(conn, request["participant_id"], lock=lock)
    assert participant is not None
    refuse(
        domain.erasure_link_problem(
            participant["erased_at"] is not None, request["closed_at"], request["expires_at"], now()
        )
    )
    return request, participant


async def check_erasure_link(pool: asyncpg.Pool, request_id: uuid.UUID, token: str) -> None:
    """Whether an erasure link can still be used, for the page that asks to confirm it.

    Raises NotFound (not a valid link) or Conflict (used or expired)."""
    async with transaction(pool, store.scope_to_tenant_of_erasure_request(request_id)) as conn:
        await _open_erasure_request(conn, request_id, token)


async def confirm_erasure(pool: asyncpg.Pool, request_id: uuid.UUID, token: str) -> None:
    """Use the erasure link sent to the participant's contact: erase them now.

    Raises NotFound (not a valid link) or Conflict (used or expired).
    """
    async with transaction(pool, store.scope_to_tenant_of_erasure_request(request_id)) as conn:
        _, participant = await _open_erasure_request(conn, request_id, token, lock=True)
        await erase_in_transaction(conn, participant, "request")


async def erase_in_transaction(conn: Conn, participant: asyncpg.Record, reason: str) -> None:
    """Cancel the live places, blank the personal data everywhere in this database (the participant, the
    comments, sign-ups still waiting for confirmation, the outbox's copies on the contacts topic), and tell
    everyone: the event, then tombstones for every contacts-topic key that carried the person. ``reason``:
    ``request`` or ``retention``. Raises nothing of its own."""
    correlation = uuid.uuid4()
    pid, tenant_id = participant["id"], participant["tenant_id"]
    registrations = await store.registrations_of_participant(conn, pid)
    events: list[tuple[Envelope, object]] = []
    for reg in registrations:
        if domain.cancelled_by_erasure(reg["status"], reg["meeting_status"]):
            events += await cancel_in_transaction(conn, reg, correlation, "erasure")
    await signups.close_waiting_with_contact(conn, tenant_id, participant["email"], participant["phone"])
    await store.erase_personal_data(conn, pid)
    erased = ParticipantErased(
        participant_id=pid, tenant_id=tenant_id, registration_ids=[r["id"] for r in registrations], reason=reason
    )
    events.append((make_event("participant.erased", tenant_id, erased, correlation_id=correlation), pid))
    keys = (
        [str(pid)]
        + [f"{pid}/{r['id']}" for r in registrations]
        + [signups.signup_key(s) for s in await store.signup_ids_of_participant(conn, pid)]
        + [erasure_key(r) for r in await store.close_erasure_requests(conn, pid)]
    )
    await store.scrub_contacts_outbox(conn, topics.CONTACTS, keys)
    await outbox.enqueue(conn, SOURCE, events)
    await outbox.enqueue_tombstones(conn, SOURCE, tenant_id, topics.CONTACTS, keys, events[-1][0])


async def expire_erasure_requests(pool: asyncpg.Pool, at: datetime | None = None) -> int:
    """Close the erasure links nobody used in time (at ``at``, default now), and drop their tokens
    everywhere. Returns how many. Raises nothing of its own."""
    async with scoped(pool, ALL_TENANTS) as conn:
        expired = await store.expired_erasure_requests(conn, at or now())
        for request in expired:
            key = erasure_key(request["id"])
            await store.scrub_contacts_outbox(conn, topics.CONTACTS, [key])
            closed = ErasureRequestClosed(request_id=request["id"], tenant_id=request["tenant_id"], outcome="expired")
            event = make_event("contact.erasure_request_closed", request["tenant_id"], closed)
            await outbox.enqueue(conn, SOURCE, [(event, key)])
            await outbox.enqueue_tombstones(conn, SOURCE, request["tenant_id"], topics.CONTACTS, [key], event)
    return len(expired)


async def erase_expired(pool: asyncpg.Pool, at: datetime | None = None) -> int:
    """Erase everyone whose last meeting ended longer ago than their tenant's retention time (days) at
    ``at`` (default: now), one transaction per person. Returns how many were due (0 while another replica
    sweeps: the retention lock, ``shared/locks.py``). Raises nothing of its own."""
    at = at or now()
    async with scoped(pool, ALL_TENANTS) as conn:
        if not await store.try_retention_lock(conn):
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
