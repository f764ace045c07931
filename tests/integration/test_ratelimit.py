"""Abuse limits (shared/ratelimit.py) against real PostgreSQL: counting, Retry-After, replicas sharing
one count, concurrency, window expiry, purging, hashed keys and the 429 answer."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from shared import db
from shared.errors import TooManyRequests
from shared.http import PROBLEM, document_problems, install_problem_handlers
from shared.ratelimit import AbuseLimits, PostgresStorage, Rule, make_storage, rules_from_settings
from shared.settings import AbuseLimitSettings

REGISTRATION_MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "registration" / "migrations"

EMAIL = "kari.nordmann@example.no"
ADDRESS = "192.0.2.17"


@pytest.fixture
async def migrated(database: str, tmp_path: Path) -> str:
    """A fresh database with the shared migrations (an empty folder stands in for a service's)."""
    await db.migrate(database, tmp_path)
    return database


@pytest.fixture
async def pools(migrated: str) -> AsyncIterator[list[asyncpg.Pool]]:
    """Two pools on one database: what two replicas of a service hold."""
    opened = [await db.create_pool(migrated, 1, 10) for _ in range(2)]
    try:
        yield opened
    finally:
        for pool in opened:
            await pool.close()


async def abuse_limits(pool: asyncpg.Pool, **settings: Any) -> AbuseLimits:
    return await AbuseLimits.from_settings(AbuseLimitSettings(**settings), pool)


async def refused(call: Awaitable[None]) -> TooManyRequests:
    with pytest.raises(TooManyRequests) as caught:
        await call
    return caught.value


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.05)


async def test_hits_are_counted_and_the_next_is_refused_with_retry_after(pools: list[asyncpg.Pool]) -> None:
    abuse = await abuse_limits(pools[0], limit_signup_per_client="3/10 minutes;100/day")
    refused_before = REGISTRY.get_sample_value("fmf_abuse_limited_total", {"rule": "signup_per_client"}) or 0.0
    for _ in range(3):
        await abuse.hit(Rule.SIGNUP_PER_CLIENT, ADDRESS)
    error = await refused(abuse.hit(Rule.SIGNUP_PER_CLIENT, ADDRESS))
    assert 590 <= error.retry_after_s <= 600
    assert str(error) == "Too many sign-ups from your network; try again in 10 minutes."
    assert REGISTRY.get_sample_value("fmf_abuse_limited_total", {"rule": "signup_per_client"}) == refused_before + 1
    # Another client and another rule count on their own.
    await abuse.hit(Rule.SIGNUP_PER_CLIENT, "192.0.2.18")
    await abuse.hit(Rule.SIGNUP_PER_MEETING, ADDRESS)


async def test_failures_are_limited_by_check_and_fail(pools: list[asyncpg.Pool]) -> None:
    abuse = await abuse_limits(pools[0], limit_manage_failures_per_target="3/hour")
    target = "7d7d2f5e-8a8e-4a3f-9a51-6f1f1c1a2b3c"
    for _ in range(10):  # checking counts nothing
        await abuse.check(Rule.MANAGE_FAILURES_PER_TARGET, target)
    for _ in range(3):
        await abuse.check(Rule.MANAGE_FAILURES_PER_TARGET, target)
        await abuse.fail(Rule.MANAGE_FAILURES_PER_TARGET, target)  # never raises
    error = await refused(abuse.check(Rule.MANAGE_FAILURES_PER_TARGET, target))
    assert 3590 <= error.retry_after_s <= 3600
    assert str(error).startswith("Too many attempts to open this registration with a link that did not work")
    assert str(error).endswith("try again in 60 minutes.")
    await abuse.fail(Rule.MANAGE_FAILURES_PER_TARGET, target)  # a fourth failure is counted, not raised
    await abuse.clear(Rule.MANAGE_FAILURES_PER_TARGET, target)
    await abuse.check(Rule.MANAGE_FAILURES_PER_TARGET, target)


