"""All SQL of the registration service.

Every function runs on the caller's connection, inside the use case's transaction, and raises what asyncpg
raises (a constraint the caller did not foresee is a bug, not an answer). Rows come back as
``asyncpg.Record``; they never leave the use cases (see ``views.py``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from shared import locks, outbox
from shared.db import ALL_TENANTS, Conn, literal, set_tenant
from shared.events import Envelope

Record = asyncpg.Record


# --- tenants and tokens ------------------------------------------------------------------------


async def insert_tenant(conn: Conn, tenant_id: uuid.UUID, slug: str, name: str, number: str) -> Record | None:
    """The new tenant, or None when its slug or municipality number is taken."""
    return await conn.fetchrow(
        "INSERT INTO tenants (id, slug, name, municipality_number) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING *",
        tenant_id,
        slug,
        name,
        number,
    )


async def tenants(conn: Conn) -> list[Record]:
    """Every tenant row (``tenants.*``), by slug."""
    return await conn.fetch("SELECT * FROM tenants ORDER BY slug")


async def tenant_by_slug(conn: Conn, slug: str, *, lock: bool = False) -> Record | None:
    """The tenant row with ``slug`` (locked FOR UPDATE with ``lock``), or None."""
    return await conn.fetchrow("SELECT * FROM tenants WHERE slug = $1" + (" FOR UPDATE" if lock else ""), slug)


TENANT_SETTINGS = frozenset(
    {
        "name",
        "timezone",
        "day_starts",
        "day_ends",
        "retention_days",
        "confirmation_hours",
        "status",
        "contact_email",
        "contact_phone",
    }
)


async def update_tenant(conn: Conn, tenant_id: uuid.UUID, changes: dict[str, Any]) -> Record:
    """Set the given tenant columns (``TENANT_SETTINGS`` only; others are a programming error,
    AssertionError) and return the tenant row as it is now; no changes: the row as it is."""
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
    """Revoke the tenant's active coordinator token ``token_id``; False when there is no such active token."""
    done = await conn.fetchval(
        "UPDATE known_tokens SET revoked_at = now() WHERE token_id = $1 AND tenant_id = $2 AND revoked_at IS NULL"
        " RETURNING true",
        token_id,
        tenant_id,
    )
    return bool(done)


async def tenant_by_id(conn: Conn, tenant_id: uuid.UUID) -> Record | None:
    """The tenant row with this id, or None."""
    return await conn.fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)


async def insert_token(conn: Conn, token_id: uuid.UUID, tenant_id: uuid.UUID, token_hash: str) -> None:
    """Keep a new coordinator token's hash (SHA-256 hex) for the tenant; raises UniqueViolationError on a
    repeated id."""
    await conn.execute(
        "INSERT INTO known_tokens (token_id, tenant_id, token_hash) VALUES ($1, $2, $3)",
        token_id,
        tenant_id,
        token_hash,
    )


async def tenants_with_activity(conn: Conn, tenant_id: uuid.UUID | None = None) -> list[Record]:
    """Every tenant row the transaction sees (``tenants.*``; only ``tenant_id``'s when given), with
    ``meeting_count`` and ``last_activity`` (timestamptz or NULL: the latest meeting created or updated, or
    registration made), by name. The operator's transaction (ALL_TENANTS) sees every tenant; a tenant's own
    transaction sees only its own rows."""
    return await conn.fetch(
        "SELECT t.*, coalesce(m.meeting_count, 0) AS meeting_count,"
        " greatest(m.last_change, r.last_signed_up) AS last_activity"
        " FROM tenants t"
        " LEFT JOIN (SELECT tenant_id, count(*) AS meeting_count,"
        "  max(greatest(created_at, updated_at)) AS last_change FROM meetings GROUP BY tenant_id) m"
        "  ON m.tenant_id = t.id"
        " LEFT JOIN (SELECT tenant_id, max(signed_up_at) AS last_signed_up FROM registrations GROUP BY tenant_id) r"
        "  ON r.tenant_id = t.id"
        " WHERE $1::uuid IS NULL OR t.id = $1"
        " ORDER BY lower(t.name), t.slug",
        tenant_id,
    )


async def tenant_taken(conn: Conn, slug: str, number: str) -> tuple[bool, bool]:
    """(whether a tenant has ``slug``, whether one has municipality number ``number``)."""
    row = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1) AS slug,"
        " EXISTS (SELECT 1 FROM tenants WHERE municipality_number = $2) AS number",
        slug,
        number,
    )
    assert row is not None
    return bool(row["slug"]), bool(row["number"])


