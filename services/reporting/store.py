"""All SQL of the reporting service."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import Conn


async def upsert_meeting(
    conn: Conn,
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    fmt: str,
    status: str,
    starts_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO meetings (meeting_id, tenant_id, format, status, starts_at) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (meeting_id) DO UPDATE SET format = EXCLUDED.format, status = EXCLUDED.status,"
        " starts_at = EXCLUDED.starts_at",
        meeting_id,
        tenant_id,
        fmt,
        status,
        starts_at,
    )


async def upsert_registration(
    conn: Conn,
    registration_id: uuid.UUID,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID,
    group: str,
    status: str,
    promoted: bool,
    first_time: bool | None,
) -> None:
    await conn.execute(
        'INSERT INTO registrations (registration_id, tenant_id, meeting_id, "group", status, was_promoted, first_time)'
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (registration_id) DO UPDATE"
        " SET status = EXCLUDED.status, was_promoted = registrations.was_promoted OR EXCLUDED.was_promoted",
        registration_id,
        tenant_id,
        meeting_id,
        group,
        status,
        promoted,
        first_time,
    )


async def upsert_pairing(
    conn: Conn,
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    version: int,
    pairs: int,
    trios: int,
) -> None:
    await conn.execute(
        "INSERT INTO pairings (meeting_id, tenant_id, version, pairs, trios) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (meeting_id) DO UPDATE SET version = EXCLUDED.version, pairs = EXCLUDED.pairs,"
        " trios = EXCLUDED.trios WHERE pairings.version <= EXCLUDED.version",
        meeting_id,
        tenant_id,
        version,
        pairs,
        trios,
    )


async def tenant_summary(conn: Conn, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
    """Per meeting: places by group and status, promotions, pairs and trios."""
    return await conn.fetch(
        """
        SELECT m.meeting_id, m.format, m.status, m.starts_at,
               count(*) FILTER (WHERE r.status = 'confirmed' AND r."group" = 'newcomer') AS confirmed_newcomer,
               count(*) FILTER (WHERE r.status = 'confirmed' AND r."group" = 'resident') AS confirmed_resident,
               count(*) FILTER (WHERE r.status = 'waitlisted' AND r."group" = 'newcomer') AS waitlisted_newcomer,
               count(*) FILTER (WHERE r.status = 'waitlisted' AND r."group" = 'resident') AS waitlisted_resident,
               count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE r.was_promoted) AS promoted,
               coalesce(p.pairs, 0) AS pairs, coalesce(p.trios, 0) AS trios
        FROM meetings m
        LEFT JOIN registrations r ON r.meeting_id = m.meeting_id
        LEFT JOIN pairings p ON p.meeting_id = m.meeting_id
        WHERE m.tenant_id = $1
        GROUP BY m.meeting_id, p.pairs, p.trios
        ORDER BY m.starts_at, m.meeting_id
        """,
        tenant_id,
    )
