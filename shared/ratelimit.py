"""Abuse limits: how often one client, meeting, contact or target may do something, shared by every replica.

Counting is the ``limits`` library's fixed-window strategy (a window opens at the first hit and lasts
the rule's period). The counters live in the service's own PostgreSQL database by default
(:class:`PostgresStorage`, table ``rate_limit_counters`` from ``shared/migrations/005_rate_limits.sql``),
so the platform needs nothing besides its database; any ``limits`` storage URI (``redis://...``,
``memory://``) may replace it through the ``rate_limit_storage`` setting.

Who and what is counted (a client address, an e-mail address, a registration id) only reaches the
storage as a keyed hash (HMAC-SHA-256 under a secret made once per database by that migration).

A service makes one instance at start-up, after its pool::

    abuse = await AbuseLimits.from_settings(settings, pool)
    ...
    await abuse.hit(Rule.SIGNUP_PER_CLIENT, client_key(host))   # over the limit: raises TooManyRequests

and closes it at shutdown (``await abuse.close()``). ``TooManyRequests`` is answered 429 with
``Retry-After`` by ``shared.http.install_problem_handlers``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

import asyncpg
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from shared import db, metrics
from shared.db import is_connection_error
from shared.errors import TooManyRequests

if TYPE_CHECKING:
    from shared.settings import AbuseLimitSettings

log = logging.getLogger(__name__)

POSTGRESQL = "postgresql"  # the ``rate_limit_storage`` value meaning "the service's own database"


class PostgresStorage(Storage):
    """A ``limits`` async storage in PostgreSQL, for the fixed-window strategy.

    Every counter change is one statement (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), so
    replicas and concurrent requests each see their own count and never let more through than the
    limit. Expired rows are harmless (a hit on one starts a new window) and are purged in small
    batches: at most once per ``purge_interval_s`` by a hit of this instance, or by
    :meth:`purge_expired` from a background job.

    Give it the service's ``pool`` (its connections may work as a role that owns no table: it needs
    SELECT, INSERT, UPDATE and DELETE on ``rate_limit_counters``), or a URI
    ``async+postgresql://user@host/db`` (then it opens a small pool of its own on first use).
    """

    STORAGE_SCHEME = ["async+postgresql"]  # noqa: RUF012 (the limits library registers storages by this)

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        pool: asyncpg.Pool | None = None,
        purge_interval_s: float = 60.0,
        purge_batch: int = 1000,
        **options: float | str | bool,
    ) -> None:
        if pool is None and uri is None:
            raise ValueError("PostgresStorage needs a pool or a URI")
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._dsn = uri.removeprefix("async+") if uri else None
        self._pool = pool
        self._own_pool = pool is None
        self._pool_lock = asyncio.Lock()
        self._purge_interval_s = purge_interval_s
        self._purge_batch = purge_batch
        self._next_purge = time.monotonic() + purge_interval_s

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    assert self._dsn is not None
                    self._pool = await db.create_pool(self._dsn, min_size=1, max_size=4)
        return self._pool

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count ``amount`` hits on ``key``; a key whose window has passed starts a new one of
        ``expiry`` seconds. Returns the count in the current window, this hit included."""
        pool = await self._get_pool()
        hits: int = await pool.fetchval(
            """
            INSERT INTO rate_limit_counters AS c (key, hits, expires_at)
            VALUES ($1, $2, now() + make_interval(secs => $3))
            ON CONFLICT (key) DO UPDATE SET
                hits = CASE WHEN c.expires_at <= now() THEN excluded.hits ELSE c.hits + excluded.hits END,
                expires_at = CASE WHEN c.expires_at <= now() THEN excluded.expires_at ELSE c.expires_at END
            RETURNING hits
            """,
            key,
            amount,
            float(expiry),
        )
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + self._purge_interval_s
            await self.purge_expired(self._purge_batch)
        return hits

    async def get(self, key: str) -> int:
        pool = await self._get_pool()
        hits = await pool.fetchval("SELECT hits FROM rate_limit_counters WHERE key = $1 AND expires_at > now()", key)
        return int(hits or 0)

    async def get_expiry(self, key: str) -> float:
        """When the current window of ``key`` ends (Unix time); now when it has none."""
        pool = await self._get_pool()
        ends = await pool.fetchval(
            "SELECT extract(epoch FROM expires_at) FROM rate_limit_counters WHERE key = $1 AND expires_at > now()",
            key,
        )
        return float(ends) if ends is not None else time.time()

    async def check(self) -> bool:
        try:
            pool = await self._get_pool()
            await pool.fetchval("SELECT 1 FROM rate_limit_counters LIMIT 1")
        except Exception:
            return False
        return True

    async def reset(self) -> int | None:
        pool = await self._get_pool()
        return int(
            await pool.fetchval("WITH gone AS (DELETE FROM rate_limit_counters RETURNING 1) SELECT count(*) FROM gone")
        )

    async def clear(self, key: str) -> None:
        pool = await self._get_pool()
        await pool.execute("DELETE FROM rate_limit_counters WHERE key = $1", key)

    async def purge_expired(self, batch: int = 1000) -> int:
        """Delete up to ``batch`` rows whose window has passed, skipping rows others hold; returns how
        many. Cheap enough to call often: it reads the expiry index from its oldest end."""
        pool = await self._get_pool()
        purged = await pool.fetchval(
            """
            WITH gone AS (
                DELETE FROM rate_limit_counters WHERE key IN (
                    SELECT key FROM rate_limit_counters WHERE expires_at <= now()
                    ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                RETURNING 1)
            SELECT count(*) FROM gone
            """,
            batch,
        )
        return int(purged)

    async def close(self) -> None:
        """Close the pool this storage opened itself (a pool it was given stays open)."""
        if self._own_pool and self._pool is not None:
            await self._pool.close()
            self._pool = None