async def tokens_of_tenant(conn: Conn, tenant_id: uuid.UUID) -> list[Record]:
    """The tenant's coordinator tokens (``token_id``, ``issued_at`` (NULL for tokens issued before it was
    kept), ``revoked_at``), never their hashes: active ones first, then the newest first."""
    return await conn.fetch(
        "SELECT token_id, issued_at, revoked_at FROM known_tokens WHERE tenant_id = $1"
        " ORDER BY revoked_at IS NOT NULL, issued_at DESC NULLS LAST, token_id",
        tenant_id,
    )


# --- meetings --------------------------------------------------------------------------------


async def insert_meeting(conn: Conn, **m: Any) -> Record:
    """Insert a meeting (in ``draft``) and return its ``meetings`` row (without the joined tenant columns of
    ``meeting``)."""
    row = await conn.fetchrow(
        "INSERT INTO meetings (id, tenant_id, title, format, starts_at, duration_minutes,"
        " registration_closes_at, venue, capacity_newcomer, capacity_resident, invitation_code)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
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
        m["invitation_code"],
    )
    assert row is not None
    return row


async def set_invitation_code(conn: Conn, meeting_id: uuid.UUID, code: str) -> None:
    """Replace the meeting's invitation code (stored as ``XXXX-XXXX-XXXX``)."""
    await conn.execute("UPDATE meetings SET invitation_code = $2, updated_at = now() WHERE id = $1", meeting_id, code)


def scope_to_tenant_of_meeting(meeting_id: uuid.UUID) -> str:
    """A statement (for ``db.transaction``'s setup) scoping the transaction to the meeting's tenant."""
    meeting = literal(str(uuid.UUID(str(meeting_id))))
    return f"SELECT set_config('app.tenant_id', coalesce(tenant_of_meeting({meeting}::uuid)::text, ''), true)"


_MEETING = (
    "SELECT m.*, m.starts_at + m.duration_minutes * interval '1 minute' AS ends_at, t.timezone,"
    " t.status AS tenant_status, t.slug AS tenant_slug FROM meetings m JOIN tenants t ON t.id = m.tenant_id"
)


async def meeting(conn: Conn, meeting_id: uuid.UUID, *, lock: bool = False) -> Record | None:
    """The meeting row with its end (``ends_at``) and its tenant's ``timezone``, ``tenant_status`` and
    ``tenant_slug``, locked FOR UPDATE with ``lock`` (the lock that serialises sign-ups); None when unknown or
    outside the transaction's tenant scope."""
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
    """Set the given meeting columns (``MEETING_FIELDS`` only, at least one; else AssertionError) and
    return the meeting as ``meeting`` gives it."""
    assert changes and set(changes) <= MEETING_FIELDS, "only known columns"
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE meetings SET {assignments}, updated_at = now() WHERE id = $1", meeting_id, *changes.values()
    )
    row = await meeting(conn, meeting_id)
    assert row is not None
    return row


async def meetings_of_tenant(conn: Conn, tenant_id: uuid.UUID) -> list[Record]:
    """The tenant's meetings as ``meeting`` gives them, by start time (then id)."""
    return await conn.fetch(_MEETING + " WHERE m.tenant_id = $1 ORDER BY m.starts_at, m.id", tenant_id)


async def set_meeting_status(conn: Conn, meeting_id: uuid.UUID, status: str) -> Record:
    """Set the meeting's status and return the meeting as ``meeting`` gives it."""
    await conn.execute("UPDATE meetings SET status = $2, updated_at = now() WHERE id = $1", meeting_id, status)
    row = await meeting(conn, meeting_id)
    assert row is not None
    return row


def scope_to_tenant_of_slug(slug: str) -> str:
    """A statement (for ``db.transaction``'s setup) scoping the transaction to the tenant with ``slug`` (to
    no tenant's rows when there is none)."""
    return f"SELECT set_config('app.tenant_id', coalesce(tenant_of_slug({literal(slug)})::text, ''), true)"


async def upcoming_published_meetings(conn: Conn, tenant_id: uuid.UUID, at: datetime) -> list[Record]:
    """The tenant's published meetings that start after ``at``, as ``meeting`` gives them, soonest first."""
    return await conn.fetch(
        _MEETING + " WHERE m.tenant_id = $1 AND m.status = 'published' AND m.starts_at > $2 ORDER BY m.starts_at, m.id",
        tenant_id,
        at,
    )


