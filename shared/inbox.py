"""Idempotent consumer: an event id is recorded in the same transaction as its effect."""

from __future__ import annotations

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
