"""All SQL of the notification service."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared import locks
from shared.db import Conn

# --- contacts, manage links and erasure ---------------------------------------------------------------

_NOT_ERASED = "NOT EXISTS (SELECT 1 FROM erased_participants e WHERE e.participant_id = $1)"


async def upsert_contact(
    conn: Conn,
    *,
    participant_id: uuid.UUID,
    tenant_id: uuid.UUID,
    name: str,
    email: str | None,
    phone: str | None,
    language: str,
) -> None:
    """Keep the contact details, unless the participant has been erased (a late event changes nothing)."""
    await conn.execute(
        "INSERT INTO contacts (participant_id, tenant_id, name, email, phone, language)"
        f" SELECT $1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text WHERE {_NOT_ERASED}"
        " ON CONFLICT (participant_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,"
        " phone = EXCLUDED.phone, language = EXCLUDED.language, updated_at = now()"
        " WHERE contacts.erased_at IS NULL",
        participant_id,
        tenant_id,
        name,
        email,
        phone,
        language,
    )


async def upsert_manage_link(
    conn: Conn,
    *,
    participant_id: uuid.UUID,
    registration_id: uuid.UUID,
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    manage_token: str,
) -> None:
    await conn.execute(
        "INSERT INTO manage_links (participant_id, registration_id, meeting_id, tenant_id, manage_token)"
        f" SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::text WHERE {_NOT_ERASED}"
        " ON CONFLICT (registration_id) DO UPDATE SET manage_token = EXCLUDED.manage_token",
        participant_id,
        registration_id,
        meeting_id,
        tenant_id,
        manage_token,
    )


async def erase_participant(conn: Conn, participant_id: uuid.UUID, tenant_id: uuid.UUID, erased_at: datetime) -> bool:
    """Forget what identifies the participant; True if their contact details were known.

    The contact row stays, marked erased, only until the erasure confirmation has gone out.
    """
    await conn.execute(
        "INSERT INTO erased_participants (participant_id, tenant_id, erased_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        participant_id,
        tenant_id,
        erased_at,
    )
    await conn.execute("DELETE FROM manage_links WHERE participant_id = $1", participant_id)
    await conn.execute("DELETE FROM seatings WHERE participant_id = $1", participant_id)
    await conn.execute("DELETE FROM erasure_requests WHERE participant_id = $1", participant_id)
    await conn.execute("DELETE FROM notifications WHERE participant_id = $1 AND status = 'pending'", participant_id)
    # Error texts may quote an address; the record keeps only that something failed.
    await conn.execute(
        "UPDATE notifications SET last_error = 'erased' WHERE participant_id = $1 AND last_error IS NOT NULL",
        participant_id,
    )
    updated = await conn.fetchval(
        "UPDATE contacts SET erased_at = $2 WHERE participant_id = $1 RETURNING true", participant_id, erased_at
    )
    return bool(updated)


async def delete_erased_contact(conn: Conn, participant_id: uuid.UUID) -> None:
    """Forget the contact for good, with anything still planned for them (an event applied while
    the erasure was)."""
    deleted = await conn.fetchval(
        "DELETE FROM contacts WHERE participant_id = $1 AND erased_at IS NOT NULL RETURNING true", participant_id
    )
    if deleted:
        await conn.execute("DELETE FROM notifications WHERE participant_id = $1 AND status = 'pending'", participant_id)


async def contact(conn: Conn, participant_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM contacts WHERE participant_id = $1", participant_id)


# --- sign-ups and erasure requests waiting for their link -------------------------------------------------


async def add_signup(
    conn: Conn,
    *,
    signup_id: uuid.UUID,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID,
    name: str,
    email: str | None,
    phone: str | None,
    language: str,
    confirm_token: str,
    expires_at: datetime,
) -> bool:
    """Keep what the confirmation message needs; False if the sign-up is known already (or closed)."""
    inserted = await conn.fetchval(
        "INSERT INTO signups (signup_id, tenant_id, meeting_id, name, email, phone, language, confirm_token,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (signup_id) DO NOTHING RETURNING true",
        signup_id,
        tenant_id,
        meeting_id,
        name,
        email,
        phone,
        language,
        confirm_token,
        expires_at,
    )
    return bool(inserted)


async def close_signup(
    conn: Conn, *, signup_id: uuid.UUID, tenant_id: uuid.UUID, outcome: str, closed_at: datetime
) -> None:
    """Forget the sign-up's name, e-mail, phone and token everywhere; its confirmation, if still unsent, is
    skipped. The scrubbed row stays, so that a late or replayed request brings nothing back."""
    await conn.execute(
        "UPDATE notifications n SET status = CASE WHEN n.status = 'pending' THEN 'skipped' ELSE n.status END,"
        " last_error = CASE WHEN n.status = 'pending' THEN 'the sign-up is closed'"
        "   WHEN n.last_error IS NULL THEN NULL ELSE 'scrubbed: the sign-up is closed' END"
        " WHERE n.signup_id = $1",
        signup_id,
    )
    await conn.execute(
        "INSERT INTO signups (signup_id, tenant_id, meeting_id, expires_at, closed_at, outcome)"
        " VALUES ($1, $2, '00000000-0000-0000-0000-000000000000', $3, $3, $4)"
        " ON CONFLICT (signup_id) DO UPDATE SET name = NULL, email = NULL, phone = NULL, confirm_token = NULL,"
        " closed_at = COALESCE(signups.closed_at, EXCLUDED.closed_at), outcome = COALESCE(signups.outcome,"
        " EXCLUDED.outcome)",
        signup_id,
        tenant_id,
        closed_at,
        outcome,
    )


async def add_erasure_request(
    conn: Conn,
    *,
    request_id: uuid.UUID,
    tenant_id: uuid.UUID,
    participant_id: uuid.UUID,
    confirm_token: str,
    expires_at: datetime,
) -> bool:
    """Keep the erasure link's token; False if the request is known already or the participant is erased."""
    inserted = await conn.fetchval(
        "INSERT INTO erasure_requests (request_id, tenant_id, participant_id, confirm_token, expires_at)"
        f" SELECT $2::uuid, $3::uuid, $1::uuid, $4::text, $5::timestamptz WHERE {_NOT_ERASED}"
        " ON CONFLICT (request_id) DO NOTHING RETURNING true",
        participant_id,
        request_id,
        tenant_id,
        confirm_token,
        expires_at,
    )
    return bool(inserted)