async def claim_meetings_due_to_close(conn: Conn, at: datetime, limit: int) -> list[uuid.UUID]:
    """Published meetings whose registration closes at or before ``at`` (its closing time, at the latest its
    start: domain.registration_closes), locked for this transaction; rows another replica holds are skipped."""
    rows = await conn.fetch(
        "SELECT id FROM meetings WHERE status = 'published'"
        " AND least(coalesce(registration_closes_at, starts_at), starts_at) <= $1"
        " ORDER BY starts_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        at,
        limit,
    )
    return [r["id"] for r in rows]


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
    """The ids of the meeting's confirmed registrations, in sign-up order (the roster matching pairs)."""
    rows = await conn.fetch(
        "SELECT id FROM registrations WHERE meeting_id = $1 AND status = 'confirmed' ORDER BY signed_up_at, id",
        meeting_id,
    )
    return [r["id"] for r in rows]


# --- participants and registrations ----------------------------------------------------------


# The sign-up's second statement, after the meeting lock (so it sees every earlier sign-up): the person
# found by e-mail or phone (two index look-ups rather than an OR, which would scan the tenant) and updated,
# or created; with the group's confirmed count and whether the person holds a live place already.
_ENROL = """
WITH found AS (
    SELECT id FROM participants WHERE id = ANY(ARRAY(
        SELECT id FROM participants WHERE tenant_id = $1 AND email = $2
        UNION ALL SELECT id FROM participants WHERE tenant_id = $1 AND phone = $3
    )) AND erased_at IS NULL ORDER BY created_at LIMIT 1 FOR UPDATE
), updated AS (
    UPDATE participants p SET name = $4, email = COALESCE($2, p.email), phone = COALESCE($3, p.phone),
        language = $5, profile = $6, consent_at = $7
    FROM found WHERE p.id = found.id RETURNING p.*
), inserted AS (
    INSERT INTO participants (id, tenant_id, name, email, phone, language, profile, consent_at)
    SELECT $8, $1, $4, $2, $3, $5, $6, $7 WHERE NOT EXISTS (SELECT FROM found)
    ON CONFLICT DO NOTHING RETURNING *
), person AS (
    SELECT * FROM updated UNION ALL SELECT * FROM inserted
)
SELECT person.*,
    (SELECT count(*) FROM registrations
     WHERE meeting_id = $9 AND "group" = $10 AND status = 'confirmed') AS confirmed_in_group,
    EXISTS (SELECT FROM registrations r
            WHERE r.meeting_id = $9 AND r.participant_id = person.id AND r.status <> 'cancelled') AS signed_up
FROM person
"""


async def enrol(
    conn: Conn,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID,
    group: str,
    *,
    name: str,
    email: str | None,
    phone: str | None,
    language: str,
    profile: dict[str, Any],
    consent_at: datetime,
) -> tuple[Record, int, bool]:
    """The tenant's participant with this e-mail or phone (updated) or a new one; how many of ``group``
    are confirmed for the meeting; and whether the participant has a live place in it already.

    Call it with the meeting locked. Raises ``asyncpg.UniqueViolationError`` when the e-mail belongs to one
    participant and the phone to another (the use case answers 409).
    """
    row = await conn.fetchrow(
        _ENROL, tenant_id, email, phone, name, language, profile, consent_at, uuid.uuid4(), meeting_id, group
    )
    if row is None:  # a concurrent sign-up of the same person won the insert; use theirs
        return await enrol(
            conn,
            tenant_id,
            meeting_id,
            group,
            name=name,
            email=email,
            phone=phone,
            language=language,
            profile=profile,
            consent_at=consent_at,
        )
    return row, int(row["confirmed_in_group"]), bool(row["signed_up"])


async def count_waitlisted(conn: Conn, meeting_id: uuid.UUID, group: str) -> int:
    """How many registrations of ``group`` wait for a place in the meeting."""
    n = await conn.fetchval(
        "SELECT count(*) FROM registrations WHERE meeting_id = $1 AND \"group\" = $2 AND status = 'waitlisted'",
        meeting_id,
        group,
    )
    return int(n)


async def count_confirmed(conn: Conn, meeting_id: uuid.UUID, group: str) -> int:
    """How many registrations of ``group`` hold a confirmed place in the meeting."""
    n = await conn.fetchval(
        "SELECT count(*) FROM registrations WHERE meeting_id = $1 AND \"group\" = $2 AND status = 'confirmed'",
        meeting_id,
        group,
    )
    return int(n)


