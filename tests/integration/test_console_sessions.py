"""Signing in to the console against a real registration service and PostgreSQL: a session cookie in place of
the bearer header, ended by sign-out, by revoking the token, by suspending the tenant, and after the idle
timeout; one-time sign-in links; wrong keys counted like wrong bearer tokens; no other tenant's pages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.registration.usecases import sessions
from services.registration.usecases.sessions import TokenSignIn
from tests.conftest import platform_config
from tests.console_support import console_client
from tests.pages_support import csrf_of, submit
from tests.registration_support import RegistrationApi, registration_service
from tests.support import RecordingSmtpHandler

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def console_api(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistrationApi]:
    """Registration with a 3 s idle timeout."""
    config = platform_config(
        postgres_dsn, kafka_bootstrap, smtp[0], Path(tmp_path_factory.mktemp("console")), FMF_CONSOLE_IDLE_TIMEOUT_S="3"
    )
    with registration_service(config) as api:
        yield api


@pytest.fixture(scope="module")
def limited_api(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistrationApi]:
    """Registration with the abuse limits on: three wrong keys per client a minute."""
    config = platform_config(
        postgres_dsn,
        kafka_bootstrap,
        smtp[0],
        Path(tmp_path_factory.mktemp("console-limited")),
        FMF_RATE_LIMITS_ENABLED="true",
        FMF_LIMIT_BEARER_FAILURES_PER_CLIENT="3/minute",
    )
    with registration_service(config) as api:
        yield api


def root(api: RegistrationApi) -> str:
    return api.base.removesuffix("/v1")


@pytest.fixture
async def api_http(console_api: RegistrationApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def test_sign_in_session_and_sign_out(console_api: RegistrationApi, api_http: httpx.AsyncClient) -> None:
    tenant = await console_api.tenant(api_http)
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=root(console_api), timeout=30) as browser:
        away = await browser.get("/console/meetings")
        assert away.status_code == 303 and away.headers["location"].startswith("/console/sign-in?next=")
        signed = await submit(browser, "/console/sign-in", "/console/sign-in", {"token": token, "next": "/console"})
        assert signed.status_code == 303
        cookie = next(h for h in signed.headers.get_list("set-cookie") if h.startswith("fmf_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
        page = await browser.get("/console/meetings")
        assert page.status_code == 200 and f"Kommune {tenant.slug}" in page.text
        out = await browser.post(
            "/console/sign-out",
            content=f"csrf_token={csrf_of(page.text)}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert out.status_code == 303
        browser.cookies.set("fmf_session", cookie.split(";")[0].split("=", 1)[1], path="/console")
        again = await browser.get("/console/meetings")
        assert again.status_code == 303, "the old cookie must not work after sign-out"


async def test_revoked_token_and_suspended_tenant_end_sessions(
    console_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await console_api.tenant(api_http)
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    async with console_client(root(console_api), token) as browser:
        assert (await browser.get("/console/meetings")).status_code == 200
        revoked = await api_http.delete(
            f"{console_api.base}/tenants/{tenant.slug}/tokens/{tenant.token_id}", headers=console_api.operator
        )
        assert revoked.status_code == 204
        assert (await browser.get("/console/meetings")).status_code == 303
    other = await console_api.tenant(api_http)
    async with console_client(root(console_api), other.headers["Authorization"].removeprefix("Bearer ")) as b:
        assert (await b.get("/console/meetings")).status_code == 200
        await api_http.post(f"{console_api.base}/tenants/{other.slug}/suspend", headers=console_api.operator)
        assert (await b.get("/console/meetings")).status_code == 303


async def test_idle_timeout(console_api: RegistrationApi, api_http: httpx.AsyncClient) -> None:
    tenant = await console_api.tenant(api_http)
    async with console_client(root(console_api), tenant.headers["Authorization"].removeprefix("Bearer ")) as b:
        assert (await b.get("/console/meetings")).status_code == 200
        await console_api.sql("UPDATE console_sessions SET last_seen_at = now() - interval '4 seconds'")
        assert (await b.get("/console/meetings")).status_code == 303
        assert await console_api.sql("SELECT 1 FROM console_sessions WHERE tenant_id = $1", uuid.UUID(tenant.id)) == []


async def test_wrong_keys_are_refused_and_counted(limited_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(base_url=root(limited_api), timeout=30) as browser:
        wrong = await submit(browser, "/console/sign-in", "/console/sign-in", {"token": "nope"})
        assert wrong.status_code == 401 and 'id="err-token"' in wrong.text
        empty = await submit(browser, "/console/sign-in", "/console/sign-in", {"token": "  "})
        assert empty.status_code == 400
        for _ in range(3):
            last = await submit(browser, "/console/sign-in", "/console/sign-in", {"token": "nope"})
        assert last.status_code == 429 and 'id="err-token"' in last.text
        right = await submit(
            browser, "/console/sign-in", "/console/sign-in", {"token": limited_api.config.operator_token}
        )
        assert right.status_code == 429, "a right key is refused too while the client is locked out"
        link = await browser.get(f"/console/sign-in/link/{uuid.uuid4()}?code=x")
        assert link.status_code == 429 and int(link.headers["retry-after"]) > 0


async def test_no_csrf_no_session(console_api: RegistrationApi, api_http: httpx.AsyncClient) -> None:
    tenant = await console_api.tenant(api_http)
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=root(console_api), timeout=30) as browser:
        forged = await browser.post(
            "/console/sign-in", data={"token": token}, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert forged.status_code == 403 and "fmf_session" not in browser.cookies


async def test_operator_and_coordinator_see_only_their_pages(
    console_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await console_api.tenant(api_http)
    async with console_client(root(console_api), console_api.config.operator_token) as operator:
        assert (await operator.get("/console")).headers["location"] == "/console/tenants"
        assert (await operator.get("/console/meetings")).status_code == 404
    async with console_client(root(console_api), tenant.headers["Authorization"].removeprefix("Bearer ")) as b:
        assert (await b.get("/console")).headers["location"] == "/console/meetings"


async def test_sign_in_with_a_next_of_another_site_stays_here(
    console_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await console_api.tenant(api_http)
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    for target in ("//evil.example/console", "https://evil.example/", "/console\\@evil"):
        async with httpx.AsyncClient(base_url=root(console_api), timeout=30) as browser:
            signed = await submit(browser, "/console/sign-in", "/console/sign-in", {"token": token, "next": target})
            assert signed.headers["location"] == "/console"


async def test_idle_sessions_and_expired_links_are_deleted_by_the_job(
    console_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await console_api.tenant(api_http)
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    tenant_id = uuid.UUID(tenant.id)
    async with console_client(root(console_api), token):
        pass
    pool = await asyncpg.create_pool(console_api.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            credential = await TokenSignIn("").sign_in(conn, token)
        assert credential is not None and credential.principal.tenant_id == tenant_id
        link = await sessions.issue_sign_in_link(pool, credential, valid_for_s=60)
        await console_api.sql("UPDATE console_sessions SET last_seen_at = now() - interval '1 hour'")
        await console_api.sql("UPDATE console_sign_in_links SET expires_at = now() - interval '1 second'")
        assert await sessions.end_idle(pool, idle_timeout_s=3) >= 1
        assert await console_api.sql("SELECT 1 FROM console_sessions WHERE tenant_id = $1", tenant_id) == []
        assert await console_api.sql("SELECT 1 FROM console_sign_in_links WHERE id = $1", link.link_id) == []
    finally:
        await pool.close()


async def test_a_one_time_link_signs_in_once(console_api: RegistrationApi, api_http: httpx.AsyncClient) -> None:
    tenant = await console_api.tenant(api_http)
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    pool = await asyncpg.create_pool(console_api.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            credential = await TokenSignIn("").sign_in(conn, token)
        assert credential is not None
        link = await sessions.issue_sign_in_link(pool, credential, valid_for_s=60)
    finally:
        await pool.close()
    async with httpx.AsyncClient(base_url=root(console_api), timeout=30) as browser:
        wrong = await browser.get(f"/console/sign-in/link/{link.link_id}?code=wrong")
        assert wrong.status_code == 401 and "fmf_session" not in browser.cookies
        used = await browser.get(link.path)
        assert used.status_code == 303 and used.headers["location"] == "/console"
        assert (await browser.get("/console/meetings")).status_code == 200
    async with httpx.AsyncClient(base_url=root(console_api), timeout=30) as other:
        again = await other.get(link.path)
        assert again.status_code == 401 and "fmf_session" not in other.cookies


async def test_an_unknown_console_address_is_a_page_not_json(
    console_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await console_api.tenant(api_http)
    meeting = await console_api.meeting(api_http, tenant)
    async with console_client(root(console_api), tenant.headers["Authorization"].removeprefix("Bearer ")) as b:
        for path in ("/console/nonexistent", f"/console/meetings/{meeting}/pairs/swap", "/console/sign-out"):
            page = await b.get(path)
            assert page.status_code == 404 and page.headers["content-type"].startswith("text/html"), path
            assert 'id="main"' in page.text and "Logg ut" in page.text, "the header shows the session"
