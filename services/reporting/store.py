"""All SQL of the reporting service."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.reporting import figures
from shared import locks
from shared.db import Conn

MIGRATIONS = Path(__file__).with_name("migrations")
# A statement and its arguments: what applying one event writes. The service executes an event's
# writes at once; a rebuild runs many events' writes of one statement together (``executemany``).
Write = tuple[str, tuple[Any, ...]]

# Derived from events, so emptied by a rebuild (with the consumer's inbox rows).
READ_MODEL_TABLES = (
    "meetings",
    "registrations",
    "pairings",
    "feedback",
    "notifications",
    "known_tenants",
    "known_tokens",
)


_UPSERT_MEETING = (
    "INSERT INTO meetings (meeting_id, tenant_id, format, status, starts_at, timezone, title)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (meeting_id) DO UPDATE SET format = EXCLUDED.format, status = EXCLUDED.status,"
    " starts_at = EXCLUDED.starts_at, timezone = EXCLUDED.timezone, title = EXCLUDED.title"
)


def upsert_meeting(
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    fmt: str,
    status: str,
    starts_at: datetime,
    timezone: str = "Europe/Oslo",
    title: str = "",
) -> Write:
    """A meeting as it is now (``starts_at`` aware, ``timezone`` an IANA name)."""
    return _UPSERT_MEETING, (
        meeting_id,
        tenant_id,
        fmt,
        status,
        starts_at,
        timezone,
        title,
    )


_UPSERT_REGISTRATION = (
    'INSERT INTO registrations (registration_id, tenant_id, meeting_id, "group", status, was_promoted, first_time)'
    " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (registration_id) DO UPDATE"
    " SET status = EXCLUDED.status, was_promoted = registrations.was_promoted OR EXCLUDED.was_promoted,"
    # after an erasure the profile arrives empty: keep what was known
    " first_time = coalesce(EXCLUDED.first_time, registrations.first_time)"
)


def upsert_registration(
    registration_id: uuid.UUID,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID,
    group: str,
    status: str,
    promoted: bool,
    first_time: bool | None,
) -> Write:
    """A registration's status; ``promoted`` sticks once true, an unknown ``first_time`` keeps the known one."""
    return _UPSERT_REGISTRATION, (
        registration_id,
        tenant_id,
        meeting_id,
        group,
        status,
        promoted,
        first_time,
    )


_UPSERT_PAIRING = (
    "INSERT INTO pairings (meeting_id, tenant_id, version, pairs, trios) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (meeting_id) DO UPDATE SET version = EXCLUDED.version, pairs = EXCLUDED.pairs,"
    " trios = EXCLUDED.trios WHERE pairings.version <= EXCLUDED.version"
)


def upsert_pairing(
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    version: int,
    pairs: int,
    trios: int,
) -> Write:
    """A meeting's plan as counts of pairs and trios; an older ``version`` than the one kept changes nothing."""
    return _UPSERT_PAIRING, (
        meeting_id,
        tenant_id,
        version,
        pairs,
        trios,
    )


async def apply(conn: Conn, writes: list[Write]) -> None:
    """Execute one event's writes, in order."""
    for statement, args in writes:
        await conn.execute(statement, *args)


async def apply_many(conn: Conn, writes: list[Write]) -> None:
    """Many events' writes, one ``executemany`` per statement. Each statement writes one table of its
    own, so only the order among a statement's rows matters, and that order is kept."""
    by_statement: dict[str, list[tuple[Any, ...]]] = {}
    for statement, args in writes:
        by_statement.setdefault(statement, []).append(args)
    for statement, rows in by_statement.items():
        await conn.executemany(statement, rows)


# A registration's status as the reports count it: when its meeting is cancelled, a place held or
# waited for is cancelled with it (registration leaves those rows as they were).
_EFFECTIVE_STATUS = (
    "CASE WHEN meetings.status = 'cancelled' AND registrations.status IN ('confirmed', 'waitlisted')"
    " THEN 'cancelled' ELSE registrations.status END"
)