async def insert_registration(conn: Conn, source: str, events: Iterable[tuple[Envelope, object]], **r: Any) -> Record:
    """Insert the registration and enqueue the events it causes, in one statement."""
    row = await outbox.fetchrow_with_events(
        conn,
        'INSERT INTO registrations (id, tenant_id, meeting_id, participant_id, "group", status, manage_token_hash)'
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        (r["id"], r["tenant_id"], r["meeting_id"], r["participant_id"], r["group"], r["status"], r["token_hash"]),
        source,
        events,
    )
    assert row is not None
    return row


# A waiting registration's place in its group's waiting list (1 = the next to get a place): first in,
# first out, in the order first_waitlisted promotes.
_WAITLIST_POSITION = (
    "CASE WHEN r.status = 'waitlisted' THEN (SELECT count(*) FROM registrations w"
    ' WHERE w.meeting_id = r.meeting_id AND w."group" = r."group" AND w.status = \'waitlisted\''
    " AND (w.signed_up_at, w.id) <= (r.signed_up_at, r.id))::int END AS waitlist_position"
)
_REGISTRATION_WITH_PARTICIPANT = (
    f"SELECT r.*, p.name, p.language, p.profile, p.erased_at, {_WAITLIST_POSITION} FROM registrations r"
    " JOIN participants p ON p.id = r.participant_id"
)


async def registration(conn: Conn, registration_id: uuid.UUID) -> Record | None:
    """The registration row with its participant's ``name``, ``language``, ``profile``, ``erased_at`` and its
    ``waitlist_position`` (None unless waitlisted), or None."""
    return await conn.fetchrow(_REGISTRATION_WITH_PARTICIPANT + " WHERE r.id = $1", registration_id)


async def registrations_of_meeting(conn: Conn, meeting_id: uuid.UUID) -> list[Record]:
    """The meeting's registrations as ``registration`` gives them, in sign-up order."""
    return await conn.fetch(
        _REGISTRATION_WITH_PARTICIPANT + " WHERE r.meeting_id = $1 ORDER BY r.signed_up_at, r.id", meeting_id
    )


async def set_registration_status(
    conn: Conn, registration_id: uuid.UUID, status: str, *, attendance: bool = False
) -> None:
    """Set the registration's status; with ``attendance``, note when attendance was recorded."""
    await conn.execute(
        "UPDATE registrations SET status = $2, updated_at = now(),"
        " attendance_recorded_at = CASE WHEN $3 THEN now() ELSE attendance_recorded_at END WHERE id = $1",
        registration_id,
        status,
        attendance,
    )


async def first_waitlisted(conn: Conn, meeting_id: uuid.UUID, group: str, limit: int = 1) -> list[Record]:
    """The group's waiting registrations (with participant), first in first out (sign-up time, then id: the
    order ``waitlist_position`` counts in), at most ``limit`` of them."""
    return await conn.fetch(
        _REGISTRATION_WITH_PARTICIPANT + " WHERE r.meeting_id = $1 AND r.\"group\" = $2 AND r.status = 'waitlisted'"
        " ORDER BY r.signed_up_at, r.id LIMIT $3",
        meeting_id,
        group,
        limit,
    )


# --- seating ---------------------------------------------------------------------------------


async def save_seatings(conn: Conn, plans: list[tuple[uuid.UUID, uuid.UUID, int, dict[str, Any]]]) -> None:
    """Keep matching's plans (``proposal``: the Pairing as JSON) of several meetings,
    ``(meeting_id, tenant_id, version, proposal)`` with one meeting once, with one statement: a plan replaces
    the kept one unless that has a later version (an older or redelivered plan changes nothing). Under one
    tenant's scope, or all tenants' (``db.ALL_TENANTS``): a kept row of another tenant is then left alone."""
    if not plans:
        return
    await conn.execute(
        "INSERT INTO seating (meeting_id, tenant_id, version, proposal)"
        " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::jsonb[])"
        " ON CONFLICT (meeting_id) DO UPDATE SET version = EXCLUDED.version, proposal = EXCLUDED.proposal,"
        " updated_at = now() WHERE seating.version <= EXCLUDED.version AND seating.tenant_id = EXCLUDED.tenant_id",
        [p[0] for p in plans],
        [p[1] for p in plans],
        [p[2] for p in plans],
        [p[3] for p in plans],
    )


async def scope_to_all_tenants(conn: Conn) -> str:
    """Scope the rest of the transaction to all tenants (``db.ALL_TENANTS``), for the service's own work on
    rows of several tenants at once; returns the scope it had ("" for none), to set again after."""
    was: str = await conn.fetchval("SELECT coalesce(current_setting('app.tenant_id', true), '')")
    await set_tenant(conn, ALL_TENANTS)
    return was