async def close_erasure_request(conn: Conn, *, request_id: uuid.UUID, outcome: str, closed_at: datetime) -> None:
    """Forget the erasure link's token; its message, if still unsent, is skipped."""
    await conn.execute(
        "UPDATE notifications SET status = 'skipped', last_error = 'the erasure request is closed'"
        " WHERE erasure_request_id = $1 AND status = 'pending'",
        request_id,
    )
    await conn.execute(
        "UPDATE erasure_requests SET confirm_token = NULL, closed_at = COALESCE(closed_at, $2),"
        " outcome = COALESCE(outcome, $3) WHERE request_id = $1",
        request_id,
        closed_at,
        outcome,
    )


# --- meetings and registrations -----------------------------------------------------------------------


async def lock_meeting(conn: Conn, meeting_id: uuid.UUID) -> None:
    """Serialise, until the transaction ends, the events of one meeting that replicas apply at once.

    A meeting's events and its registrations' events travel on different topics, so two replicas can
    apply them side by side; without the lock each would miss what the other is writing (a sign-up
    would find no meeting to schedule reminders for, while the meeting found no sign-up).
    """
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", locks.NOTIFICATION_MEETING, str(meeting_id))


async def meeting(conn: Conn, meeting_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM meetings WHERE meeting_id = $1", meeting_id)


async def upsert_meeting(
    conn: Conn,
    *,
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    title: str,
    format: str,
    status: str,
    starts_at: datetime,
    duration_minutes: int,
    timezone: str,
    venue: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO meetings (meeting_id, tenant_id, title, format, status, starts_at, duration_minutes,"
        " timezone, venue) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (meeting_id) DO UPDATE"
        " SET title = EXCLUDED.title, format = EXCLUDED.format, status = EXCLUDED.status,"
        " starts_at = EXCLUDED.starts_at, duration_minutes = EXCLUDED.duration_minutes,"
        " timezone = EXCLUDED.timezone, venue = EXCLUDED.venue",
        meeting_id,
        tenant_id,
        title,
        format,
        status,
        starts_at,
        duration_minutes,
        timezone,
        venue,
    )


async def upsert_registration(
    conn: Conn,
    *,
    registration_id: uuid.UUID,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID,
    participant_id: uuid.UUID,
    status: str,
    confirmed_by: uuid.UUID | None = None,
    confirmed_at: datetime | None = None,
) -> None:
    """Record the registration's status; ``confirmed_by`` is set only by a confirming event."""
    await conn.execute(
        "INSERT INTO registrations (registration_id, tenant_id, meeting_id, participant_id, status,"
        " confirmed_by, confirmed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (registration_id) DO UPDATE SET status = EXCLUDED.status,"
        " confirmed_by = COALESCE(EXCLUDED.confirmed_by, registrations.confirmed_by),"
        " confirmed_at = COALESCE(EXCLUDED.confirmed_at, registrations.confirmed_at)",
        registration_id,
        tenant_id,
        meeting_id,
        participant_id,
        status,
        confirmed_by,
        confirmed_at,
    )


async def registrations_of(conn: Conn, meeting_id: uuid.UUID, statuses: Iterable[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM registrations WHERE meeting_id = $1 AND status = ANY($2::text[]) ORDER BY registration_id",
        meeting_id,
        list(statuses),
    )


# --- the seating each person was told ------------------------------------------------------------------


async def seating_version(conn: Conn, meeting_id: uuid.UUID) -> int | None:
    version: int | None = await conn.fetchval("SELECT max(version) FROM seatings WHERE meeting_id = $1", meeting_id)
    return version


async def told_seating(conn: Conn, meeting_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM seatings WHERE meeting_id = $1", meeting_id)


async def save_seating(
    conn: Conn, meeting_id: uuid.UUID, version: int, rows: list[tuple[uuid.UUID, uuid.UUID, int, list[uuid.UUID]]]
) -> None:
    """Replace the meeting's seating with ``rows`` of (registration, participant, seat, partners)."""
    await conn.execute("DELETE FROM seatings WHERE meeting_id = $1", meeting_id)
    await conn.executemany(
        "INSERT INTO seatings (meeting_id, registration_id, participant_id, version, seat, partners)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(meeting_id, rid, pid, version, seat, partners) for rid, pid, seat, partners in rows],
    )


# --- notifications ---------------------------------------------------------------------------------------


async def add_notification(
    conn: Conn,
    *,
    tenant_id: uuid.UUID,
    cause_event_id: uuid.UUID,
    cause_occurred_at: datetime,
    participant_id: uuid.UUID,
    kind: str,
    channel: str,
    meeting_id: uuid.UUID | None = None,
    registration_id: uuid.UUID | None = None,
    due_at: datetime | None = None,
    details: dict[str, Any] | None = None,
    even_if_erased: bool = False,
    erasure_request_id: uuid.UUID | None = None,
) -> bool:
    """Record a notification to send; False if this (cause, recipient, kind) exists already.

    Nothing is recorded for an erased participant, except their erasure confirmation.
    """
    inserted = await conn.fetchval(
        "INSERT INTO notifications (id, tenant_id, cause_event_id, cause_occurred_at, participant_id, kind,"
        " channel, meeting_id, registration_id, due_at, details, erasure_request_id)"
        " SELECT $2::uuid, $3::uuid, $4::uuid, $5::timestamptz, $1::uuid, $6::text, $7::text, $8::uuid, $9::uuid,"
        " COALESCE($10::timestamptz, now()), $11::jsonb, $13::uuid"
        f" WHERE $12::boolean OR {_NOT_ERASED}"
        " ON CONFLICT (cause_event_id, participant_id, kind) DO NOTHING RETURNING true",
        participant_id,
        uuid.uuid4(),
        tenant_id,
        cause_event_id,
        cause_occurred_at,
        kind,
        channel,
        meeting_id,
        registration_id,
        due_at,
        details or {},
        even_if_erased,
        erasure_request_id,
    )
    return bool(inserted)


async def told(conn: Conn, registration_id: uuid.UUID, kind: str) -> bool:
    """Whether a message of ``kind`` about this registration has been planned already, for any cause."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM notifications WHERE registration_id = $1 AND kind = $2)",
            registration_id,
            kind,
        )
    )


async def add_signup_notification(
    conn: Conn,
    *,
    tenant_id: uuid.UUID,
    cause_event_id: uuid.UUID,
    cause_occurred_at: datetime,
    signup_id: uuid.UUID,
    meeting_id: uuid.UUID,
    kind: str,
    channel: str,
) -> bool:
    """Record a message to a sign-up that has no participant yet; False if it exists already."""
    inserted = await conn.fetchval(
        "INSERT INTO notifications (id, tenant_id, cause_event_id, cause_occurred_at, signup_id, meeting_id, kind,"
        " channel) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (cause_event_id, signup_id, kind) WHERE participant_id IS NULL DO NOTHING RETURNING true",
        uuid.uuid4(),
        tenant_id,
        cause_event_id,
        cause_occurred_at,
        signup_id,
        meeting_id,
        kind,
        channel,
    )
    return bool(inserted)


async def remove_pending(
    conn: Conn,
    kinds: Iterable[str],
    *,
    meeting_id: uuid.UUID | None = None,
    registration_id: uuid.UUID | None = None,
) -> int:
    """Delete unsent notifications of ``kinds`` for a meeting or one registration; how many went."""
    if (meeting_id is None) == (registration_id is None):
        raise ValueError("give a meeting or a registration")
    column, value = ("meeting_id", meeting_id) if meeting_id is not None else ("registration_id", registration_id)
    result: str = await conn.execute(
        f"DELETE FROM notifications WHERE {column} = $1 AND kind = ANY($2::text[]) AND status = 'pending'",
        value,
        list(kinds),
    )
    return int(result.split()[-1])


async def claim_due(conn: Conn, now: datetime, link_kinds: Iterable[str], link_wait_s: float) -> asyncpg.Record | None:
    """One due notification (see ``claim_due_batch``), or None."""
    rows = await claim_due_batch(conn, now, link_kinds, link_wait_s, 1)
    return rows[0] if rows else None


async def claim_due_batch(
    conn: Conn, now: datetime, link_kinds: Iterable[str], link_wait_s: float, limit: int
) -> list[asyncpg.Record]:
    """Up to ``limit`` due notifications whose contact (and meeting) are known, the earliest due first, each
    locked for this sender until its transaction ends (``FOR UPDATE SKIP LOCKED``: another sender skips them
    and claims others), with one statement.

    The contact is the participant's, or for a sign-up not yet confirmed the sign-up's own. A message that
    carries a manage link waits up to ``link_wait_s`` seconds for the link to arrive. ``seated_partners`` is
    how many people the person talks with at the table as last told (None before the pairs are published).
    """
    return await conn.fetch(
        "SELECT n.*, COALESCE(c.name, s.name) AS name, COALESCE(c.email, s.email) AS email,"
        " COALESCE(c.phone, s.phone) AS phone, COALESCE(c.language, s.language) AS language,"
        " m.title, m.starts_at, m.duration_minutes, m.venue,"
        " m.status AS meeting_status, r.status AS registration_status, l.manage_token,"
        " COALESCE(s.confirm_token, e.confirm_token) AS confirm_token,"
        " COALESCE(s.expires_at, e.expires_at) AS link_expires_at,"
        " (s.closed_at IS NOT NULL OR e.closed_at IS NOT NULL"
        "  OR (n.erasure_request_id IS NOT NULL AND e.request_id IS NULL)) AS request_closed,"
        " COALESCE(m.timezone, t.timezone, 'Europe/Oslo') AS timezone,"
        " cardinality(g.partners) AS seated_partners,"
        " t.name AS tenant_name, t.contact_email AS tenant_contact_email, t.contact_phone AS tenant_contact_phone"
        " FROM notifications n"
        " LEFT JOIN contacts c ON c.participant_id = n.participant_id"
        " LEFT JOIN signups s ON s.signup_id = n.signup_id AND n.participant_id IS NULL"
        " LEFT JOIN erasure_requests e ON e.request_id = n.erasure_request_id"
        " LEFT JOIN meetings m ON m.meeting_id = n.meeting_id"
        " LEFT JOIN registrations r ON r.registration_id = n.registration_id"
        " LEFT JOIN manage_links l ON l.registration_id = n.registration_id"
        " LEFT JOIN known_tenants t ON t.tenant_id = n.tenant_id"
        " LEFT JOIN seatings g ON g.meeting_id = n.meeting_id AND g.registration_id = n.registration_id"
        " WHERE n.status = 'pending' AND n.due_at <= $1"
        " AND (c.participant_id IS NOT NULL OR s.signup_id IS NOT NULL)"
        " AND (c.erased_at IS NULL OR n.kind = 'erasure_confirmed')"
        " AND (n.meeting_id IS NULL OR m.meeting_id IS NOT NULL)"
        " AND (n.registration_id IS NULL OR l.registration_id IS NOT NULL OR NOT n.kind = ANY($2::text[])"
        "      OR n.created_at <= $1 - make_interval(secs => $3))"
        " ORDER BY n.due_at LIMIT $4 FOR UPDATE OF n SKIP LOCKED",
        now,
        list(link_kinds),
        link_wait_s,
        limit,
    )


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed notification, as ``record_outcomes`` writes it.

    ``status``: sent | failed | skipped | pending (a retry or a deferral, due again at ``due_at``);
    ``error`` replaces ``last_error`` unless ``keep_error`` (a deferral keeps it); ``attempted`` counts one
    more delivery attempt."""

    notification_id: uuid.UUID
    status: str
    channel: str
    error: str | None = None
    due_at: datetime | None = None
    attempted: bool = False
    keep_error: bool = False


async def record_outcomes(conn: Conn, outcomes: Sequence[Outcome]) -> None:
    """Write what became of claimed notifications, all with one statement (``sent_at`` is the time of the
    write for those sent)."""
    if not outcomes:
        return
    await conn.execute(
        "UPDATE notifications n SET status = o.status, channel = o.channel, due_at = COALESCE(o.due_at, n.due_at),"
        " last_error = CASE WHEN o.keep_error THEN n.last_error ELSE o.error END,"
        " attempts = n.attempts + o.attempted::int,"
        " sent_at = CASE WHEN o.status = 'sent' THEN now() ELSE n.sent_at END"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::boolean[],"
        " $7::boolean[]) AS o(id, status, channel, error, due_at, attempted, keep_error)"
        " WHERE n.id = o.id",
        [o.notification_id for o in outcomes],
        [o.status for o in outcomes],
        [o.channel for o in outcomes],
        [o.error for o in outcomes],
        [o.due_at for o in outcomes],
        [o.attempted for o in outcomes],
        [o.keep_error for o in outcomes],
    )


async def delete_erased_contacts(conn: Conn, participant_ids: Sequence[uuid.UUID]) -> None:
    """``delete_erased_contact`` for several participants, with two statements."""
    if not participant_ids:
        return
    deleted = await conn.fetch(
        "DELETE FROM contacts WHERE participant_id = ANY($1::uuid[]) AND erased_at IS NOT NULL"
        " RETURNING participant_id",
        list(participant_ids),
    )
    if deleted:
        await conn.execute(
            "DELETE FROM notifications WHERE participant_id = ANY($1::uuid[]) AND status = 'pending'",
            [row["participant_id"] for row in deleted],
        )


async def mark_sent(conn: Conn, notification_id: uuid.UUID, channel: str) -> None:
    await conn.execute(
        "UPDATE notifications SET status = 'sent', channel = $2, sent_at = now(), attempts = attempts + 1,"
        " last_error = NULL WHERE id = $1",
        notification_id,
        channel,
    )


async def mark_skipped(conn: Conn, notification_id: uuid.UUID, reason: str) -> None:
    await conn.execute(
        "UPDATE notifications SET status = 'skipped', last_error = $2 WHERE id = $1", notification_id, reason
    )


# --- set-wise forms, for a batch of consumed events (each statement writes many rows) --------------------


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` as ``width`` column lists, for ``unnest``."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


async def lock_meetings(conn: Conn, meeting_ids: Iterable[uuid.UUID]) -> None:
    """``lock_meeting`` of several meetings with one statement, in the order of their ids as text: every
    transaction that locks several takes them in that one order, so two never wait for each other."""
    ids = sorted({str(m) for m in meeting_ids})
    if ids:
        await conn.execute(
            "SELECT count(pg_advisory_xact_lock($1, hashtext(m))) FROM unnest($2::text[]) AS m",
            locks.NOTIFICATION_MEETING,
            ids,
        )


async def meetings(conn: Conn, meeting_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    """The known ones of these meetings, by id, with one statement."""
    ids = list(set(meeting_ids))
    if not ids:
        return {}
    rows = await conn.fetch("SELECT * FROM meetings WHERE meeting_id = ANY($1::uuid[])", ids)
    return {row["meeting_id"]: row for row in rows}


async def upsert_contacts(
    conn: Conn, rows: Sequence[tuple[uuid.UUID, uuid.UUID, str, str | None, str | None, str]]
) -> None:
    """``upsert_contact`` of several participants, each once: ``(participant_id, tenant_id, name, email, phone,
    language)``, with one statement."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO contacts (participant_id, tenant_id, name, email, phone, language)"
        " SELECT c.* FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])"
        " AS c(participant_id, tenant_id, name, email, phone, language)"
        " WHERE NOT EXISTS (SELECT 1 FROM erased_participants e WHERE e.participant_id = c.participant_id)"
        " ON CONFLICT (participant_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,"
        " phone = EXCLUDED.phone, language = EXCLUDED.language, updated_at = now()"
        " WHERE contacts.erased_at IS NULL",
        *_columns(rows, 6),
    )


async def upsert_manage_links(
    conn: Conn, rows: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID, str]]
) -> None:
    """``upsert_manage_link`` of several registrations, each once: ``(participant_id, registration_id,
    meeting_id, tenant_id, manage_token)``, with one statement."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO manage_links (participant_id, registration_id, meeting_id, tenant_id, manage_token)"
        " SELECT l.* FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[])"
        " AS l(participant_id, registration_id, meeting_id, tenant_id, manage_token)"
        " WHERE NOT EXISTS (SELECT 1 FROM erased_participants e WHERE e.participant_id = l.participant_id)"
        " ON CONFLICT (registration_id) DO UPDATE SET manage_token = EXCLUDED.manage_token",
        *_columns(rows, 5),
    )


async def add_signups(
    conn: Conn,
    rows: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, str | None, str | None, str, str, datetime]],
) -> set[uuid.UUID]:
    """``add_signup`` of several sign-ups, each once: ``(signup_id, tenant_id, meeting_id, name, email, phone,
    language, confirm_token, expires_at)``, with one statement; the ids of those kept (not known before)."""
    if not rows:
        return set()
    kept = await conn.fetch(
        "INSERT INTO signups (signup_id, tenant_id, meeting_id, name, email, phone, language, confirm_token,"
        " expires_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],"
        " $7::text[], $8::text[], $9::timestamptz[]) ON CONFLICT (signup_id) DO NOTHING RETURNING signup_id",
        *_columns(rows, 9),
    )
    return {row["signup_id"] for row in kept}


async def add_signup_notifications(
    conn: Conn, rows: Sequence[tuple[uuid.UUID, uuid.UUID, datetime, uuid.UUID, uuid.UUID, str, str]]
) -> None:
    """``add_signup_notification`` of several sign-ups: ``(tenant_id, cause_event_id, cause_occurred_at,
    signup_id, meeting_id, kind, channel)``, with one statement (one that exists already is left)."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO notifications (id, tenant_id, cause_event_id, cause_occurred_at, signup_id, meeting_id, kind,"
        " channel) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::uuid[],"
        " $6::uuid[], $7::text[], $8::text[])"
        " ON CONFLICT (cause_event_id, signup_id, kind) WHERE participant_id IS NULL DO NOTHING",
        [uuid.uuid4() for _ in rows],
        *_columns(rows, 7),
    )


async def close_signups(conn: Conn, rows: Sequence[tuple[uuid.UUID, uuid.UUID, str, datetime]]) -> None:
    """``close_signup`` of several sign-ups, each once: ``(signup_id, tenant_id, outcome, closed_at)``, with two
    statements."""
    if not rows:
        return
    signup_ids, tenant_ids, outcomes, closed_ats = _columns(rows, 4)
    await conn.execute(
        "UPDATE notifications n SET status = CASE WHEN n.status = 'pending' THEN 'skipped' ELSE n.status END,"
        " last_error = CASE WHEN n.status = 'pending' THEN 'the sign-up is closed'"
        "   WHEN n.last_error IS NULL THEN NULL ELSE 'scrubbed: the sign-up is closed' END"
        " WHERE n.signup_id = ANY($1::uuid[])",
        signup_ids,
    )
    await conn.execute(
        "INSERT INTO signups (signup_id, tenant_id, meeting_id, expires_at, closed_at, outcome)"
        " SELECT s.signup_id, s.tenant_id, '00000000-0000-0000-0000-000000000000', s.closed_at, s.closed_at,"
        " s.outcome FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[])"
        " AS s(signup_id, tenant_id, outcome, closed_at)"
        " ON CONFLICT (signup_id) DO UPDATE SET name = NULL, email = NULL, phone = NULL, confirm_token = NULL,"
        " closed_at = COALESCE(signups.closed_at, EXCLUDED.closed_at), outcome = COALESCE(signups.outcome,"
        " EXCLUDED.outcome)",
        signup_ids,
        tenant_ids,
        outcomes,
        closed_ats,
    )


async def upsert_registrations(
    conn: Conn,
    rows: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID, str, uuid.UUID | None, datetime | None]],
) -> None:
    """``upsert_registration`` of several registrations, each once: ``(registration_id, tenant_id, meeting_id,
    participant_id, status, confirmed_by, confirmed_at)``, with one statement."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO registrations (registration_id, tenant_id, meeting_id, participant_id, status,"
        " confirmed_by, confirmed_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[],"
        " $5::text[], $6::uuid[], $7::timestamptz[])"
        " ON CONFLICT (registration_id) DO UPDATE SET status = EXCLUDED.status,"
        " confirmed_by = COALESCE(EXCLUDED.confirmed_by, registrations.confirmed_by),"
        " confirmed_at = COALESCE(EXCLUDED.confirmed_at, registrations.confirmed_at)",
        *_columns(rows, 7),
    )


async def told_of(conn: Conn, registration_ids: Sequence[uuid.UUID], kind: str) -> set[uuid.UUID]:
    """``told`` of several registrations with one statement: those that have a message of ``kind`` planned."""
    if not registration_ids:
        return set()
    rows = await conn.fetch(
        "SELECT DISTINCT registration_id FROM notifications WHERE registration_id = ANY($1::uuid[]) AND kind = $2",
        list(registration_ids),
        kind,
    )
    return {row["registration_id"] for row in rows}


@dataclass(frozen=True)
class Planned:
    """A message about a registration to record (``add_notifications``); as ``add_notification``'s arguments.
    ``due_at`` None: due at once."""

    tenant_id: uuid.UUID
    cause_event_id: uuid.UUID
    cause_occurred_at: datetime
    participant_id: uuid.UUID
    kind: str
    channel: str
    meeting_id: uuid.UUID
    registration_id: uuid.UUID
    due_at: datetime | None = None
    details: dict[str, Any] | None = None


async def add_notifications(conn: Conn, planned: Sequence[Planned]) -> None:
    """``add_notification`` of several messages with one statement: one whose (cause, recipient, kind) exists
    already, or whose recipient is erased, is left out."""
    if not planned:
        return
    await conn.execute(
        "INSERT INTO notifications (id, tenant_id, cause_event_id, cause_occurred_at, participant_id, kind,"
        " channel, meeting_id, registration_id, due_at, details)"
        " SELECT n.id, n.tenant_id, n.cause_event_id, n.cause_occurred_at, n.participant_id, n.kind, n.channel,"
        " n.meeting_id, n.registration_id, COALESCE(n.due_at, now()), n.details"
        " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::uuid[], $6::text[], $7::text[],"
        " $8::uuid[], $9::uuid[], $10::timestamptz[], $11::jsonb[]) AS n(id, tenant_id, cause_event_id,"
        " cause_occurred_at, participant_id, kind, channel, meeting_id, registration_id, due_at, details)"
        " WHERE NOT EXISTS (SELECT 1 FROM erased_participants e WHERE e.participant_id = n.participant_id)"
        " ON CONFLICT (cause_event_id, participant_id, kind) DO NOTHING",
        [uuid.uuid4() for _ in planned],
        [p.tenant_id for p in planned],
        [p.cause_event_id for p in planned],
        [p.cause_occurred_at for p in planned],
        [p.participant_id for p in planned],
        [p.kind for p in planned],
        [p.channel for p in planned],
        [p.meeting_id for p in planned],
        [p.registration_id for p in planned],
        [p.due_at for p in planned],
        [p.details or {} for p in planned],
    )


async def remove_pending_of(conn: Conn, kinds: Iterable[str], registration_ids: Sequence[uuid.UUID]) -> None:
    """``remove_pending`` of several registrations, with one statement."""
    if not registration_ids:
        return
    await conn.execute(
        "DELETE FROM notifications WHERE registration_id = ANY($1::uuid[]) AND kind = ANY($2::text[])"
        " AND status = 'pending'",
        list(registration_ids),
        list(kinds),
    )
