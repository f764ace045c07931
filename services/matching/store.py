"""All SQL of the matching service."""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

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


class Candidate(NamedTuple):
    """A registration as matching keeps it (``profile`` as JSON-ready data)."""

    registration_id: uuid.UUID
    tenant_id: uuid.UUID
    meeting_id: uuid.UUID
    participant_id: uuid.UUID
    group: str
    status: str
    profile: dict[str, Any]


async def upsert_candidates(conn: Conn, candidates: list[Candidate]) -> None:
    """Keep many candidates with one statement; each registration at most once in ``candidates``."""
    if not candidates:
        return
    columns = [list(column) for column in zip(*candidates, strict=True)]
    await conn.execute(
        'INSERT INTO candidates (registration_id, tenant_id, meeting_id, participant_id, "group", status, profile)'
        " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::jsonb[])"
        " ON CONFLICT (registration_id) DO UPDATE"
        " SET status = EXCLUDED.status, profile = EXCLUDED.profile, updated_at = now()",
        *columns,
    )


async def lock_meeting(conn: Conn, meeting_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM meetings WHERE meeting_id = $1 FOR UPDATE", meeting_id)


async def candidates(conn: Conn, registration_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM candidates WHERE registration_id = ANY($1::uuid[])", registration_ids)


async def latest_proposal(conn: Conn, meeting_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM proposals WHERE meeting_id = $1 ORDER BY version DESC LIMIT 1", meeting_id
    )


async def insert_versioned_proposal(
    conn: Conn, meeting_id: uuid.UUID, version: int, tenant_id: uuid.UUID, status: str, proposal: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO proposals (meeting_id, version, tenant_id, status, proposal) VALUES ($1, $2, $3, $4, $5)",
        meeting_id,
        version,
        tenant_id,
        status,
        proposal,
    )


async def mark_published(conn: Conn, meeting_id: uuid.UUID, version: int, proposal: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE proposals SET status = 'published', proposal = $3 WHERE meeting_id = $1 AND version = $2",
        meeting_id,
        version,
        proposal,
    )


async def confirmed_candidates(conn: Conn, meeting_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM candidates WHERE meeting_id = $1 AND status = 'confirmed' ORDER BY registration_id",
        meeting_id,
    )


async def locks(conn: Conn, meeting_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID]]:
    rows = await conn.fetch(
        "SELECT newcomer_registration_id, resident_registration_id FROM locks WHERE meeting_id = $1"
        " ORDER BY newcomer_registration_id",
        meeting_id,
    )
    return [(r[0], r[1]) for r in rows]


async def set_lock(
    conn: Conn, meeting_id: uuid.UUID, tenant_id: uuid.UUID, newcomer: uuid.UUID, resident: uuid.UUID
) -> None:
    await conn.execute(
        "DELETE FROM locks WHERE meeting_id = $1 AND (newcomer_registration_id = $2 OR resident_registration_id = $3)",
        meeting_id,
        newcomer,
        resident,
    )
    await conn.execute(
        "INSERT INTO locks (meeting_id, tenant_id, newcomer_registration_id, resident_registration_id)"
        " VALUES ($1, $2, $3, $4)",
        meeting_id,
        tenant_id,
        newcomer,
        resident,
    )


async def release_lock(conn: Conn, meeting_id: uuid.UUID, registration_id: uuid.UUID) -> None:
    await conn.execute(
        "DELETE FROM locks WHERE meeting_id = $1 AND $2 IN (newcomer_registration_id, resident_registration_id)",
        meeting_id,
        registration_id,
    )


async def history(conn: Conn, tenant_id: uuid.UUID, except_meeting: uuid.UUID) -> set[frozenset[uuid.UUID]]:
    rows = await conn.fetch(
        "SELECT participant_a, participant_b FROM pair_history WHERE tenant_id = $1 AND meeting_id <> $2",
        tenant_id,
        except_meeting,
    )
    return {frozenset((r[0], r[1])) for r in rows}


async def record_history(
    conn: Conn, tenant_id: uuid.UUID, meeting_id: uuid.UUID, pairs: list[tuple[uuid.UUID, uuid.UUID]]
) -> None:
    await conn.execute("DELETE FROM pair_history WHERE meeting_id = $1", meeting_id)
    await conn.executemany(
        "INSERT INTO pair_history (tenant_id, meeting_id, participant_a, participant_b) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        [(tenant_id, meeting_id, a, b) for a, b in pairs],
    )