async def seating(conn: Conn, meeting_id: uuid.UUID) -> Record | None:
    """The meeting's latest plan row (``version``, ``proposal``), or None before matching proposed one."""
    return await conn.fetchrow("SELECT * FROM seating WHERE meeting_id = $1", meeting_id)


async def seating_state(conn: Conn, meeting_id: uuid.UUID) -> Record | None:
    """The meeting's latest plan as ``version`` and ``status`` (``proposed`` or ``published``) only, for
    waiting on matching's answer to a command; None before matching proposed one."""
    return await conn.fetchrow(
        "SELECT version, coalesce(proposal->>'status', 'proposed') AS status FROM seating WHERE meeting_id = $1",
        meeting_id,
    )


async def names_of(conn: Conn, participant_ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """{participant_id: name} of these participants (None once erased); unknown ids are left out."""
    rows = await conn.fetch("SELECT id, name FROM participants WHERE id = ANY($1::uuid[])", participant_ids)
    return {r["id"]: r["name"] for r in rows}


async def contact_of(conn: Conn, participant_id: uuid.UUID) -> Record | None:
    """The participant's ``email`` and ``phone`` (None once erased or never given), or None when unknown."""
    return await conn.fetchrow("SELECT email, phone FROM participants WHERE id = $1", participant_id)


def venue_of(row: Record) -> dict[str, Any]:
    """The meeting row's venue as a dict (``name``, ``address``, ``kind``), whether decoded already or JSON text."""
    venue = row["venue"]
    return venue if isinstance(venue, dict) else json.loads(venue)


# --- feedback and erasure ----------------------------------------------------------------------


async def feedback(conn: Conn, registration_id: uuid.UUID) -> Record | None:
    """The feedback row of the registration, or None when none was given."""
    return await conn.fetchrow("SELECT * FROM feedback WHERE registration_id = $1", registration_id)


async def insert_feedback(
    conn: Conn, registration_id: uuid.UUID, tenant_id: uuid.UUID, meeting_id: uuid.UUID, answers: dict[str, Any]
) -> Record | None:
    """The stored feedback, or None when this registration has given feedback already."""
    return await conn.fetchrow(
        "INSERT INTO feedback (registration_id, tenant_id, meeting_id, rating, new_connection, would_recommend,"
        " comment) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING *",
        registration_id,
        tenant_id,
        meeting_id,
        answers["rating"],
        answers["new_connection"],
        answers["would_recommend"],
        answers.get("comment"),
    )


async def participant(conn: Conn, participant_id: uuid.UUID, *, lock: bool = False) -> Record | None:
    """The participant row (locked FOR UPDATE with ``lock``), or None."""
    return await conn.fetchrow(
        "SELECT * FROM participants WHERE id = $1" + (" FOR UPDATE" if lock else ""), participant_id
    )


async def owns_registration(conn: Conn, participant_id: uuid.UUID, token_hash: str) -> bool:
    """Whether ``token_hash`` is the manage-token hash of one of the participant's registrations."""
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM registrations WHERE participant_id = $1 AND manage_token_hash = $2",
            participant_id,
            token_hash,
        )
    )


async def registrations_of_participant(conn: Conn, participant_id: uuid.UUID) -> list[Record]:
    """The participant's registrations (with name, language, profile and their meeting's
    ``meeting_status``), in sign-up order."""
    return await conn.fetch(
        "SELECT r.*, p.name, p.language, p.profile, m.status AS meeting_status FROM registrations r"
        " JOIN participants p ON p.id = r.participant_id JOIN meetings m ON m.id = r.meeting_id"
        " WHERE r.participant_id = $1 ORDER BY r.signed_up_at",
        participant_id,
    )


async def erase_personal_data(conn: Conn, participant_id: uuid.UUID) -> None:
    """Blank the participant's name, contact and profile, their feedback comments and their manage-token
    hashes (every manage link then answers 404); the rows stay, anonymous, for the counts."""
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
    # The manage links in the person's messages die with their data: every use answers 404.
    await conn.execute("UPDATE registrations SET manage_token_hash = NULL WHERE participant_id = $1", participant_id)


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


async def scrub_contacts_outbox(conn: Conn, topic: str, keys: list[str]) -> None:
    """Delete the outbox rows on the contacts topic under ``keys`` that carry a value (names, addresses,
    tokens); tombstones stay. Published rows are kept a while for replay, so erasure must remove these."""
    await conn.execute(
        "DELETE FROM outbox WHERE topic = $1 AND key = ANY($2::text[]) AND body IS NOT NULL", topic, keys
    )