class Rule(StrEnum):
    """The named abuse limits; each has a setting ``limit_<name>`` (``shared.settings.AbuseLimitSettings``)."""

    SIGNUP_PER_CLIENT = "signup_per_client"
    """Public sign-ups (``hit``) from one client address."""
    SIGNUP_PER_MEETING = "signup_per_meeting"
    """Public sign-ups (``hit``) for one meeting."""
    SIGNUP_PER_CONTACT = "signup_per_contact"
    """Confirmation messages (``hit``) to one e-mail address or phone number."""
    CONFIRM_FAILURES_PER_CLIENT = "confirm_failures_per_client"
    """Confirmation links that did not work (``check`` + ``fail``), per client address."""
    CONFIRM_FAILURES_PER_TARGET = "confirm_failures_per_target"
    """Confirmation links that did not work (``check`` + ``fail``), per sign-up they name."""
    MANAGE_FAILURES_PER_CLIENT = "manage_failures_per_client"
    """Manage tokens that did not work (``check`` + ``fail``), per client address."""
    MANAGE_FAILURES_PER_TARGET = "manage_failures_per_target"
    """Manage tokens that did not work (``check`` + ``fail``), per registration they name."""
    INVITATION_FAILURES_PER_CLIENT = "invitation_failures_per_client"
    """Wrong invitation codes (``check`` + ``fail``), per client address."""
    INVITATION_FAILURES_PER_MEETING = "invitation_failures_per_meeting"
    """Wrong invitation codes (``check`` + ``fail``), per meeting."""
    BEARER_FAILURES_PER_CLIENT = "bearer_failures_per_client"
    """Bearer tokens that did not work (``check`` + ``fail``), per client address."""


# What the person reads before "; try again in ...": what happened, in plain words.
REFUSALS: dict[Rule, str] = {
    Rule.SIGNUP_PER_CLIENT: "Too many sign-ups from your network",
    Rule.SIGNUP_PER_MEETING: "Too many sign-ups for this meeting at the moment",
    Rule.SIGNUP_PER_CONTACT: "Too many confirmation messages to this e-mail address or phone number",
    Rule.CONFIRM_FAILURES_PER_CLIENT: "Too many confirmation links that did not work from your network",
    Rule.CONFIRM_FAILURES_PER_TARGET: "Too many attempts to confirm this sign-up with a link that did not work",
    Rule.MANAGE_FAILURES_PER_CLIENT: "Too many manage links that did not work from your network",
    Rule.MANAGE_FAILURES_PER_TARGET: "Too many attempts to open this registration with a link that did not work",
    Rule.INVITATION_FAILURES_PER_CLIENT: "Too many wrong invitation codes from your network",
    Rule.INVITATION_FAILURES_PER_MEETING: "Too many wrong invitation codes for this meeting",
    Rule.BEARER_FAILURES_PER_CLIENT: "Too many sign-ins with a token that did not work from your network",
}


