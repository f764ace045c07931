"""Background work of the registration service.

Each job does a round, then sleeps its interval. A round that meets a database outage
(``shared.db.is_connection_error``) is logged as a warning and tried again after ``OUTAGE_RETRY_S``
seconds (or the job's interval, if that is shorter), so that the job carries on by itself once the
database is back, without waiting a whole interval (a day, for retention) and without a restart.
Any other error ends the job; the service's supervisor logs it and starts it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.registration.usecases import meetings, participants, sessions, signups
from shared.db import is_connection_error
from shared.service import Runtime

log = logging.getLogger(__name__)

OUTAGE_RETRY_S = 5.0  # seconds between two tries of a round while the database is unavailable


async def _every(name: str, interval_s: float, round_: Callable[[], Awaitable[object]]) -> None:
    """Run ``round_`` every ``interval_s`` seconds, for ever; see the module's docstring for errors."""
    while True:
        try:
            await round_()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning(
                "database unavailable; the job tries again",
                extra={"job": name, "error_type": type(exc).__name__, "retry_in_s": min(OUTAGE_RETRY_S, interval_s)},
            )
            await asyncio.sleep(min(OUTAGE_RETRY_S, interval_s))
            continue
        await asyncio.sleep(interval_s)


async def retention(runtime: Runtime) -> None:
    """Daily (by default): erase personal data that is past the tenant's retention time."""
    await _every("retention", runtime.settings.retention_interval_s, lambda: participants.erase_expired(runtime.db))


async def expire_links(runtime: Runtime) -> None:
    """Every few minutes: close the sign-ups and erasure requests whose links were not used in time, so
    that their details and tokens do not outlive them; delete the console's idle sessions and its expired
    sign-in links."""

    async def round_() -> None:
        await signups.expire(runtime.db)
        await participants.expire_erasure_requests(runtime.db)
        await sessions.end_idle(runtime.db, runtime.settings.console_idle_timeout_s)

    await _every("expire_links", runtime.settings.link_expiry_interval_s, round_)


async def close_registration(runtime: Runtime) -> None:
    """Every half minute (by default): close registration of the published meetings whose closing time has
    come (``registration_closes_at``, at the latest the start), with the same event and roster as the
    coordinator's close, so that matching proposes the pairs."""
    await _every(
        "close_registration", runtime.settings.registration_close_interval_s, lambda: meetings.close_due(runtime.db)
    )
