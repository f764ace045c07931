"""All SQL of the matching service."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Conn


async def upsert_meeting(
    conn: Conn,
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    fmt: str,
    status: str,
    roster: list[uuid.UUID] | None,
) -> None:
    await conn.execute(
        "INSERT INTO meetings (meeting_id, tenant_id, format, status, roster) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (meeting_id) DO UPDATE SET format = EXCLUDED.format, status = EXCLUDED.status,"
        " roster = COALESCE(EXCLUDED.roster, meetings.roster), updated_at = now()",
        meeting_id,
        tenant_id,
        fmt,
        status,
        roster,
    )


async def upsert_candidate(conn: Conn, **c: Any) -> None:
    await conn.execute(
        'INSERT INTO candidates (registration_id, tenant_id, meeting_id, participant_id, "group", status, profile)'
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (registration_id) DO UPDATE"
        " SET status = EXCLUDED.status, profile = EXCLUDED.profile, updated_at = now()",
        c["registration_id"],
        c["tenant_id"],
        c["meeting_id"],
        c["participant_id"],
        c["group"],
        c["status"],
        c["profile"],
    )


async def lock_meeting(conn: Conn, meeting_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM meetings WHERE meeting_id = $1 FOR UPDATE", meeting_id)


async def latest_version(conn: Conn, meeting_id: uuid.UUID) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM proposals WHERE meeting_id = $1", meeting_id))


async def candidates(conn: Conn, registration_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM candidates WHERE registration_id = ANY($1::uuid[])", registration_ids)


async def insert_proposal(
    conn: Conn,
    meeting_id: uuid.UUID,
    version: int,
    tenant_id: uuid.UUID,
    proposal: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO proposals (meeting_id, version, tenant_id, proposal) VALUES ($1, $2, $3, $4)",
        meeting_id,
        version,
        tenant_id,
        proposal,
    )
