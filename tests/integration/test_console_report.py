"""Reporting's dashboards opened from the console with the same sign-in, across the real services (the
``platform`` fixture): the console's one-time grant is exchanged for reporting's cookie and leaves the
address; the dashboard comes in the console page's language; a coordinator sees only their own tenant's
dashboard, never another's or the national one; a used, tampered or expired grant is a 401 page."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from deploy.local.platform import PlatformConfig
from services.reporting import pages
from shared import handoff
from shared.auth import hash_token
from tests.console_support import console_client
from tests.factories import daytime_start
from tests.registration_support import RegistrationApi, Tenant
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def token_of(tenant: Tenant) -> str:
    return tenant.headers["Authorization"].removeprefix("Bearer ")


async def known_to_reporting(platform: PlatformConfig, http: httpx.AsyncClient, tenant: Tenant, title: str) -> None:
    """Wait until reporting has the tenant and its meeting (from the events)."""
    url = f"{platform.url('reporting')}/v1/tenants/{tenant.slug}/report"

    async def seen() -> bool:
        r = await http.get(url, headers=tenant.headers)
        return r.status_code == 200 and any(m["title"] == title for m in r.json()["meetings"])

    await eventually(seen, timeout_s=60)


async def open_dashboard(browser: httpx.AsyncClient, path: str) -> tuple[str, httpx.Response, httpx.Response]:
    """Follow the console's link step by step: (the address with the grant, reporting's exchange, the page)."""
    console = await browser.get(path)
    assert console.status_code == 303, console.text
    with_grant = console.headers["location"]
    exchanged = await browser.get(with_grant)
    assert exchanged.status_code == 303, exchanged.text
    page = await browser.get(httpx.URL(with_grant).join(exchanged.headers["location"]))
    return with_grant, exchanged, page


async def test_the_console_opens_the_tenants_dashboard_in_its_language(platform: PlatformConfig) -> None:
    api = RegistrationApi(platform)
    registration = platform.url("registration")
    reporting = platform.url("reporting")
    async with httpx.AsyncClient(timeout=30) as http:
        a, b = await api.tenant(http), await api.tenant(http)
        title = f"Kaffe og prat {uuid.uuid4().hex[:4]}"
        await api.meeting(http, a, title=title)
        await known_to_reporting(platform, http, a, title)

    async with console_client(registration, token_of(a)) as browser:
        browser.headers["Accept-Language"] = "nb"
        # Followed as a browser does, across the two services.
        followed = await browser.get("/console/report/dashboard", follow_redirects=True)
        assert followed.status_code == 200 and followed.headers["content-type"].startswith("text/html")
        assert str(followed.url) == f"{reporting}/v1/tenants/{a.slug}/dashboard", "the grant left the address"
        assert [r.status_code for r in followed.history] == [303, 303]
        html = followed.text
        assert '<html lang="nb" dir="ltr">' in html and f"Kommune {a.slug}" in html
        for chart in pages.CHARTS:
            assert f'data-chart="{chart}"' in html
        # nb words: the counts' nouns and the months, and the meeting by its title and date, not its id.
        day = daytime_start()  # the meeting's start (tests/factories.py)
        assert "0 av 1 møte holdt" in html
        assert f">{pages.month_name(f'{day:%Y-%m}', 'nb')}</text>" in html
        rows = html.split('<table id="meetings">', 1)[1]
        (line,) = [r for r in rows.split("<tr")[1:] if title in r]
        assert f"<td>{pages.long_date(day.date().isoformat(), 'nb')}</td>" in line
        assert f"<td>{day.date().isoformat()}</td>" not in line

        # Step by step: reporting's cookie, and the grant works once.
        with_grant, exchanged, page = await open_dashboard(browser, "/console/report/dashboard")
        assert urlsplit(with_grant).netloc == urlsplit(reporting).netloc and "access=" in with_grant
        assert exchanged.headers["location"] == f"/v1/tenants/{a.slug}/dashboard"
        cookie = exchanged.headers["set-cookie"]
        assert cookie.startswith("fmf_report=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Path=/v1" in cookie and "Max-Age=3600" in cookie and "Secure" not in cookie  # make up's plain http
        assert page.status_code == 200 and '<html lang="nb" dir="ltr">' in page.text

        async with httpx.AsyncClient(timeout=30) as stranger:
            again = await stranger.get(with_grant)
            assert again.status_code == 401 and again.headers["content-type"].startswith("text/html")
            assert 'id="problem"' in again.text and "fmf_report" not in again.headers.get("set-cookie", "")

        # Another tenant's dashboard and the national one: not found, with the coordinator's cookie.
        other = await browser.get(f"{reporting}/v1/tenants/{b.slug}/dashboard")
        assert other.status_code == 404 and f"Kommune {b.slug}" not in other.text
        national = await browser.get(f"{reporting}/v1/national/dashboard")
        assert national.status_code == 404 and "data-tenant" not in national.text
        assert (await browser.get("/console/national/dashboard")).status_code == 404

        # ?lang= switches the page's language (the grant's was nb).
        english = await browser.get(f"{reporting}/v1/tenants/{a.slug}/dashboard?lang=en")
        assert english.status_code == 200 and '<html lang="en" dir="ltr">' in english.text

        # Revoking the access key ends the dashboards' sign-in too, as soon as reporting knows of it.
        async with httpx.AsyncClient(timeout=30) as http:
            revoked = await http.delete(
                f"{registration}/v1/tenants/{a.slug}/tokens/{a.token_id}", headers=RegistrationApi(platform).operator
            )
            assert revoked.status_code == 204

        async def refused() -> bool:
            r = await browser.get(f"{reporting}/v1/tenants/{a.slug}/dashboard")
            return r.status_code == 401 and r.headers["content-type"].startswith("text/html")

        await eventually(refused, timeout_s=60)

    # Without the console's sign-in the dashboard is a 401 page, not JSON.
    async with httpx.AsyncClient(timeout=30) as nobody:
        bare = await nobody.get(f"{reporting}/v1/tenants/{a.slug}/dashboard")
        assert bare.status_code == 401 and bare.headers["content-type"].startswith("text/html")
        nobody.cookies.set("fmf_report", "e30.AAAA", path="/v1")
        forged = await nobody.get(f"{reporting}/v1/tenants/{a.slug}/dashboard")
        assert forged.status_code == 401 and forged.headers["content-type"].startswith("text/html")


async def test_a_tampered_or_expired_grant_is_a_401_page(platform: PlatformConfig) -> None:
    api = RegistrationApi(platform)
    reporting = platform.url("reporting")
    key = handoff.key_of(platform.operator_token)
    async with httpx.AsyncClient(timeout=30) as http:
        a = await api.tenant(http)
        title = f"Lunsj {uuid.uuid4().hex[:4]}"
        await api.meeting(http, a, title=title)
        await known_to_reporting(platform, http, a, title)
    tenant_id = a.id
    key_hash = hash_token(token_of(a))
    fresh = handoff.grant("coordinator", tenant_id, a.slug, "nb", "access", time.time(), credential=key_hash)
    expired = handoff.grant("coordinator", tenant_id, a.slug, "nb", "access", time.time() - 61, credential=key_hash)
    keyless = handoff.grant("coordinator", tenant_id, a.slug, "nb", "access", time.time())
    operator_claim = handoff.grant("operator", None, None, "nb", "access", time.time(), credential=key_hash)
    signed = handoff.sign(key, fresh)
    payload, signature = signed.rsplit(".", 1)
    forged_operator = f"{handoff.sign(key, operator_claim).rsplit('.', 1)[0]}.{signature}"
    wrong_key = handoff.sign(handoff.key_of("not-the-operator-token"), fresh)
    async with httpx.AsyncClient(timeout=30) as browser:
        # A signed grant without the access key's hash, and an operator's claim with a coordinator's key, are
        # refused like tampered ones.
        signed_keyless, signed_claim = handoff.sign(key, keyless), handoff.sign(key, operator_claim)
        for bad in (
            f"{payload}.{signature[:-3]}xyz",
            handoff.sign(key, expired),
            forged_operator,
            wrong_key,
            signed_keyless,
            signed_claim,
        ):
            for path in (f"/v1/tenants/{a.slug}/dashboard", "/v1/national/dashboard"):
                r = await browser.get(f"{reporting}{path}", params={"access": bad})
                assert r.status_code == 401 and r.headers["content-type"].startswith("text/html"), (bad, path)
                assert "fmf_report" not in browser.cookies
        # The same grant, untouched, works (once).
        ok = await browser.get(f"{reporting}/v1/tenants/{a.slug}/dashboard", params={"access": signed})
        assert ok.status_code == 303 and "fmf_report" in browser.cookies
        reused = await browser.get(f"{reporting}/v1/tenants/{a.slug}/dashboard", params={"access": signed})
        assert reused.status_code == 401


async def test_the_operator_opens_the_national_dashboard(platform: PlatformConfig) -> None:
    reporting = platform.url("reporting")
    async with console_client(platform.url("registration"), platform.operator_token) as browser:
        browser.headers["Accept-Language"] = "en"
        page = await browser.get("/console/national/dashboard", follow_redirects=True)
        assert page.status_code == 200 and str(page.url) == f"{reporting}/v1/national/dashboard"
        assert '<html lang="en" dir="ltr">' in page.text and 'data-chart="meetings_held"' in page.text
        assert (await browser.get("/console/report/dashboard")).status_code == 404