async def tenant_summary(conn: Conn, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
    """Per meeting: places by group and status, promotions, pairs and trios. *Confirmed* holds a place,
    as in the reports: confirmed, attended or no-show (recording attendance does not unconfirm). In a cancelled meeting
    nobody holds a place or waits for one (their registrations count as cancelled), and nobody sat in pairs."""
    return await conn.fetch(
        f"""
        SELECT m.meeting_id, m.title, m.format, m.status, m.starts_at,
               count(*) FILTER (WHERE r.status IN {_PLACE} AND r."group" = 'newcomer') AS confirmed_newcomer,
               count(*) FILTER (WHERE r.status IN {_PLACE} AND r."group" = 'resident') AS confirmed_resident,
               count(*) FILTER (WHERE r.status = 'waitlisted' AND r."group" = 'newcomer') AS waitlisted_newcomer,
               count(*) FILTER (WHERE r.status = 'waitlisted' AND r."group" = 'resident') AS waitlisted_resident,
               count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE r.was_promoted) AS promoted,
               CASE WHEN m.status = 'cancelled' THEN 0 ELSE coalesce(p.pairs, 0) END AS pairs,
               CASE WHEN m.status = 'cancelled' THEN 0 ELSE coalesce(p.trios, 0) END AS trios
        FROM meetings m
        LEFT JOIN (SELECT registration_id, meeting_id, "group", was_promoted, {_EFFECTIVE_STATUS} AS status
                   FROM registrations JOIN meetings USING (meeting_id)) r ON r.meeting_id = m.meeting_id
        LEFT JOIN pairings p ON p.meeting_id = m.meeting_id
        WHERE m.tenant_id = $1
        GROUP BY m.meeting_id, p.pairs, p.trios
        ORDER BY m.starts_at, m.meeting_id
        """,
        tenant_id,
    )


_UPSERT_FEEDBACK = (
    'INSERT INTO feedback (registration_id, tenant_id, meeting_id, "group", rating, new_connection,'
    " would_recommend) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (registration_id) DO UPDATE"
    " SET rating = EXCLUDED.rating, new_connection = EXCLUDED.new_connection,"
    " would_recommend = EXCLUDED.would_recommend"
)


def upsert_feedback(
    registration_id: uuid.UUID,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID,
    group: str,
    rating: int,
    new_connection: bool,
    would_recommend: bool,
) -> Write:
    """One registration's feedback answers (``rating`` 1-5); a later answer replaces an earlier one."""
    return _UPSERT_FEEDBACK, (
        registration_id,
        tenant_id,
        meeting_id,
        group,
        rating,
        new_connection,
        would_recommend,
    )


_RECORD_NOTIFICATION = (
    "INSERT INTO notifications (notification_id, tenant_id, meeting_id, channel, outcome, occurred_at)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (notification_id) DO UPDATE"
    " SET outcome = EXCLUDED.outcome, occurred_at = EXCLUDED.occurred_at"
)


def record_notification(
    notification_id: uuid.UUID,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID | None,
    channel: str,
    outcome: str,
    occurred_at: datetime,
) -> Write:
    """A notification's outcome (``sent`` | ``failed``) on a channel at ``occurred_at``; the last one counts."""
    return _RECORD_NOTIFICATION, (
        notification_id,
        tenant_id,
        meeting_id,
        channel,
        outcome,
        occurred_at,
    )


def _last(earlier: tuple[Any, ...], later: tuple[Any, ...]) -> tuple[Any, ...]:
    return later


def _later_values(earlier: tuple[Any, ...], later: tuple[Any, ...]) -> tuple[Any, ...]:
    # The first four columns are only inserted, never updated: the earlier row's stand.
    return earlier[:4] + later[4:]


def _registration(earlier: tuple[Any, ...], later: tuple[Any, ...]) -> tuple[Any, ...]:
    first_time = later[6] if later[6] is not None else earlier[6]
    return (*earlier[:4], later[4], earlier[5] or later[5], first_time)


def _pairing(earlier: tuple[Any, ...], later: tuple[Any, ...]) -> tuple[Any, ...]:
    return later if later[2] >= earlier[2] else earlier


# Each upsert whose rows of one key fold into one row with the same effect as writing them one after the
# other: the fold of two rows (earlier, later), and the types of the parameters, to write the folded rows
# with one statement (``apply_set``).
_FOLDS: dict[str, tuple[Callable[[tuple[Any, ...], tuple[Any, ...]], tuple[Any, ...]], tuple[str, ...]]] = {
    _UPSERT_MEETING: (_last, ("uuid", "uuid", "text", "text", "timestamptz", "text", "text")),
    _UPSERT_REGISTRATION: (_registration, ("uuid", "uuid", "uuid", "text", "text", "boolean", "boolean")),
    _UPSERT_PAIRING: (_pairing, ("uuid", "uuid", "integer", "integer", "integer")),
    _UPSERT_FEEDBACK: (_later_values, ("uuid", "uuid", "uuid", "text", "smallint", "boolean", "boolean")),
    _RECORD_NOTIFICATION: (_later_values, ("uuid", "uuid", "uuid", "text", "text", "timestamptz")),
}


@functools.cache
def _set_statement(statement: str) -> str:
    """``statement`` (``INSERT ... VALUES ($1, ..., $n) ON CONFLICT ...``) over arrays: one row per element."""
    types = _FOLDS[statement][1]
    arrays = ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, start=1))
    values = "VALUES (" + ", ".join(f"${i}" for i in range(1, len(types) + 1)) + ")"
    if values not in statement:
        raise ValueError(f"not a one-row upsert: {statement[:80]}")
    return statement.replace(values, f"SELECT * FROM unnest({arrays})")