async def status_counts(conn: Conn, meeting_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """{meeting_id: {"<status>:<group>": n}} of every registration status (confirmed, waitlisted, cancelled,
    attended, no_show); a meeting without registrations maps to {}."""
    rows = await conn.fetch(
        'SELECT meeting_id, status, "group", count(*) AS n FROM registrations'
        ' WHERE meeting_id = ANY($1::uuid[]) GROUP BY meeting_id, status, "group"',
        meeting_ids,
    )
    out: dict[uuid.UUID, dict[str, int]] = {m: {} for m in meeting_ids}
    for r in rows:
        out[r["meeting_id"]][f"{r['status']}:{r['group']}"] = r["n"]
    return out


async def feedback_summary(conn: Conn, meeting_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, float | None]]:
    """{meeting_id: (feedback answers, mean rating 1-5 or None without answers)}."""
    rows = await conn.fetch(
        "SELECT meeting_id, count(*) AS n, avg(rating)::float8 AS mean FROM feedback"
        " WHERE meeting_id = ANY($1::uuid[]) GROUP BY meeting_id",
        meeting_ids,
    )
    out: dict[uuid.UUID, tuple[int, float | None]] = {m: (0, None) for m in meeting_ids}
    for r in rows:
        out[r["meeting_id"]] = (r["n"], r["mean"])
    return out


# --- double opt-in: sign-ups waiting for their contact to be confirmed ---------------------------------


async def insert_signup(conn: Conn, **s: Any) -> None:
    """Keep a public sign-up waiting for its contact's confirmation (``pending``), with its token's hash."""
    await conn.execute(
        'INSERT INTO signups (id, tenant_id, meeting_id, "group", name, email, phone, language, profile,'
        " confirm_token_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        s["id"],
        s["tenant_id"],
        s["meeting_id"],
        s["group"],
        s["name"],
        s["email"],
        s["phone"],
        s["language"],
        s["profile"],
        s["confirm_token_hash"],
        s["expires_at"],
    )


def scope_to_tenant_of_signup(signup_id: uuid.UUID) -> str:
    """A statement (for ``db.transaction``'s setup) scoping the transaction to the sign-up's tenant."""
    signup = literal(str(uuid.UUID(str(signup_id))))
    return f"SELECT set_config('app.tenant_id', coalesce(tenant_of_signup({signup}::uuid)::text, ''), true)"


async def enter_tenant_of_registration(conn: Conn, registration_id: uuid.UUID) -> None:
    """Scope the transaction to the registration's tenant (to no tenant's rows when it is unknown)."""
    await conn.execute(
        "SELECT set_config('app.tenant_id', coalesce(tenant_of_registration($1)::text, ''), true)", registration_id
    )


async def enter_tenant_of_participant(conn: Conn, participant_id: uuid.UUID) -> None:
    """Scope the transaction to the participant's tenant; an unknown participant leaves the scope as it is."""
    tenant_id = await conn.fetchval("SELECT tenant_of_participant($1)", participant_id)
    if tenant_id is not None:
        await set_tenant(conn, tenant_id)


async def meeting_id_of_signup(conn: Conn, signup_id: uuid.UUID) -> uuid.UUID | None:
    """The meeting a sign-up is for, or None when there is no such sign-up (in the transaction's scope)."""
    meeting_id: uuid.UUID | None = await conn.fetchval("SELECT meeting_id FROM signups WHERE id = $1", signup_id)
    return meeting_id