async def test_two_replicas_share_one_count(pools: list[asyncpg.Pool]) -> None:
    first, second = [await abuse_limits(pool, limit_signup_per_meeting="4/hour") for pool in pools]
    meeting = "0b6f2f7c-3a55-4bde-9c6e-2b1d8a3e4f50"
    for replica in (first, second, first, second):
        await replica.hit(Rule.SIGNUP_PER_MEETING, meeting)
    await refused(first.hit(Rule.SIGNUP_PER_MEETING, meeting))
    await refused(second.hit(Rule.SIGNUP_PER_MEETING, meeting))
    await refused(second.check(Rule.SIGNUP_PER_MEETING, meeting))


async def test_concurrent_hits_never_let_more_than_the_limit_through(pools: list[asyncpg.Pool]) -> None:
    replicas = [await abuse_limits(pool, limit_signup_per_client="10/hour") for pool in pools]

    async def attempt(n: int) -> bool:
        try:
            await replicas[n % 2].hit(Rule.SIGNUP_PER_CLIENT, ADDRESS)
        except TooManyRequests:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(n) for n in range(50)))
    assert outcomes.count(True) == 10
    hits = await pools[0].fetchval("SELECT sum(hits) FROM rate_limit_counters")
    assert hits == 50  # every attempt was counted, the refused ones too


async def test_a_window_ends_and_the_next_opens(pools: list[asyncpg.Pool]) -> None:
    abuse = await abuse_limits(pools[0], limit_invitation_failures_per_meeting="2/2 seconds")
    meeting = "5c0d1c5e-2b8a-4f5e-8f7d-1e2d3c4b5a69"
    await abuse.fail(Rule.INVITATION_FAILURES_PER_MEETING, meeting)
    await abuse.fail(Rule.INVITATION_FAILURES_PER_MEETING, meeting)
    error = await refused(abuse.check(Rule.INVITATION_FAILURES_PER_MEETING, meeting))
    assert 1 <= error.retry_after_s <= 2
    assert str(error).endswith(f"try again in {error.retry_after_s} second{'s' if error.retry_after_s > 1 else ''}.")

    async def allowed_again() -> bool:
        try:
            await abuse.check(Rule.INVITATION_FAILURES_PER_MEETING, meeting)
        except TooManyRequests:
            return False
        return True

    await wait_until(allowed_again)
    # A new window counts from zero: two more failures, then refused again.
    await abuse.fail(Rule.INVITATION_FAILURES_PER_MEETING, meeting)
    await abuse.check(Rule.INVITATION_FAILURES_PER_MEETING, meeting)
    await abuse.fail(Rule.INVITATION_FAILURES_PER_MEETING, meeting)
    await refused(abuse.check(Rule.INVITATION_FAILURES_PER_MEETING, meeting))


async def test_expired_counters_are_purged(pools: list[asyncpg.Pool]) -> None:
    abuse = await abuse_limits(pools[0], limit_bearer_failures_per_client="5/1 second")
    for n in range(20):
        await abuse.fail(Rule.BEARER_FAILURES_PER_CLIENT, f"192.0.2.{n}")
    await abuse.hit(Rule.SIGNUP_PER_CLIENT, ADDRESS)  # a 10-minute and a day window: they stay

    async def all_failures_expired() -> bool:
        live = "SELECT count(*) FROM rate_limit_counters WHERE expires_at > now() AND key LIKE '%/bearer_%'"
        return await pools[0].fetchval(live) == 0

    await wait_until(all_failures_expired)
    assert await abuse.purge_expired() == 20
    assert await pools[0].fetchval("SELECT count(*) FROM rate_limit_counters") == 2
    assert await abuse.purge_expired() == 0


async def test_hits_purge_now_and_then_by_themselves(pools: list[asyncpg.Pool]) -> None:
    storage = PostgresStorage(pool=pools[0], purge_interval_s=0.0)
    await storage.incr("old", 1)
    await wait_until(lambda: _counter_expired(pools[0], "old"))
    await storage.incr("new", 60)
    assert await pools[0].fetchval("SELECT array_agg(key) FROM rate_limit_counters") == ["new"]


async def _counter_expired(pool: asyncpg.Pool, key: str) -> bool:
    return bool(await pool.fetchval("SELECT expires_at <= now() FROM rate_limit_counters WHERE key = $1", key))