def fold(writes: list[Write]) -> list[Write]:
    """Many events' writes folded per statement and key (the first parameter) into one row each, with the
    effect of writing them in order; a statement without a fold keeps its rows. Pure."""
    by_statement: dict[str, dict[Any, tuple[Any, ...]]] = {}
    kept: list[Write] = []
    for statement, args in writes:
        if statement not in _FOLDS:
            kept.append((statement, args))
            continue
        rows = by_statement.setdefault(statement, {})
        key = args[0]
        rows[key] = _FOLDS[statement][0](rows[key], args) if key in rows else args
    return [(statement, args) for statement, rows in by_statement.items() for args in rows.values()] + kept


async def apply_set(conn: Conn, writes: list[Write]) -> None:
    """Many events' writes, folded (``fold``): one statement per upsert for all its keys, over arrays;
    the writes of statements without a fold follow, in order. Each statement writes a table of its own,
    so only the order among a statement's rows matters."""
    folded: dict[str, list[tuple[Any, ...]]] = {}
    rest: list[Write] = []
    for statement, args in fold(writes):
        if statement in _FOLDS:
            folded.setdefault(statement, []).append(args)
        else:
            rest.append((statement, args))
    for statement, rows in folded.items():
        await conn.execute(_set_statement(statement), *(list(column) for column in zip(*rows, strict=True)))
    await apply(conn, rest)


# --- the figures -----------------------------------------------------------------------------

