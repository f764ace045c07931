"""All SQL of the registration service."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Conn

Record = asyncpg.Record


# --- tenants and tokens ------------------------------------------------------------------------


async def insert_tenant(conn: Conn, tenant_id: uuid.UUID, slug: str, name: str, number: str) -> Record:
    row = await conn.fetchrow(
        "INSERT INTO tenants (id, slug, name, municipality_number) VALUES ($1, $2, $3, $4) RETURNING *",
        tenant_id,
        slug,
        name,
        number,
    )
    assert row is not None
    return row


async def tenants(conn: Conn) -> list[Record]:
    return await conn.fetch("SELECT * FROM tenants ORDER BY slug")


async def tenant_by_slug(conn: Conn, slug: str, *, lock: bool = False) -> Record | None:
    return await conn.fetchrow("SELECT * FROM tenants WHERE slug = $1" + (" FOR UPDATE" if lock else ""), slug)


TENANT_SETTINGS = frozenset({"name", "timezone", "day_starts", "day_ends", "retention_days", "status"})


async def update_tenant(conn: Conn, tenant_id: uuid.UUID, changes: dict[str, Any]) -> Record:
    assert set(changes) <= TENANT_SETTINGS, "only known columns"
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
    sql = (
        f"UPDATE tenants SET {assignments} WHERE id = $1 RETURNING *"
        if changes
        else "SELECT * FROM tenants WHERE id = $1"
    )
    row = await conn.fetchrow(sql, tenant_id, *changes.values())
    assert row is not None
    return row


async def upsert_known_tenant(conn: Conn, tenant: Record) -> None:
    """The tenant as every service's auth sees it (registration keeps it beside its own table)."""
    await conn.execute(
        "INSERT INTO known_tenants (tenant_id, slug, name, municipality_number, timezone, status)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET slug = EXCLUDED.slug,"
        " name = EXCLUDED.name, timezone = EXCLUDED.timezone, status = EXCLUDED.status",
        tenant["id"],
        tenant["slug"],
        tenant["name"],
        tenant["municipality_number"],
        tenant["timezone"],
        tenant["status"],
    )


async def revoke_token(conn: Conn, tenant_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    done = await conn.fetchval(
        "UPDATE known_tokens SET revoked_at = now() WHERE token_id = $1 AND tenant_id = $2 AND revoked_at IS NULL"
        " RETURNING true",
        token_id,
        tenant_id,
    )
    return bool(done)


async def tenant_by_id(conn: Conn, tenant_id: uuid.UUID) -> Record | None:
    return await conn.fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)


async def insert_token(conn: Conn, token_id: uuid.UUID, tenant_id: uuid.UUID, token_hash: str) -> None:
    await conn.execute(
        "INSERT INTO known_tokens (token_id, tenant_id, token_hash) VALUES ($1, $2, $3)",
        token_id,
        tenant_id,
        token_hash,
    )


# --- meetings --------------------------------------------------------------------------------


async def insert_meeting(conn: Conn, **m: Any) -> Record:
    row = await conn.fetchrow(
        "INSERT INTO meetings (id, tenant_id, title, format, starts_at, duration_minutes,"
        " registration_closes_at, venue, capacity_newcomer, capacity_resident)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
        m["id"],
        m["tenant_id"],
        m["title"],
        m["format"],
        m["starts_at"],
        m["duration_minutes"],
        m["registration_closes_at"],
        m["venue"],
        m["capacity_newcomer"],
        m["capacity_resident"],
    )
    assert row is not None
    return row


_MEETING = (
    "SELECT m.*, m.starts_at + m.duration_minutes * interval '1 minute' AS ends_at, t.timezone,"
    " t.status AS tenant_status, t.slug AS tenant_slug FROM meetings m JOIN tenants t ON t.id = m.tenant_id"
)


async def meeting(conn: Conn, meeting_id: uuid.UUID, *, lock: bool = False) -> Record | None:
    return await conn.fetchrow(_MEETING + " WHERE m.id = $1" + (" FOR UPDATE OF m" if lock else ""), meeting_id)


MEETING_FIELDS = frozenset(
    {
        "title",
        "starts_at",
        "duration_minutes",
        "venue",
        "capacity_newcomer",
        "capacity_resident",
        "registration_closes_at",
    }
)


async def update_meeting(conn: Conn, meeting_id: uuid.UUID, changes: dict[str, Any]) -> Record:
    assert changes and set(changes) <= MEETING_FIELDS, "only known columns"
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE meetings SET {assignments}, updated_at = now() WHERE id = $1", meeting_id, *changes.values()
    )
    row = await meeting(conn, meeting_id)
    assert row is not None
    return row


async def meetings_of_tenant(conn: Conn, tenant_id: uuid.UUID) -> list[Record]:
    return await conn.fetch(_MEETING + " WHERE m.tenant_id = $1 ORDER BY m.starts_at, m.id", tenant_id)