def rules_from_settings(settings: AbuseLimitSettings) -> dict[Rule, str]:
    """Each rule's limits in ``limits`` string notation, from its ``limit_<rule>`` setting."""
    return {rule: getattr(settings, f"limit_{rule.value}") for rule in Rule}


def wait_in_words(seconds: int) -> str:
    """``seconds`` as a person says it, rounded up: "40 seconds", "1 minute", "7 minutes", "3 hours"."""
    seconds = max(1, seconds)
    if seconds <= 90:
        count, unit = seconds, "second"
    elif seconds <= 2 * 3600:
        count, unit = math.ceil(seconds / 60), "minute"
    else:
        count, unit = math.ceil(seconds / 3600), "hour"
    return f"{count} {unit}{'' if count == 1 else 's'}"


def client_key(host: str | None) -> str:
    """The part of a client address to count under: the address itself for IPv4, its /64 network for
    IPv6 (one household or phone holds a whole /64). Pass the client's address as the service knows it:
    behind the registration proxy, the one a trusted proxy forwarded, not the proxy's own."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class AbuseLimits:
    """The service's abuse limits: named rules, each one or more windows (``"20/10 minutes;60/day"``).

    - ``hit(rule, *key_parts)`` counts one attempt and raises ``TooManyRequests`` when it is over
      the limit (sign-ups, confirmation messages).
    - ``check(rule, *key_parts)`` raises ``TooManyRequests`` when the limit is already used up,
      without counting; ``fail(rule, *key_parts)`` counts one failed attempt. Together they limit
      failures only (wrong links, tokens and codes): check before verifying, fail when it did not
      verify. A per-target rule locks the target for everyone once used up, the rightful person
      included, until the window ends: keep those windows short.

    ``key_parts`` name who or what is counted (``client_key(host)``, a meeting id, a normalised
    e-mail address); they are hashed with the per-database secret before they reach the storage.
    When the storage fails, the request is let through and a warning logged: abuse limits must not
    take sign-ups down with them. Except when the counters live in the service's own database
    (``PostgresStorage``) and it is unavailable (``shared.db.is_connection_error``): then the error is
    raised as it is (the request is answered 503 with Retry-After), at the first counter, because what the
    request goes on to do needs that database too, and it should not wait for it once per rule.
    """

    def __init__(
        self,
        storage: Storage,
        rules: Mapping[Rule, str],
        secret: bytes,
        *,
        enabled: bool = True,
    ) -> None:
        missing = set(Rule) - set(rules)
        if missing:
            raise ValueError(f"abuse limits without a setting: {', '.join(sorted(missing))}")
        self.storage = storage
        self.enabled = enabled
        self._limiter = FixedWindowRateLimiter(storage)
        self._rules = {rule: tuple(parse_many(text)) for rule, text in rules.items()}
        self._secret = secret

    @classmethod
    async def from_settings(cls, settings: AbuseLimitSettings, pool: asyncpg.Pool) -> AbuseLimits:
        """The service's instance: rules from ``settings``, counters in ``settings.rate_limit_storage``
        (``"postgresql"``: the service's database through ``pool``), hash secret from the database."""
        secret = await pool.fetchval("SELECT secret FROM rate_limit_secret")
        if secret is None:
            raise RuntimeError("rate_limit_secret is empty: apply shared/migrations/005_rate_limits.sql")
        return cls(
            make_storage(settings.rate_limit_storage, pool),
            rules_from_settings(settings),
            secret.encode(),
            enabled=settings.rate_limits_enabled,
        )

    def limits_of(self, rule: Rule) -> tuple[RateLimitItem, ...]:
        """The windows of ``rule``, as parsed from its setting."""
        return self._rules[rule]

    def key_of(self, rule: Rule, *key_parts: object) -> str:
        """The identifier stored for ``key_parts`` under ``rule``: the rule's name and a keyed hash."""
        message = "\x1f".join(str(part) for part in key_parts).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]
        return f"{rule.value}/{digest}"

    async def hit(self, rule: Rule, *key_parts: object) -> None:
        """Count one attempt; raise ``TooManyRequests`` if it goes over one of the rule's windows
        (the windows before it have counted it too, as the ``limits`` library does)."""
        if not self.enabled:
            return
        key = self.key_of(rule, *key_parts)
        try:
            for item in self._rules[rule]:
                if not await self._limiter.hit(item, key):
                    await self._refuse(rule, key, [item])
        except StorageError as exc:
            self._raise_if_database_down(exc)
            log.warning("abuse limit storage failed; letting the request through", extra={"rule": rule.value})

    async def check(self, rule: Rule, *key_parts: object) -> None:
        """Raise ``TooManyRequests`` if one of the rule's windows is used up; count nothing."""
        if not self.enabled:
            return
        key = self.key_of(rule, *key_parts)
        try:
            used_up = [item for item in self._rules[rule] if not await self._limiter.test(item, key)]
            if used_up:
                await self._refuse(rule, key, used_up)
        except StorageError as exc:
            self._raise_if_database_down(exc)
            log.warning("abuse limit storage failed; letting the request through", extra={"rule": rule.value})

    async def fail(self, rule: Rule, *key_parts: object) -> None:
        """Count one failed attempt in each of the rule's windows; the next ``check`` refuses once a
        window is used up. Never raises ``TooManyRequests``: the failure is answered as it is."""
        if not self.enabled:
            return
        key = self.key_of(rule, *key_parts)
        try:
            for item in self._rules[rule]:
                await self._limiter.hit(item, key)
        except StorageError as exc:
            self._raise_if_database_down(exc)
            log.warning("abuse limit storage failed; the failure is not counted", extra={"rule": rule.value})

    def _raise_if_database_down(self, exc: StorageError) -> None:
        """Raise the storage's own error when it says the service's database is unavailable."""
        cause = exc.storage_error
        if isinstance(self.storage, PostgresStorage) and is_connection_error(cause):
            raise cause from None

    async def clear(self, rule: Rule, *key_parts: object) -> None:
        """Forget the counts of ``key_parts`` under ``rule`` (say, after a successful sign-in)."""
        key = self.key_of(rule, *key_parts)
        for item in self._rules[rule]:
            await self._limiter.clear(item, key)

    async def purge_expired(self) -> int:
        """Delete a batch of counters whose window has passed (PostgreSQL storage; 0 otherwise), for a
        service's background job. Hits also purge now and then, so calling this is optional."""
        if isinstance(self.storage, PostgresStorage):
            return await self.storage.purge_expired()
        return 0

    async def close(self) -> None:
        if isinstance(self.storage, PostgresStorage):
            await self.storage.close()

    async def _refuse(self, rule: Rule, key: str, used_up: list[RateLimitItem]) -> None:
        now = time.time()
        resets = [(await self._limiter.get_window_stats(item, key)).reset_time for item in used_up]
        retry_after_s = max(1, math.ceil(max(resets) - now))
        metrics.ABUSE_LIMITED.labels(rule=rule.value).inc()
        raise TooManyRequests(f"{REFUSALS[rule]}; try again in {wait_in_words(retry_after_s)}.", retry_after_s)


def make_storage(uri: str, pool: asyncpg.Pool | None = None) -> Storage:
    """The storage named by the ``rate_limit_storage`` setting: ``"postgresql"`` is the service's own
    database through ``pool``; anything else is a ``limits`` storage URI (``redis://host:6379``,
    ``memory://``, ...), made asynchronous (``async+``) when it is not already."""
    if uri == POSTGRESQL:
        if pool is None:
            raise ValueError("rate_limit_storage 'postgresql' needs the service's database pool")
        return PostgresStorage(pool=pool, wrap_exceptions=True)
    if not uri.startswith("async+"):
        uri = "async+" + uri
    storage = storage_from_string(uri, wrap_exceptions=True)
    assert isinstance(storage, Storage), f"{uri} is not an asynchronous limits storage"
    return storage