_LOCAL_DATE = "(starts_at AT TIME ZONE timezone)::date"
_PLACE = "('confirmed', 'attended', 'no_show')"
_STATUS_FILTER = {
    "signed_up": "true",
    "confirmed": f"status IN {_PLACE}",
    "waitlisted": "status = 'waitlisted'",
    "promoted": "was_promoted",
    "cancelled": "status = 'cancelled'",
    "attended": "status = 'attended'",
    "no_show": "status = 'no_show'",
}
_REGISTRATION_COUNTS = ",\n".join(
    [
        f"count(*) FILTER (WHERE \"group\" = '{g}' AND {_STATUS_FILTER[m]}) AS {g}_{m}"
        for g in figures.GROUPS
        for m in figures.STATUS_MEASURES
    ]
    + ["count(*) FILTER (WHERE \"group\" = 'resident' AND status = 'attended' AND first_time) AS reach_first_time"]
    + [
        "count(*) FILTER (WHERE \"group\" = 'resident' AND status = 'attended' AND first_time IS NOT NULL)"
        " AS reach_answered"
    ]
)
_NOTIFICATION_COUNTS = ",\n".join(
    f"count(*) FILTER (WHERE channel = '{c}' AND outcome = '{o}') AS {c}_{o}"
    for c in figures.CHANNELS
    for o in figures.OUTCOMES
)
_COUNT_COLUMNS = ", ".join(
    [f"reg.{g}_{m}" for g in figures.GROUPS for m in figures.STATUS_MEASURES]
    + ["reg.reach_first_time", "reg.reach_answered"]
    + [f"fb.{name}" for name in figures.FEEDBACK_COUNTS]
    + [f"nt.{name}" for name in figures.NOTIFICATION_COUNTS]
)
_PER_MEETING = f"""
    chosen AS (
        SELECT meeting_id, tenant_id, title, format, status, starts_at, timezone,
               to_char(starts_at AT TIME ZONE timezone, 'YYYY-MM') AS month
        FROM meetings
        WHERE ($1::uuid IS NULL OR tenant_id = $1)
          AND ($2::date IS NULL OR {_LOCAL_DATE} >= $2)
          AND ($3::date IS NULL OR {_LOCAL_DATE} <= $3)
    ),
    counted AS (
        SELECT registration_id, meeting_id, "group", was_promoted, first_time, {_EFFECTIVE_STATUS} AS status
        FROM registrations JOIN meetings USING (meeting_id)
        WHERE meeting_id IN (SELECT meeting_id FROM chosen)
    ),
    reg AS (
        SELECT meeting_id, {_REGISTRATION_COUNTS}
        FROM counted GROUP BY meeting_id
    ),
    fb AS (
        -- only the answers of people who could have been there: not of a no-show, a cancelled place or
        -- one still waiting (registration refuses those; older answers may be here)
        SELECT meeting_id, count(*) AS feedback_responses, sum(rating) AS feedback_rating_sum,
               count(*) FILTER (WHERE new_connection) AS feedback_new_connection,
               count(*) FILTER (WHERE would_recommend) AS feedback_would_recommend
        FROM feedback f
        WHERE meeting_id IN (SELECT meeting_id FROM chosen)
          AND NOT EXISTS (SELECT 1 FROM counted c WHERE c.registration_id = f.registration_id
                          AND c.status IN ('no_show', 'cancelled', 'waitlisted'))
        GROUP BY meeting_id
    ),
    nt AS (
        SELECT meeting_id, {_NOTIFICATION_COUNTS}
        FROM notifications WHERE meeting_id IN (SELECT meeting_id FROM chosen) GROUP BY meeting_id
    ),
    per_meeting AS (
        SELECT c.meeting_id, c.tenant_id, c.title, c.format, c.status, c.starts_at, c.timezone, c.month,
               1 AS meetings,
               CASE WHEN c.status <> 'cancelled' AND (c.status = 'completed'
                    OR coalesce(reg.newcomer_attended + reg.resident_attended, 0) > 0) THEN 1 ELSE 0 END
                   AS meetings_held,
               CASE WHEN c.status = 'cancelled' THEN 1 ELSE 0 END AS meetings_cancelled,
               -- a cancelled meeting seated nobody, whatever its last plan said
               CASE WHEN c.status = 'cancelled' THEN 0 ELSE coalesce(p.pairs, 0) END AS pairs,
               CASE WHEN c.status = 'cancelled' THEN 0 ELSE coalesce(p.trios, 0) END AS trios,
               {_COUNT_COLUMNS}
        FROM chosen c
        LEFT JOIN reg USING (meeting_id)
        LEFT JOIN fb USING (meeting_id)
        LEFT JOIN nt USING (meeting_id)
        LEFT JOIN pairings p USING (meeting_id)
    ),
    loose AS (
        -- notifications not about one meeting count for the tenant and the month they were sent in
        SELECT n.tenant_id, to_char(n.occurred_at AT TIME ZONE coalesce(t.timezone, 'Europe/Oslo'), 'YYYY-MM')
                   AS month, {_NOTIFICATION_COUNTS}
        FROM notifications n LEFT JOIN known_tenants t USING (tenant_id)
        WHERE n.meeting_id IS NULL AND ($1::uuid IS NULL OR n.tenant_id = $1)
          AND ($2::date IS NULL OR (n.occurred_at AT TIME ZONE coalesce(t.timezone, 'Europe/Oslo'))::date >= $2)
          AND ($3::date IS NULL OR (n.occurred_at AT TIME ZONE coalesce(t.timezone, 'Europe/Oslo'))::date <= $3)
        GROUP BY 1, 2
    )"""


async def meeting_figures(
    conn: Conn, tenant_id: uuid.UUID | None, first: date | None, last: date | None
) -> list[asyncpg.Record]:
    """One row per meeting starting (local date) between ``first`` and ``last``, with its counts."""
    return await conn.fetch(
        f"WITH {_PER_MEETING} SELECT * FROM per_meeting ORDER BY starts_at, meeting_id", tenant_id, first, last
    )


async def loose_notifications(
    conn: Conn, tenant_id: uuid.UUID | None, first: date | None, last: date | None
) -> list[asyncpg.Record]:
    """Notifications sent in the period that are about no meeting, per tenant and month."""
    return await conn.fetch(f"WITH {_PER_MEETING} SELECT * FROM loose", tenant_id, first, last)