async def set_meeting_status(conn: Conn, meeting_id: uuid.UUID, status: str) -> Record:
    await conn.execute("UPDATE meetings SET status = $2, updated_at = now() WHERE id = $1", meeting_id, status)
    row = await meeting(conn, meeting_id)
    assert row is not None
    return row


async def counts_by_group(conn: Conn, meeting_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """{meeting_id: {"confirmed:newcomer": n, ...}} for confirmed and waitlisted places."""
    rows = await conn.fetch(
        'SELECT meeting_id, status, "group", count(*) AS n FROM registrations'
        " WHERE meeting_id = ANY($1::uuid[]) AND status IN ('confirmed', 'waitlisted')"
        ' GROUP BY meeting_id, status, "group"',
        meeting_ids,
    )
    out: dict[uuid.UUID, dict[str, int]] = {m: {} for m in meeting_ids}
    for r in rows:
        out[r["meeting_id"]][f"{r['status']}:{r['group']}"] = r["n"]
    return out


async def confirmed_registration_ids(conn: Conn, meeting_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM registrations WHERE meeting_id = $1 AND status = 'confirmed' ORDER BY signed_up_at, id",
        meeting_id,
    )
    return [r["id"] for r in rows]


# --- participants and registrations ----------------------------------------------------------


async def find_or_create_participant(
    conn: Conn,
    tenant_id: uuid.UUID,
    *,
    name: str,
    email: str | None,
    phone: str | None,
    language: str,
    profile: dict[str, Any],
    consent_at: datetime,
) -> Record:
    """The tenant's participant with this e-mail or phone (updated), or a new one."""
    # Two index look-ups instead of one OR, which the planner could only answer by scanning the tenant.
    row = await conn.fetchrow(
        "SELECT id FROM participants WHERE id = ANY(ARRAY("
        " SELECT id FROM participants WHERE tenant_id = $1 AND email = $2"
        " UNION ALL SELECT id FROM participants WHERE tenant_id = $1 AND phone = $3"
        ")) AND erased_at IS NULL ORDER BY created_at LIMIT 1 FOR UPDATE",
        tenant_id,
        email,
        phone,
    )
    if row is None:
        row = await conn.fetchrow(
            "INSERT INTO participants (id, tenant_id, name, email, phone, language, profile, consent_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING *",
            uuid.uuid4(),
            tenant_id,
            name,
            email,
            phone,
            language,
            profile,
            consent_at,
        )
        if row is not None:
            return row
        # A concurrent sign-up of the same person won the insert; use theirs.
        return await find_or_create_participant(
            conn,
            tenant_id,
            name=name,
            email=email,
            phone=phone,
            language=language,
            profile=profile,
            consent_at=consent_at,
        )
    updated = await conn.fetchrow(
        "UPDATE participants SET name = $2, email = COALESCE($3, email), phone = COALESCE($4, phone),"
        " language = $5, profile = $6, consent_at = $7 WHERE id = $1 RETURNING *",
        row["id"],
        name,
        email,
        phone,
        language,
        profile,
        consent_at,
    )
    assert updated is not None
    return updated


async def places(conn: Conn, meeting_id: uuid.UUID, participant_id: uuid.UUID, group: str) -> tuple[int, bool]:
    """How many of ``group`` are confirmed, and whether the participant has a live place already."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE \"group\" = $3 AND status = 'confirmed') AS confirmed,"
        " coalesce(bool_or(participant_id = $2 AND status <> 'cancelled'), false) AS signed_up"
        " FROM registrations WHERE meeting_id = $1",
        meeting_id,
        participant_id,
        group,
    )
    assert row is not None
    return int(row["confirmed"]), bool(row["signed_up"])


async def count_confirmed(conn: Conn, meeting_id: uuid.UUID, group: str) -> int:
    n = await conn.fetchval(
        "SELECT count(*) FROM registrations WHERE meeting_id = $1 AND \"group\" = $2 AND status = 'confirmed'",
        meeting_id,
        group,
    )
    return int(n)


async def insert_registration(conn: Conn, **r: Any) -> Record:
    row = await conn.fetchrow(
        'INSERT INTO registrations (id, tenant_id, meeting_id, participant_id, "group", status, manage_token_hash)'
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        r["id"],
        r["tenant_id"],
        r["meeting_id"],
        r["participant_id"],
        r["group"],
        r["status"],
        r["token_hash"],
    )
    assert row is not None
    return row


_REGISTRATION_WITH_PARTICIPANT = (
    "SELECT r.*, p.name, p.language, p.profile FROM registrations r JOIN participants p ON p.id = r.participant_id"
)


async def registration(conn: Conn, registration_id: uuid.UUID) -> Record | None:
    return await conn.fetchrow(_REGISTRATION_WITH_PARTICIPANT + " WHERE r.id = $1", registration_id)


async def registrations_of_meeting(conn: Conn, meeting_id: uuid.UUID) -> list[Record]:
    return await conn.fetch(
        _REGISTRATION_WITH_PARTICIPANT + " WHERE r.meeting_id = $1 ORDER BY r.signed_up_at, r.id", meeting_id
    )


async def set_registration_status(
    conn: Conn, registration_id: uuid.UUID, status: str, *, attendance: bool = False
) -> None:
    await conn.execute(
        "UPDATE registrations SET status = $2, updated_at = now(),"
        " attendance_recorded_at = CASE WHEN $3 THEN now() ELSE attendance_recorded_at END WHERE id = $1",
        registration_id,
        status,
        attendance,
    )


async def first_waitlisted(conn: Conn, meeting_id: uuid.UUID, group: str) -> Record | None:
    return await conn.fetchrow(
        _REGISTRATION_WITH_PARTICIPANT + " WHERE r.meeting_id = $1 AND r.\"group\" = $2 AND r.status = 'waitlisted'"
        " ORDER BY r.signed_up_at, r.id LIMIT 1",
        meeting_id,
        group,
    )


# --- seating ---------------------------------------------------------------------------------


async def save_seating(
    conn: Conn,
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    version: int,
    proposal: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO seating (meeting_id, tenant_id, version, proposal) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (meeting_id) DO UPDATE SET version = EXCLUDED.version, proposal = EXCLUDED.proposal,"
        " updated_at = now() WHERE seating.version <= EXCLUDED.version",
        meeting_id,
        tenant_id,
        version,
        proposal,
    )


async def seating(conn: Conn, meeting_id: uuid.UUID) -> Record | None:
    return await conn.fetchrow("SELECT * FROM seating WHERE meeting_id = $1", meeting_id)


async def names_of(conn: Conn, participant_ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    rows = await conn.fetch("SELECT id, name FROM participants WHERE id = ANY($1::uuid[])", participant_ids)
    return {r["id"]: r["name"] for r in rows}


def venue_of(row: Record) -> dict[str, Any]:
    venue = row["venue"]
    return venue if isinstance(venue, dict) else json.loads(venue)


# --- feedback and erasure ----------------------------------------------------------------------


async def feedback(conn: Conn, registration_id: uuid.UUID) -> Record | None:
    return await conn.fetchrow("SELECT * FROM feedback WHERE registration_id = $1", registration_id)


async def insert_feedback(
    conn: Conn, registration_id: uuid.UUID, tenant_id: uuid.UUID, meeting_id: uuid.UUID, answers: dict[str, Any]
) -> Record:
    row = await conn.fetchrow(
        "INSERT INTO feedback (registration_id, tenant_id, meeting_id, rating, new_connection, would_recommend,"
        " comment) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        registration_id,
        tenant_id,
        meeting_id,
        answers["rating"],
        answers["new_connection"],
        answers["would_recommend"],
        answers.get("comment"),
    )
    assert row is not None
    return row


async def participant(conn: Conn, participant_id: uuid.UUID, *, lock: bool = False) -> Record | None:
    return await conn.fetchrow(
        "SELECT * FROM participants WHERE id = $1" + (" FOR UPDATE" if lock else ""), participant_id
    )


async def owns_registration(conn: Conn, participant_id: uuid.UUID, token_hash: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM registrations WHERE participant_id = $1 AND manage_token_hash = $2",
            participant_id,
            token_hash,
        )
    )


async def registrations_of_participant(conn: Conn, participant_id: uuid.UUID) -> list[Record]:
    return await conn.fetch(
        "SELECT r.*, p.name, p.language, p.profile, m.status AS meeting_status FROM registrations r"
        " JOIN participants p ON p.id = r.participant_id JOIN meetings m ON m.id = r.meeting_id"
        " WHERE r.participant_id = $1 ORDER BY r.signed_up_at",
        participant_id,
    )


async def erase_personal_data(conn: Conn, participant_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE participants SET name = NULL, email = NULL, phone = NULL, profile = '{}', erased_at = now()"
        " WHERE id = $1",
        participant_id,
    )
    await conn.execute(
        "UPDATE feedback SET comment = NULL WHERE registration_id IN"
        " (SELECT id FROM registrations WHERE participant_id = $1)",
        participant_id,
    )


async def participants_past_retention(conn: Conn, at: datetime) -> list[uuid.UUID]:
    """Participants whose every meeting ended more than their tenant's retention days before ``at``."""
    rows = await conn.fetch(
        """
        SELECT p.id FROM participants p JOIN tenants t ON t.id = p.tenant_id
        WHERE p.erased_at IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM registrations r JOIN meetings m ON m.id = r.meeting_id
              WHERE r.participant_id = p.id
                AND m.starts_at + m.duration_minutes * interval '1 minute'
                    + t.retention_days * interval '1 day' > $1)
        ORDER BY p.id
        """,
        at,
    )
    return [r["id"] for r in rows]