async def try_retention_lock(conn: Conn) -> bool:
    """Take the retention sweep's transaction lock (``locks.RETENTION``); False when another replica holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", locks.RETENTION))


def scope_to_tenant_of_erasure_request(request_id: uuid.UUID) -> str:
    """A statement (for ``db.transaction``'s setup) scoping the transaction to the erasure
    request's tenant."""
    request = literal(str(uuid.UUID(str(request_id))))
    return f"SELECT set_config('app.tenant_id', coalesce(tenant_of_erasure_request({request}::uuid)::text, ''), true)"


async def signup(conn: Conn, signup_id: uuid.UUID, *, lock: bool = False) -> Record | None:
    """The sign-up row (locked FOR UPDATE with ``lock``), or None."""
    return await conn.fetchrow("SELECT * FROM signups WHERE id = $1" + (" FOR UPDATE" if lock else ""), signup_id)


async def participant_by_contact(
    conn: Conn, tenant_id: uuid.UUID, *, email: str | None, phone: str | None, lock: bool = False
) -> Record | None:
    """The tenant's (not erased) participant with this e-mail, or else with this phone; look up by one."""
    column, value = ("email", email) if email else ("phone", phone)
    return await conn.fetchrow(
        f"SELECT * FROM participants WHERE tenant_id = $1 AND {column} = $2 AND erased_at IS NULL"
        + (" FOR UPDATE" if lock else ""),
        tenant_id,
        value,
    )


async def live_registration(conn: Conn, meeting_id: uuid.UUID, participant_id: uuid.UUID) -> Record | None:
    """The participant's registration in the meeting that is not cancelled, or None."""
    return await conn.fetchrow(
        "SELECT * FROM registrations WHERE meeting_id = $1 AND participant_id = $2 AND status <> 'cancelled'",
        meeting_id,
        participant_id,
    )


async def phone_or_email_taken(conn: Conn, tenant_id: uuid.UUID, *, email: str | None, phone: str | None) -> bool:
    """Whether a participant of the tenant (erased or not) has this e-mail or this phone."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT FROM participants WHERE tenant_id = $1 AND (email = $2 OR phone = $3))",
            tenant_id,
            email,
            phone,
        )
    )


async def contact_taken_by_other(
    conn: Conn, tenant_id: uuid.UUID, participant_id: uuid.UUID, *, email: str | None, phone: str | None
) -> bool:
    """Whether another participant of the tenant (erased or not) has this e-mail or this phone."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT FROM participants WHERE tenant_id = $1 AND id <> $2 AND (email = $3 OR phone = $4))",
            tenant_id,
            participant_id,
            email,
            phone,
        )
    )


async def set_contact(conn: Conn, participant_id: uuid.UUID, email: str | None, phone: str | None) -> Record:
    """Set the participant's e-mail and phone; returns the participant row as it is now."""
    row = await conn.fetchrow(
        "UPDATE participants SET email = $2, phone = $3 WHERE id = $1 RETURNING *", participant_id, email, phone
    )
    assert row is not None
    return row


async def insert_participant(conn: Conn, **p: Any) -> Record | None:
    """The new participant, or None when a concurrent transaction took its e-mail or phone first."""
    return await conn.fetchrow(
        "INSERT INTO participants (id, tenant_id, name, email, phone, language, profile, consent_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING *",
        p["id"],
        p["tenant_id"],
        p["name"],
        p["email"],
        p["phone"],
        p["language"],
        p["profile"],
        p["consent_at"],
    )


async def close_signup(
    conn: Conn,
    signup_id: uuid.UUID,
    status: str,
    *,
    participant_id: uuid.UUID | None = None,
    registration_id: uuid.UUID | None = None,
) -> None:
    """Close a waiting sign-up and blank the person's details in it."""
    await conn.execute(
        "UPDATE signups SET status = $2, closed_at = now(), participant_id = $3, registration_id = $4,"
        " name = NULL, email = NULL, phone = NULL, profile = NULL WHERE id = $1",
        signup_id,
        status,
        participant_id,
        registration_id,
    )


async def expired_signups(conn: Conn, at: datetime, limit: int = 500) -> list[Record]:
    """Waiting sign-ups past their expiry, claimed (``SKIP LOCKED``) for this transaction."""
    return await conn.fetch(
        "SELECT id, tenant_id FROM signups WHERE status = 'pending' AND expires_at <= $1"
        " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        at,
        limit,
    )


async def pending_signups_with_contact(
    conn: Conn, tenant_id: uuid.UUID, email: str | None, phone: str | None
) -> list[Record]:
    """The tenant's pending sign-ups (``id``, ``tenant_id``) with this e-mail or phone, locked."""
    return await conn.fetch(
        "SELECT id, tenant_id FROM signups WHERE tenant_id = $1 AND status = 'pending'"
        " AND (email = $2 OR phone = $3) FOR UPDATE",
        tenant_id,
        email,
        phone,
    )


async def pending_signups_of_meeting(conn: Conn, meeting_id: uuid.UUID) -> list[Record]:
    """The meeting's pending sign-ups (``id``, ``tenant_id``), locked, by id."""
    return await conn.fetch(
        "SELECT id, tenant_id FROM signups WHERE meeting_id = $1 AND status = 'pending' ORDER BY id FOR UPDATE",
        meeting_id,
    )


