"""Idempotent consumer: an event id is recorded in the same transaction as its effect."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shared import metrics
from shared.db import Conn
from shared.events import Envelope


async def claim(conn: Conn, consumer: str, event: Envelope) -> bool:
    """Record ``event`` as applied by ``consumer``; False if it was applied before (a duplicate)."""
    inserted = await conn.fetchval(
        "INSERT INTO inbox (consumer, event_id, tenant_id, event_type) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event.id,
        event.tenant_id,
        event.type,
    )
    if not inserted:
        metrics.INBOX_DUPLICATES.inc()
        return False
    return True


async def claim_many(conn: Conn, consumer: str, events: Sequence[Envelope]) -> set[uuid.UUID]:
    """Record every event of ``events`` as applied by ``consumer``, in one statement; return the ids that
    were not applied before (the others, repeats, are counted as duplicates). An id that occurs twice in
    ``events`` is claimed once, so only its first occurrence is new."""
    if not events:
        return set()
    firsts = {event.id: event for event in reversed(events)}  # the first occurrence of each id wins
    unique = list(firsts.values())
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_id, tenant_id, event_type)"
        " SELECT $1, e, t, et FROM unnest($2::uuid[], $3::uuid[], $4::text[]) AS u (e, t, et)"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        [e.id for e in unique],
        [e.tenant_id for e in unique],
        [e.type for e in unique],
    )
    fresh = {row["event_id"] for row in rows}
    repeats = len(events) - len(fresh)
    if repeats:
        metrics.INBOX_DUPLICATES.inc(repeats)
    return fresh
