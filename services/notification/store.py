"""All SQL of the notification service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Conn


async def upsert_contact(conn: Conn, **c: Any) -> None:
    await conn.execute(
        "INSERT INTO contacts (participant_id, tenant_id, name, email, phone, language)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (participant_id) DO UPDATE SET name = EXCLUDED.name,"
        " email = EXCLUDED.email, phone = EXCLUDED.phone, language = EXCLUDED.language, updated_at = now()",
        c["participant_id"],
        c["tenant_id"],
        c["name"],
        c["email"],
        c["phone"],
        c["language"],
    )


async def upsert_meeting(conn: Conn, **m: Any) -> None:
    await conn.execute(
        "INSERT INTO meetings (meeting_id, tenant_id, title, status, starts_at, duration_minutes, timezone, venue)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (meeting_id) DO UPDATE SET title = EXCLUDED.title,"
        " status = EXCLUDED.status, starts_at = EXCLUDED.starts_at, duration_minutes = EXCLUDED.duration_minutes,"
        " timezone = EXCLUDED.timezone, venue = EXCLUDED.venue",
        m["meeting_id"],
        m["tenant_id"],
        m["title"],
        m["status"],
        m["starts_at"],
        m["duration_minutes"],
        m["timezone"],
        m["venue"],
    )


async def add_notification(conn: Conn, **n: Any) -> bool:
    """Record a notification to send; False if this (cause, recipient, kind) exists already."""
    inserted = await conn.fetchval(
        "INSERT INTO notifications (id, tenant_id, cause_event_id, participant_id, meeting_id, kind, channel)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
        uuid.uuid4(),
        n["tenant_id"],
        n["cause_event_id"],
        n["participant_id"],
        n["meeting_id"],
        n["kind"],
        n["channel"],
    )
    return bool(inserted)


async def claim_due(conn: Conn) -> asyncpg.Record | None:
    """One due notification whose contact and meeting are known, locked for this sender."""
    return await conn.fetchrow(
        "SELECT n.*, c.name, c.email, c.phone, c.language, m.title, m.starts_at, m.duration_minutes,"
        " m.timezone, m.venue FROM notifications n"
        " JOIN contacts c ON c.participant_id = n.participant_id"
        " JOIN meetings m ON m.meeting_id = n.meeting_id"
        " WHERE n.status = 'pending' AND n.due_at <= now()"
        " ORDER BY n.due_at LIMIT 1 FOR UPDATE OF n SKIP LOCKED"
    )


async def mark_sent(conn: Conn, notification_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE notifications SET status = 'sent', sent_at = now(), attempts = attempts + 1 WHERE id = $1",
        notification_id,
    )


async def retry_later(conn: Conn, notification_id: uuid.UUID, due_at: datetime, error: str) -> None:
    await conn.execute(
        "UPDATE notifications SET attempts = attempts + 1, due_at = $2, last_error = $3 WHERE id = $1",
        notification_id,
        due_at,
        error,
    )


async def mark_failed(conn: Conn, notification_id: uuid.UUID, error: str) -> None:
    await conn.execute(
        "UPDATE notifications SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1",
        notification_id,
        error,
    )
