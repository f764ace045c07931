"""The operator's console against a real registration service and PostgreSQL: the municipalities with their
activity, adding one through the form (each error beside its field), an access key shown once with a
one-time sign-in link, revoking it, suspending and reactivating; a coordinator is told "not found" on every
operator page; a post without its CSRF token changes nothing; and the API's one-time sign-in links."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.console_support import console_client
from tests.pages_support import csrf_of, submit
from tests.registration_support import RegistrationApi, Tenant

pytestmark = pytest.mark.asyncio(loop_scope="session")

FORM = "application/x-www-form-urlencoded"


def root(api: RegistrationApi) -> str:
    return api.base.removesuffix("/v1")


def new_slug() -> str:
    return f"op-{uuid.uuid4().hex[:10]}"


def new_number() -> str:
    return f"{uuid.uuid4().int % 10_000:04d}"


def field_errors(page: str) -> set[str]:
    """The fields with an error beside them."""
    return set(re.findall(r'<p class="error" id="err-([a-z_]+)"', page))


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no element {element_id}"
    return html.unescape(found.group(1)).strip()


async def tenant_row(api: RegistrationApi, slug: str) -> Any:
    [row] = await api.sql("SELECT * FROM tenants WHERE slug = $1", slug)
    return row


async def coordinator_of(api: RegistrationApi) -> tuple[Tenant, str]:
    async with httpx.AsyncClient(timeout=30) as http:
        tenant = await api.tenant(http)
    return tenant, tenant.headers["Authorization"].removeprefix("Bearer ")


async def test_the_operator_adds_a_municipality_and_a_coordinator_signs_in_with_its_new_key(
    registration_api: RegistrationApi,
) -> None:
    api, slug, number = registration_api, new_slug(), new_number()
    async with console_client(root(api), api.config.operator_token) as operator:
        listing = await operator.get("/console/tenants")
        assert listing.status_code == 200 and 'href="/console/national/dashboard"' in listing.text

        wrong = await submit(
            operator,
            "/console/tenants",
            "/console/tenants",
            {"name": "", "slug": "Not A Slug", "municipality_number": "12", "contact_email": "nope"},
        )
        assert wrong.status_code == 400
        assert field_errors(wrong.text) == {"name", "slug", "municipality_number", "contact_email"}
        assert 'value="Not A Slug"' in wrong.text, "the input is kept"
        assert await api.sql("SELECT 1 FROM tenants WHERE slug = 'Not A Slug'") == []

        fields = {
            "name": "Testby kommune",
            "slug": slug,
            "municipality_number": number,
            "contact_email": "postmottak@testby.kommune.no",
            "contact_phone": "37 01 30 00",
        }
        created = await submit(operator, "/console/tenants", "/console/tenants", fields)
        assert created.status_code == 303 and created.headers["location"] == f"/console/tenants/{slug}?done=created"
        row = await tenant_row(api, slug)
        assert (row["contact_email"], row["contact_phone"]) == ("postmottak@testby.kommune.no", "+4737013000")
        page = await operator.get(created.headers["location"])
        assert page.status_code == 200 and "Testby kommune" in page.text and 'id="done"' in page.text

        # Taken: the short name is told beside its field; a free number is not.
        taken = await submit(
            operator, "/console/tenants", "/console/tenants", {**fields, "municipality_number": new_number()}
        )
        assert taken.status_code == 409 and field_errors(taken.text) == {"slug"}
        again = await submit(operator, "/console/tenants", "/console/tenants", {**fields, "slug": new_slug()})
        assert again.status_code == 409 and field_errors(again.text) == {"municipality_number"}

        listed = await operator.get("/console/tenants")
        assert f'id="tenant-{slug}"' in listed.text
        for unknown in (
            f"/console/tenants/{new_slug()}",
            f"/console/tenants/{slug}/keys/not-a-key/revoke",
            f"/console/tenants/{slug}/keys/{uuid.uuid4()}/revoke",
            f"/console/tenants/{slug}/delete",
        ):
            assert (await operator.get(unknown)).status_code == 404, unknown

        # A new key: shown once, on the page the post answers, with a one-time sign-in link.
        issued = await submit(operator, f"/console/tenants/{slug}", f"/console/tenants/{slug}/keys", {})
        assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
        key = text_of(issued.text, "new-key-value")
        link = re.search(r'id="new-key-link"><a href="([^"]+)"', issued.text)
        assert link is not None and key
        link_url = html.unescape(link.group(1))
        assert link_url.startswith(root(api) + "/console/sign-in/link/")
        assert key not in link_url
        reloaded = await operator.get(f"/console/tenants/{slug}")
        assert key not in reloaded.text and 'id="new-key"' not in reloaded.text
        [token] = await api.sql(
            "SELECT token_id, issued_at, revoked_at FROM known_tokens WHERE tenant_id = $1", row["id"]
        )
        assert token["issued_at"] is not None and token["revoked_at"] is None
        assert f'id="key-{token["token_id"]}"' in reloaded.text

    # The new coordinator signs in with the key, and (another browser) once with the link.
    async with console_client(root(api), key) as coordinator:
        meetings = await coordinator.get("/console/meetings")
        assert meetings.status_code == 200 and "Testby kommune" in meetings.text
        async with httpx.AsyncClient(timeout=30) as browser:
            opened = await browser.get(link_url)
            assert opened.status_code == 303 and opened.headers["location"] == "/console"
            assert "fmf_session" in browser.cookies
            assert (await browser.get(root(api) + "/console/meetings")).status_code == 200
            async with httpx.AsyncClient(timeout=30) as stranger:
                second = await stranger.get(link_url)
                assert second.status_code == 401 and "fmf_session" not in stranger.cookies

            # Revoked (asked first): both sessions end at once.
            async with console_client(root(api), api.config.operator_token) as operator:
                ask_url = f"/console/tenants/{slug}/keys/{token['token_id']}/revoke"
                ask = await operator.get(ask_url)
                assert ask.status_code == 200 and f'action="{ask_url}"' in ask.text
                assert [
                    r["revoked_at"]
                    for r in await api.sql("SELECT revoked_at FROM known_tokens WHERE tenant_id = $1", row["id"])
                ] == [None]
                revoked = await submit(operator, ask_url, ask_url, {})
                assert revoked.status_code == 303 and revoked.headers["location"].endswith("?done=revoked")
                after = await operator.get(f"/console/tenants/{slug}")
                assert "key-revoked" in after.text and f'href="{ask_url}"' not in after.text
            assert (await coordinator.get("/console/meetings")).status_code == 303
            assert (await browser.get(root(api) + "/console/meetings")).status_code == 303


async def test_suspend_and_reactivate_ask_first_and_end_the_coordinators_sessions(
    registration_api: RegistrationApi,
) -> None:
    api = registration_api
    tenant, token = await coordinator_of(api)
    async with (
        console_client(root(api), api.config.operator_token) as operator,
        console_client(root(api), token) as coordinator,
    ):
        page = await operator.get(f"/console/tenants/{tenant.slug}")
        assert 'id="suspend-link"' in page.text and 'id="reactivate-link"' not in page.text
        ask = await operator.get(f"/console/tenants/{tenant.slug}/suspend")
        assert ask.status_code == 200 and (await tenant_row(api, tenant.slug))["status"] == "active"
        done = await submit(
            operator, f"/console/tenants/{tenant.slug}/suspend", f"/console/tenants/{tenant.slug}/suspend", {}
        )
        assert done.status_code == 303 and done.headers["location"].endswith("?done=suspended")
        assert (await tenant_row(api, tenant.slug))["status"] == "suspended"
        assert (await coordinator.get("/console/meetings")).status_code == 303, "the session ended"
        listing = await operator.get("/console/tenants")
        row = re.search(rf'id="tenant-{tenant.slug}">(.*?)</tr>', listing.text, re.S)
        assert row is not None and "tenant-suspended" in row.group(1)

        page = await operator.get(f"/console/tenants/{tenant.slug}")
        assert 'id="reactivate-link"' in page.text and 'id="suspend-link"' not in page.text
        back = await submit(
            operator, f"/console/tenants/{tenant.slug}/reactivate", f"/console/tenants/{tenant.slug}/reactivate", {}
        )
        assert back.status_code == 303 and back.headers["location"].endswith("?done=reactivated")
        assert (await tenant_row(api, tenant.slug))["status"] == "active"
    async with console_client(root(api), token) as again:
        assert (await again.get("/console/meetings")).status_code == 200, "the key works again"


async def test_the_list_shows_meetings_and_last_activity(registration_api: RegistrationApi) -> None:
    api = registration_api
    tenant, _ = await coordinator_of(api)
    async with console_client(root(api), api.config.operator_token) as operator:
        listing = await operator.get("/console/tenants")
        row = re.search(rf'id="tenant-{tenant.slug}">(.*?)</tr>', listing.text, re.S)
        assert row is not None and "<td>0</td>" in row.group(1)
        async with httpx.AsyncClient(timeout=30) as http:
            meeting_id = await api.meeting(http, tenant)
            assert (await api.sign_up(http, tenant, meeting_id, "resident", 1)).status_code == 201
        await api.sql(
            "UPDATE meetings SET created_at = '2030-01-02 09:00+00', updated_at = '2030-01-02 09:00+00'"
            " WHERE tenant_id = $1",
            uuid.UUID(tenant.id),
        )
        await api.sql(
            "UPDATE registrations SET signed_up_at = '2030-03-04 09:00+00' WHERE tenant_id = $1", uuid.UUID(tenant.id)
        )
        listing = await operator.get("/console/tenants", headers={"Accept-Language": "en"})
        row = re.search(rf'id="tenant-{tenant.slug}">(.*?)</tr>', listing.text, re.S)
        assert row is not None and "<td>1</td>" in row.group(1)
        assert "4 March 2030, 10:00" in row.group(1), "the latest of meeting and registration, on the tenant's clock"


async def test_a_coordinator_is_told_not_found_on_every_operator_page(registration_api: RegistrationApi) -> None:
    api = registration_api
    tenant, token = await coordinator_of(api)
    [key] = await api.sql("SELECT token_id FROM known_tokens WHERE tenant_id = $1", uuid.UUID(tenant.id))
    pages = [
        "/console/tenants",
        f"/console/tenants/{tenant.slug}",
        f"/console/tenants/{tenant.slug}/suspend",
        f"/console/tenants/{tenant.slug}/reactivate",
        f"/console/tenants/{tenant.slug}/keys/{key['token_id']}/revoke",
    ]
    posts = [*pages[2:], "/console/tenants", f"/console/tenants/{tenant.slug}/keys"]
    async with console_client(root(api), token) as coordinator:
        for url in pages:
            assert (await coordinator.get(url)).status_code == 404, url
        token_field = csrf_of((await coordinator.get("/console/meetings")).text)
        for url in posts:
            body = f"csrf_token={token_field}&slug={new_slug()}&name=X&municipality_number={new_number()}"
            answer = await coordinator.post(url, content=body, headers={"Content-Type": FORM})
            assert answer.status_code == 404, url
        assert (await coordinator.get("/console/meetings")).status_code == 200, "still signed in, nothing changed"
    assert (await tenant_row(api, tenant.slug))["status"] == "active"
    keys = await api.sql("SELECT revoked_at FROM known_tokens WHERE tenant_id = $1", uuid.UUID(tenant.id))
    assert [k["revoked_at"] for k in keys] == [None]


async def test_without_the_csrf_token_nothing_changes(registration_api: RegistrationApi) -> None:
    api = registration_api
    tenant, _ = await coordinator_of(api)
    [key] = await api.sql("SELECT token_id FROM known_tokens WHERE tenant_id = $1", uuid.UUID(tenant.id))
    slug = new_slug()
    async with console_client(root(api), api.config.operator_token) as operator:
        posts = [
            ("/console/tenants", f"slug={slug}&name=X&municipality_number={new_number()}"),
            (f"/console/tenants/{tenant.slug}/keys", ""),
            (f"/console/tenants/{tenant.slug}/suspend", ""),
            (f"/console/tenants/{tenant.slug}/keys/{key['token_id']}/revoke", ""),
        ]
        for url, body in posts:
            for token in ("", "&csrf_token=forged"):
                answer = await operator.post(url, content=body + token, headers={"Content-Type": FORM})
                assert answer.status_code == 403, url
                assert "new-key-value" not in answer.text
    assert await api.sql("SELECT 1 FROM tenants WHERE slug = $1", slug) == []
    assert (await tenant_row(api, tenant.slug))["status"] == "active"
    keys = await api.sql("SELECT revoked_at FROM known_tokens WHERE tenant_id = $1", uuid.UUID(tenant.id))
    assert [k["revoked_at"] for k in keys] == [None], "no key revoked and none issued"


async def test_the_api_gives_a_one_time_sign_in_link_for_the_callers_own_token(
    registration_api: RegistrationApi,
) -> None:
    api = registration_api
    tenant, _ = await coordinator_of(api)
    async with httpx.AsyncClient(timeout=30) as http:
        made = await http.post(
            f"{api.base}/console/sign-in-links", headers=tenant.headers, json={"valid_for_s": 12 * 3600}
        )
        assert made.status_code == 201, made.text
        assert made.json()["url"].startswith(root(api) + "/console/sign-in/link/")
        default = await http.post(f"{api.base}/console/sign-in-links", headers=api.operator)
        assert default.status_code == 201
        too_long = await http.post(
            f"{api.base}/console/sign-in-links", headers=tenant.headers, json={"valid_for_s": 8 * 86_400}
        )
        assert too_long.status_code == 422
        assert (await http.post(f"{api.base}/console/sign-in-links")).status_code == 401
    async with httpx.AsyncClient(timeout=30) as browser:
        opened = await browser.get(made.json()["url"])
        assert opened.status_code == 303
        meetings = await browser.get(root(api) + "/console/meetings")
        assert meetings.status_code == 200 and f"Kommune {tenant.slug}" in meetings.text
    async with httpx.AsyncClient(timeout=30) as browser:
        assert (await browser.get(default.json()["url"])).status_code == 303
        assert (await browser.get(root(api) + "/console")).headers["location"] == "/console/tenants"
