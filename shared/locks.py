"""Every PostgreSQL advisory-lock id the platform uses, in one place, so no two can collide.

Each id is a 32-bit constant starting with the bytes "FM" (0x464D). Each service has its own database,
so ids need only be unique within one service; they are unique across all of them anyway.
"""

from __future__ import annotations

MIGRATION = 0x464D4601
"""Session lock held while a service applies its migrations (``shared.db.migrate``)."""

OUTBOX_RELAY = 0x464D4602
"""Transaction lock of one relay round, so replicas of a service publish the outbox in ``seq`` order."""

RETENTION = 0x464D4610
"""Transaction lock of registration's retention sweep: one replica erases at a time."""

NOTIFICATION_MEETING = 0x464D4E31
"""Namespace of notification's per-meeting transaction locks (second key: ``hashtext(meeting_id)``)."""

REPORTING_RUNNING = 0x464D4652
"""Reporting: held shared by every running service, taken exclusively by a rebuild (which then refuses)."""