_SUMS = ",\n".join(f"coalesce(sum({name}), 0)::bigint AS {name}" for name in figures.BASE_COUNTS)


async def grouped_figures(conn: Conn, first: date | None, last: date | None) -> list[asyncpg.Record]:
    """The counts per tenant, per month and for the nation (``tenant_id``/``month`` null where summed over)."""
    return await conn.fetch(
        f"""
        WITH {_PER_MEETING},
        everything AS (
            SELECT tenant_id, month, {", ".join(figures.BASE_COUNTS)} FROM per_meeting
            UNION ALL
            SELECT tenant_id, month, {
            ", ".join(name if name in figures.NOTIFICATION_COUNTS else "0" for name in figures.BASE_COUNTS)
        } FROM loose
        )
        SELECT tenant_id, month, GROUPING(tenant_id) AS all_tenants, GROUPING(month) AS all_months, {_SUMS}
        FROM everything
        GROUP BY GROUPING SETS ((tenant_id), (month), ())
        """,
        None,
        first,
        last,
    )


async def tenants(conn: Conn) -> list[asyncpg.Record]:
    """Every known tenant (``tenant_id``, ``slug``, ``name``, ``municipality_number``), by slug."""
    return await conn.fetch("SELECT tenant_id, slug, name, municipality_number FROM known_tenants ORDER BY slug")


# --- running and rebuilding ------------------------------------------------------------------


async def hold_running_lock(conn: Conn) -> None:
    """Take ``locks.REPORTING_RUNNING`` shared for the session of ``conn`` (a connection of its own, held
    while the service runs; closing it releases the lock). Waits while a rebuild holds it exclusively."""
    await conn.execute("SELECT pg_advisory_lock_shared($1)", locks.REPORTING_RUNNING)


async def try_rebuild_lock(conn: Conn) -> bool:
    """Take ``locks.REPORTING_RUNNING`` exclusively for the session of ``conn``, without waiting: False
    when a running service (or another rebuild) holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", locks.REPORTING_RUNNING))


async def commit_without_waiting_for_disk(conn: Conn) -> None:
    """Let the current transaction's commit return before its WAL is flushed (``synchronous_commit = off``,
    for this transaction only). For a rebuild: a crash loses nothing a rerun cannot redo."""
    await conn.execute("SET LOCAL synchronous_commit = off")


async def empty_read_model(conn: Conn, consumer_group: str) -> None:
    """Forget everything learnt from events, and that it was learnt, so a replay applies it all again."""
    await conn.execute(f"TRUNCATE {', '.join(READ_MODEL_TABLES)}")
    await conn.execute("DELETE FROM inbox WHERE consumer = $1", consumer_group)


async def applied_events(conn: Conn, consumer_group: str) -> int:
    """How many events the read model was built from (the consumer group's inbox rows)."""
    return int(await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", consumer_group))


async def count_not_in(conn: Conn, consumer_group: str, event_ids: set[uuid.UUID]) -> int:
    """How many events the read model applied that are not among ``event_ids`` (those on the topics)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id <> ALL($2::uuid[])",
            consumer_group,
            list(event_ids),
        )
    )


async def claim_events(
    conn: Conn, consumer_group: str, events: list[tuple[uuid.UUID, uuid.UUID, str]]
) -> set[uuid.UUID]:
    """The inbox's claim for many events at once (id, tenant, type): the ids not applied before."""
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_id, tenant_id, event_type)"
        " SELECT $1, e.id, e.tenant_id, e.type"
        " FROM unnest($2::uuid[], $3::uuid[], $4::text[]) AS e(id, tenant_id, type)"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        consumer_group,
        [e[0] for e in events],
        [e[1] for e in events],
        [e[2] for e in events],
    )
    return {r["event_id"] for r in rows}


# --- the console's one-time grants --------------------------------------------------------------


async def use_handoff(conn: Conn, nonce: str, expires_at: datetime) -> bool:
    """Note a one-time grant as used; True the first time, False when it was used before. Grants expired
    before ``expires_at`` minus a day are forgotten on the way (they can no longer be used anyway)."""
    await conn.execute("DELETE FROM handoff_used WHERE expires_at < $1::timestamptz - interval '1 day'", expires_at)
    done = await conn.fetchval(
        "INSERT INTO handoff_used (nonce, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
        nonce,
        expires_at,
    )
    return bool(done)