async def signup_ids_of_participant(conn: Conn, participant_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the sign-ups that were confirmed into this participant."""
    rows = await conn.fetch("SELECT id FROM signups WHERE participant_id = $1", participant_id)
    return [r["id"] for r in rows]


# --- erasure confirmed from the participant's own contact ----------------------------------------------


async def insert_erasure_request(conn: Conn, **r: Any) -> None:
    """Keep a participant's erasure request waiting for confirmation, with its token's hash."""
    await conn.execute(
        "INSERT INTO erasure_requests (id, tenant_id, participant_id, confirm_token_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        r["id"],
        r["tenant_id"],
        r["participant_id"],
        r["confirm_token_hash"],
        r["expires_at"],
    )


async def erasure_request(conn: Conn, request_id: uuid.UUID, *, lock: bool = False) -> Record | None:
    """The erasure request row (locked FOR UPDATE with ``lock``), or None."""
    return await conn.fetchrow(
        "SELECT * FROM erasure_requests WHERE id = $1" + (" FOR UPDATE" if lock else ""), request_id
    )


async def close_erasure_requests(conn: Conn, participant_id: uuid.UUID) -> list[uuid.UUID]:
    """Close every open erasure request of the participant; the ids of all their requests."""
    await conn.execute(
        "UPDATE erasure_requests SET closed_at = now() WHERE participant_id = $1 AND closed_at IS NULL",
        participant_id,
    )
    rows = await conn.fetch("SELECT id FROM erasure_requests WHERE participant_id = $1", participant_id)
    return [r["id"] for r in rows]


async def expired_erasure_requests(conn: Conn, at: datetime, limit: int = 500) -> list[Record]:
    """Close up to ``limit`` open erasure requests past their expiry at ``at`` (rows another replica
    holds are skipped) and return their ``id`` and ``tenant_id``."""
    return await conn.fetch(
        "UPDATE erasure_requests SET closed_at = now() WHERE id IN (SELECT id FROM erasure_requests"
        " WHERE closed_at IS NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, tenant_id",
        at,
        limit,
    )


# --- the console's sessions and one-time sign-in links -------------------------------------------------


async def insert_session(
    conn: Conn, id_hash: str, provider: str, credential: str, role: str, tenant_id: uuid.UUID | None
) -> None:
    """A new console session (``id_hash``: the SHA-256 hex of its cookie)."""
    await conn.execute(
        "INSERT INTO console_sessions (id_hash, provider, credential, role, tenant_id) VALUES ($1, $2, $3, $4, $5)",
        id_hash,
        provider,
        credential,
        role,
        tenant_id,
    )


async def touch_session(conn: Conn, id_hash: str, idle_since: datetime) -> Record | None:
    """The session (``console_sessions.*``) with its ``last_seen_at`` set to now, or None when there is none
    or it was last seen before ``idle_since`` (such a session is deleted)."""
    row = await conn.fetchrow(
        "UPDATE console_sessions SET last_seen_at = now() WHERE id_hash = $1 AND last_seen_at >= $2 RETURNING *",
        id_hash,
        idle_since,
    )
    if row is None:
        await conn.execute("DELETE FROM console_sessions WHERE id_hash = $1", id_hash)
    return row


async def delete_session(conn: Conn, id_hash: str) -> None:
    """End the session (nothing when there is none)."""
    await conn.execute("DELETE FROM console_sessions WHERE id_hash = $1", id_hash)


async def delete_idle_sessions(conn: Conn, idle_since: datetime, at: datetime) -> int:
    """Delete every session last seen before ``idle_since`` and every sign-in link expired at ``at``; how many
    sessions there were."""
    done = await conn.execute("DELETE FROM console_sessions WHERE last_seen_at < $1", idle_since)
    await conn.execute("DELETE FROM console_sign_in_links WHERE expires_at <= $1", at)
    return int(done.split()[-1])


async def insert_sign_in_link(
    conn: Conn,
    link_id: uuid.UUID,
    code_hash: str,
    provider: str,
    credential: str,
    role: str,
    tenant_id: uuid.UUID | None,
    expires_at: datetime,
) -> None:
    """A new one-time sign-in link (only its code's SHA-256 hex is kept)."""
    await conn.execute(
        "INSERT INTO console_sign_in_links (id, code_hash, provider, credential, role, tenant_id, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        link_id,
        code_hash,
        provider,
        credential,
        role,
        tenant_id,
        expires_at,
    )


async def take_sign_in_link(conn: Conn, link_id: uuid.UUID, code_hash: str, at: datetime) -> Record | None:
    """Delete the sign-in link with this id and code (SHA-256 hex) and return it (``console_sign_in_links.*``)
    when it has not expired at ``at``; None when there is none (a wrong code, used already, or never made).
    An expired link is deleted too; a wrong code leaves the link as it is."""
    row = await conn.fetchrow(
        "DELETE FROM console_sign_in_links WHERE id = $1 AND code_hash = $2 RETURNING *", link_id, code_hash
    )
    if row is None or row["expires_at"] <= at:
        return None
    return row