async def test_keys_are_stored_hashed(pools: list[asyncpg.Pool]) -> None:
    abuse = await abuse_limits(pools[0])
    await abuse.hit(Rule.SIGNUP_PER_CONTACT, EMAIL)
    await abuse.hit(Rule.SIGNUP_PER_CLIENT, ADDRESS)
    await abuse.fail(Rule.CONFIRM_FAILURES_PER_CLIENT, ADDRESS)
    keys = [row["key"] for row in await pools[0].fetch("SELECT key FROM rate_limit_counters")]
    assert len(keys) == 5  # two windows each for the contact and the client's sign-ups, one for failures
    for key in keys:
        assert re.fullmatch(r"LIMITER/[a-z_]+/[0-9a-f]{32}/\d+/\d+/[a-z]+", key), key
    stored = " ".join(keys).lower()
    for clear in ("kari", "nordmann", "example", "@", "192.0.2"):
        assert clear not in stored
    assert abuse.key_of(Rule.SIGNUP_PER_CONTACT, EMAIL) in stored
    # The hash is keyed with the database's secret: without it, hashing likely addresses finds nothing.
    other_secret = AbuseLimits(abuse.storage, rules_from_settings(AbuseLimitSettings()), b"another secret")
    assert other_secret.key_of(Rule.SIGNUP_PER_CONTACT, EMAIL) != abuse.key_of(Rule.SIGNUP_PER_CONTACT, EMAIL)


async def test_the_registration_role_may_count(migrated: str) -> None:
    """Registration works as a role that owns no table; the counters are still its to write."""
    await db.migrate(migrated, REGISTRATION_MIGRATIONS)
    pool = await db.create_pool(migrated, 1, 2, role="fmf_registration_app")
    try:
        abuse = await abuse_limits(pool, limit_signup_per_contact="1/hour")
        await abuse.hit(Rule.SIGNUP_PER_CONTACT, EMAIL)
        await refused(abuse.hit(Rule.SIGNUP_PER_CONTACT, EMAIL))
        assert await abuse.purge_expired() == 0
    finally:
        await pool.close()


async def test_disabled_limits_refuse_nothing(pools: list[asyncpg.Pool]) -> None:
    abuse = await abuse_limits(pools[0], rate_limits_enabled=False, limit_signup_per_client="1/hour")
    for _ in range(3):
        await abuse.hit(Rule.SIGNUP_PER_CLIENT, ADDRESS)
        await abuse.fail(Rule.BEARER_FAILURES_PER_CLIENT, ADDRESS)
        await abuse.check(Rule.BEARER_FAILURES_PER_CLIENT, ADDRESS)
    assert await pools[0].fetchval("SELECT count(*) FROM rate_limit_counters") == 0


async def test_another_limits_storage_may_hold_the_counters() -> None:
    abuse = AbuseLimits(
        make_storage("memory://"),
        rules_from_settings(AbuseLimitSettings(limit_signup_per_client="1/minute")),
        b"secret",
    )
    await abuse.hit(Rule.SIGNUP_PER_CLIENT, ADDRESS)
    error = await refused(abuse.hit(Rule.SIGNUP_PER_CLIENT, ADDRESS))
    assert 1 <= error.retry_after_s <= 60


async def test_a_refusal_is_answered_429_problem_json_with_retry_after(pools: list[asyncpg.Pool]) -> None:
    abuse = await abuse_limits(pools[0], limit_signup_per_client="1/10 minutes")
    app = FastAPI()
    install_problem_handlers(app)
    document_problems(app)

    @app.post("/v1/sign-up", status_code=202)
    async def sign_up() -> dict[str, str]:
        await abuse.hit(Rule.SIGNUP_PER_CLIENT, ADDRESS)
        return {"status": "accepted"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        assert (await http.post("/v1/sign-up")).status_code == 202
        answer = await http.post("/v1/sign-up")
        schema = (await http.get("/openapi.json")).json()
    assert answer.status_code == 429
    assert answer.headers["content-type"] == PROBLEM
    assert 590 <= int(answer.headers["retry-after"]) <= 600
    body = answer.json()
    assert body["status"] == 429
    assert body["title"] == "Too many requests"
    assert body["detail"] == "Too many sign-ups from your network; try again in 10 minutes."
    documented = schema["paths"]["/v1/sign-up"]["post"]["responses"]["429"]
    assert documented["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
