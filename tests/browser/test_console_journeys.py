"""The console as coordinators and the operator use it, in headless chromium with JavaScript off: signing in and
out, a stranger's addresses and forged posts, the operator's municipalities and keys, and a whole meeting from
the new-meeting form to the report.

Every page and state passes axe-core (WCAG 2.1 AA) and is photographed at phone and at desktop size into
var/screenshots/console/ (see conftest.py)."""

from __future__ import annotations

import asyncio
import io
import re
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page
from pypdf import PdfReader

from deploy.local.platform import PlatformConfig
from tests.browser.conftest import CONSOLE_SCREENSHOTS, SIZES, Site, Visitor, summary_lines, unique_address
from tests.pages_support import submit
from tests.registration_support import Tenant
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")
ConsoleFactory = Callable[..., Awaitable[Visitor]]
# A meeting's pages under /console/meetings/{id}: none may show another municipality's meeting.
MEETING_PAGES = ["", "/edit", "/registrations", "/invitation", "/pairs", "/table", "/cards", "/script", "/check-in"]
MEETING_PAGES += ["/report"]
OSLO = ZoneInfo("Europe/Oslo")
TITLE = "Kaffe og prat i Fjordby"
NEWCOMERS = ["Amina Hassan", "Yonas Tesfaye", "Olena Kovalenko"]
RESIDENTS = [
    "Kari Nordmann",
    "Ola Hansen",
    "Ingrid Berg",
    "Per Johansen",
    "Solveig Lie",
    "Knut Dahl",
    "Astrid Moen",
    "Lars Bakken",
    "Sigrid Haugen",
    "Terje Strand",
    "Randi Lund",
    "Geir Eide",
    "Marit Solberg",
    "Odd Vik",
    "Liv Aasen",
    "Bjørn Holm",
    "Hilde Ruud",
    "Arne Sæther",
    "Tove Lien",
    "Egil Myhre",
]
INTERESTS = ["cooking", "football", "hiking", "music", "reading", "gardening", "crafts", "history"]


@pytest.fixture
async def console(browser: Browser, platform: PlatformConfig) -> AsyncIterator[ConsoleFactory]:
    """Makes console visitors (``await console("desktop")``): a browser of that size asking for Norwegian
    bokmål, photographed into the console's folder at that size and at the other one."""
    made: list[Visitor] = []

    async def make(size: str = "desktop", locale: str = "nb-NO") -> Visitor:
        others = tuple(s for s in SIZES if s != size)
        visitor = Visitor(
            browser, size, platform.url("registration"), locale, folder=CONSOLE_SCREENSHOTS, also=others, reflow=True
        )
        await visitor.start()
        made.append(visitor)
        return visitor

    yield make
    for visitor in made:
        await visitor.close()


def key_of(tenant: Tenant) -> str:
    """The coordinator's access key (the bearer token the operator issued)."""
    return tenant.headers["Authorization"].removeprefix("Bearer ")


async def sign_in(visitor: Visitor, key: str, at: str = "/console") -> None:
    """Open ``at``, which sends a browser without a session to the sign-in form; sign in there with ``key``
    and come back to ``at``."""
    await visitor.goto(at)
    assert "/console/sign-in" in visitor.page.url, visitor.page.url
    await visitor.page.fill("#f-token", key)
    await visitor.submit("form.sign-in button[type=submit]")
    assert "/console/sign-in" not in visitor.page.url, visitor.page.url


async def is_sign_in_page(visitor: Visitor) -> bool:
    """The page shown is the sign-in form, with no one signed in (no sign-out button)."""
    page = visitor.page
    return (
        "/console/sign-in" in page.url
        and await page.locator("form.sign-in #f-token").count() == 1
        and await page.locator("form.sign-out").count() == 0
    )


async def is_not_found_page(visitor: Visitor) -> bool:
    """The console's "not found" page (not an error in JSON): one heading, the way back to the console."""
    page = visitor.page
    return await page.locator("main h1").count() == 1 and await page.locator('main a[href="/console"]').count() == 1


async def errors_beside_fields(visitor: Visitor) -> list[str]:
    """The names of the fields marked invalid, each pointing (aria-describedby) at its error text, with the
    summary at the top."""
    page = visitor.page
    assert await page.locator("#summary").count() == 1
    names = []
    for control in await page.locator("[aria-invalid=true]").all():
        name = str(await control.get_attribute("name"))
        described = (await control.get_attribute("aria-describedby") or "").split()
        errors = [d for d in described if await page.locator(f"#{d}.error").count()]
        assert errors and await visitor.text(f"#{errors[0]}"), (name, described)
        names.append(name)
    assert names and await visitor.text("#summary")
    return names


async def their_state(site: Site, meeting_id: str) -> list[tuple[Any, ...]]:
    """What a stranger's post could change of a meeting: its status, title and code, and its registrations'
    statuses."""
    rows = await site.api.sql(
        "SELECT m.status, m.title, m.invitation_code, r.id, r.status AS registration FROM meetings m"
        " LEFT JOIN registrations r ON r.meeting_id = m.id WHERE m.id = $1::uuid ORDER BY r.id",
        meeting_id,
    )
    return [tuple(row.values()) for row in rows]


async def tenant_status(site: Site, slug: str) -> str:
    (row,) = await site.api.sql("SELECT status FROM tenants WHERE slug = $1", slug)
    return str(row["status"])


async def meeting_status(site: Site, meeting_id: str) -> str:
    (row,) = await site.api.sql("SELECT status FROM meetings WHERE id = $1::uuid", meeting_id)
    return str(row["status"])


async def test_sign_in_sign_out_and_back(site: Site, console: ConsoleFactory) -> None:
    tenant = await site.tenant()
    meeting = await site.meeting(tenant)
    me = await console("desktop")
    page = me.page

    # The console's address without a session: the sign-in form, coming back to the page asked for.
    await me.goto("/console/meetings")
    assert await is_sign_in_page(me)
    assert await page.input_value("input[name=next]") == "/console/meetings"
    await me.check("01-sign-in")

    # A wrong key: 401, the error beside the field (described by it), nothing signed in.
    await page.fill("#f-token", "not-a-key")
    await me.submit("form.sign-in button[type=submit]", status=401)
    assert await page.get_attribute("#f-token", "aria-invalid") == "true"
    assert "err-token" in (await page.get_attribute("#f-token", "aria-describedby") or "")
    assert await me.text("#err-token")
    assert await page.input_value("#f-token") == "", "a typed key is never sent back in the page"
    await me.check("02-sign-in-wrong-key")

    await page.fill("#f-token", key_of(tenant))
    await me.submit("form.sign-in button[type=submit]")
    assert page.url.endswith("/console/meetings"), page.url
    assert "Testby kommune" in await me.text("header")
    assert await page.locator(f'#meeting-{meeting["id"]} h3 a[href="/console/meetings/{meeting["id"]}"]').count() == 1
    await me.check("03-meetings")
    session = next(c for c in await me.context.cookies() if c["name"] == "fmf_session")
    # The language switch: the same page in nynorsk, then back in bokmål.
    await me.follow("#lang-nn")
    assert await me.lang() == "nn" and page.url.endswith("/console/meetings"), page.url
    await me.check("03b-meetings-nn")
    await me.follow("#lang-nb")
    assert await me.lang() == "nb"
    assert session["httpOnly"] and session["sameSite"] == "Lax", session

    # A sign-out whose form token was tampered with does nothing: still signed in.
    await page.locator("form.sign-out input[name=csrf_token]").evaluate("field => { field.value = 'forged' }")
    await me.submit("form.sign-out button[type=submit]", status=403)
    await me.check("04-form-refused")
    await me.goto("/console/meetings")
    assert await page.locator("form.sign-out").count() == 1

    # Signing out ends the session at once: the sign-in page says so.
    await me.submit("form.sign-out button[type=submit]")
    assert await is_sign_in_page(me)
    assert await page.locator("#signed-out").count() == 1
    await me.check("05-signed-out")
    # The browser's back button: the meetings page is not shown again (it is not kept, and the server asks
    # for a new sign-in).
    await page.go_back()
    assert await is_sign_in_page(me), page.url
    assert meeting["title"] not in await me.text("body")
    # The console's address typed again: the sign-in page.
    await me.goto("/console/meetings")
    assert await is_sign_in_page(me)
    # Even the old cookie, put back, opens nothing: the session ended on the server.
    await me.context.add_cookies([session])  # type: ignore[list-item]
    await me.goto(f"/console/meetings/{meeting['id']}")
    assert await is_sign_in_page(me)
    assert not await site.api.sql("SELECT 1 FROM console_sessions WHERE tenant_id = $1::uuid", tenant.id)


async def test_a_coordinator_sees_nothing_of_another_municipality(site: Site, console: ConsoleFactory) -> None:
    mine_tenant, their_tenant = await site.tenant(), await site.tenant()
    mine, theirs = await site.meeting(mine_tenant), await site.meeting(their_tenant)
    me = await console("desktop")
    page = me.page
    await sign_in(me, key_of(mine_tenant))

    # Every page of the other municipality's meeting, typed into the address bar: "not found", the same
    # page as for a meeting that does not exist; the same pages of one's own meeting open.
    for sub in MEETING_PAGES:
        own = await page.goto(f"/console/meetings/{mine['id']}{sub}")
        assert own is not None and own.status != 404, f"{sub}: {own and own.status}"
        await me.goto(f"/console/meetings/{theirs['id']}{sub}", status=404)
        assert await is_not_found_page(me), sub
        assert theirs["title"] not in await me.text("main")
    await me.check("06-not-found")
    await me.goto("/console/meetings/00000000-0000-0000-0000-000000000000", status=404)
    await me.goto("/console/tenants", status=404)  # the operator's pages too
    assert await is_not_found_page(me)
    # Addresses in the console that lead nowhere (a mistyped page, an id that is no meeting): the same page.
    for nowhere in (f"/console/meetings/{mine['id']}/no-such-page", "/console/meetings/not-a-meeting", "/console/x"):
        await me.goto(nowhere, status=404)
        assert await is_not_found_page(me), nowhere

    # Posts to the other meeting's forms, each with this console's valid form token: not found, nothing
    # changed (its status, title, invitation code, registrations, seats and attendance).
    signed = await site.api.sign_up(site.http, their_tenant, theirs["id"], "resident", 1, f"{uuid.uuid4().hex[:8]}.no")
    assert signed.status_code == 201, signed.text
    theirs_registration = signed.json()["registration_id"]
    before = await their_state(site, theirs["id"])
    await me.goto("/console/meetings")
    token = await page.locator("form.sign-out input[name=csrf_token]").input_value()
    meeting = f"/console/meetings/{theirs['id']}"
    forged = {
        f"{meeting}/lifecycle/cancel": {},
        f"{meeting}/lifecycle/close": {},
        f"{meeting}/edit": {"title": "Overtatt", "date": "2030-01-07", "time": "10:00", "venue_name": "X"},
        f"{meeting}/registrations": {"first_name": "Ny", "last_name": "Person", "email": unique_address("ny")},
        f"{meeting}/invitation/new-code": {},
        f"{meeting}/pairs/publish": {"version": "1"},
        f"{meeting}/check-in/{theirs_registration}": {"status": "no_show"},
        f"/console/registrations/{theirs_registration}/cancel": {},
    }
    for action, fields in forged.items():
        posted = await me.context.request.post(action, form={**fields, "csrf_token": token}, max_redirects=0)
        # The console's own page (so the route is there and refused it), not a 404 for an unknown address.
        assert posted.status == 404 and posted.headers["content-type"].startswith("text/html"), action
        assert 'href="/console"' in await posted.text(), action
    assert await their_state(site, theirs["id"]) == before


async def test_a_forged_lifecycle_post_changes_nothing(site: Site, console: ConsoleFactory) -> None:
    tenant = await site.tenant()
    draft = await site.api.meeting(site.http, tenant, publish=False)
    me = await console("desktop")
    page = me.page
    await sign_in(me, key_of(tenant), at=f"/console/meetings/{draft}")
    assert await me.text("#status")

    # The publish button's form with its token replaced in the page: refused (403), the meeting still a draft.
    await (
        page.locator("#action-publish")
        .locator("xpath=..")
        .locator("input[name=csrf_token]")
        .evaluate("field => { field.value = 'forged' }")
    )
    await me.submit("#action-publish", status=403)
    assert await meeting_status(site, draft) == "draft"
    # The same post from the browser's request API, with the session cookie but without any token.
    posted = await me.context.request.post(f"/console/meetings/{draft}/lifecycle/publish", form={}, max_redirects=0)
    assert posted.status == 403, posted.status
    assert await meeting_status(site, draft) == "draft"
    # With the page's own token it works: the refusals above were for the token alone.
    await me.goto(f"/console/meetings/{draft}")
    await me.submit("#action-publish")
    assert await meeting_status(site, draft) == "published"


async def test_the_operator_adds_a_municipality_and_a_key(
    site: Site, console: ConsoleFactory, platform: PlatformConfig
) -> None:
    operator = await console("desktop")
    page = operator.page
    await sign_in(operator, platform.operator_token)
    assert page.url.endswith("/console/tenants"), page.url
    await operator.check("40-tenants")

    # The form sent half filled: each error beside its field, the summary at the top; nothing added.
    slug = f"fjordby-{uuid.uuid4().hex[:6]}"
    await page.fill("#name", "Fjordby kommune")
    await page.fill("#slug", "Fjordby Kommune!")
    await operator.submit("form.tenant-form button[type=submit]", status=400)
    assert {"slug", "municipality_number"} <= set(await errors_beside_fields(operator))
    assert await page.input_value("#name") == "Fjordby kommune"
    await operator.check("41-tenants-form-errors")

    await page.fill("#slug", slug)
    await page.fill("#municipality_number", f"{uuid.uuid4().int % 10_000:04d}")
    await page.fill("#contact_email", "postmottak@fjordby.kommune.no")
    await operator.submit("form.tenant-form button[type=submit]")
    assert page.url.split("?")[0].endswith(f"/console/tenants/{slug}"), page.url
    assert "08.00" in await operator.text("main"), "a Norwegian page writes the clock as 08.00"
    await operator.check("42-tenant-added")

    # A key for the new coordinator: shown once on the page that answers the post, with a sign-in link.
    await operator.submit("#new-key-button")
    key = await operator.text("#new-key-value")
    link = await page.get_attribute("#new-key-link a", "href")
    assert link and "/console/sign-in/link/" in link, link
    assert len(key) >= 20, key
    await operator.check("43-tenant-new-key")
    await operator.goto(f"/console/tenants/{slug}")
    assert key not in await operator.text("body"), "the key is shown once only"
    await operator.goto("/console/tenants")
    assert await page.locator(f"#tenant-{slug}").count() == 1

    # The new coordinator, in a browser of their own, signs in with the key: their municipality's meetings.
    coordinator = await console("desktop")
    await sign_in(coordinator, key)
    assert coordinator.page.url.endswith("/console/meetings"), coordinator.page.url
    assert "Fjordby kommune" in await coordinator.text("header")
    # The one-time sign-in link works once, in another browser; opened again it shows the sign-in form.
    by_link = await console("desktop")
    await by_link.goto(link)
    assert by_link.page.url.endswith("/console/meetings"), by_link.page.url
    assert "Fjordby kommune" in await by_link.text("header")
    again = await console("desktop")
    await again.goto(link, status=401)
    assert await is_sign_in_page(again)

    # Suspending the municipality (asked first) signs its coordinator out; made active again, the key works.
    await operator.goto(f"/console/tenants/{slug}")
    await operator.follow("#suspend-link")
    await operator.check("44-tenant-suspend-ask")
    await operator.submit("main form button[type=submit]")
    assert await tenant_status(site, slug) == "suspended"
    await coordinator.goto("/console/meetings")
    assert await is_sign_in_page(coordinator)
    await operator.follow("#reactivate-link")
    await operator.submit("main form button[type=submit]")
    assert await tenant_status(site, slug) == "active"
    await sign_in(coordinator, key)
    # Revoking the key (asked first) ends the coordinator's session at once.
    await operator.follow("#key-list a[href$='/revoke']")
    await operator.check("45-tenant-revoke-key-ask")
    await operator.submit("main form button[type=submit]")
    await coordinator.goto("/console/meetings")
    assert await is_sign_in_page(coordinator)
    await coordinator.page.fill("#f-token", key)
    await coordinator.submit("form.sign-in button[type=submit]", status=401)


async def resident_signs_up(site: Site, slug: str, meeting_id: str, i: int) -> None:
    """Resident ``i`` signs up on the municipality's page and opens the confirmation link, as a browser posts
    the forms (the page fetched first for its token); their place is decided then."""
    email = unique_address(f"resident{i}")
    fields = [
        ("name", RESIDENTS[i]),
        ("email", email),
        ("language", "nb"),
        ("interests", INTERESTS[i % len(INTERESTS)]),
        ("interests", INTERESTS[(i * 3 + 1) % len(INTERESTS)]),
        ("occupation_field", "health_care" if i % 2 else "education"),
        ("age_band", ["25-34", "35-44", "55-64"][i % 3]),
        ("consent", "yes"),
    ]
    async with httpx.AsyncClient(base_url=site.platform.url("registration"), timeout=30) as http:
        page = f"/t/{slug}/meetings/{meeting_id}"
        sent = await submit(http, page, page, fields)
        assert sent.status_code == 303, sent.text[:2000]
        signup_id, token = await site.api.confirmation_link(email)
        confirm = f"/confirm/{signup_id}"
        pressed = await submit(http, f"{confirm}?token={token}", confirm, {"token": token})
        assert pressed.status_code == 303, pressed.text[:2000]


async def coordinator_signs_up_newcomers(me: Visitor) -> None:
    """The coordinator signs up the three newcomers on the registrations page, one form each; the first
    time without the consent box ticked (the error beside it, the input kept)."""
    page = me.page
    for n, name in enumerate(NEWCOMERS):
        first, last = name.split()
        await page.fill("#first_name", first)
        await page.fill("#last_name", last)
        await page.fill("#email", unique_address(first.lower()))
        await page.select_option("#language", "en")
        await page.check("#level-B1")
        if n == 0:
            await me.submit("#sign-up", status=400)
            assert await errors_beside_fields(me) == ["consent"]
            assert await page.input_value("#first_name") == first
            await me.check("16-registrations-form-errors")
        await page.check("#consent-box")
        await me.submit("#sign-up")
        assert await page.locator("#done").count() == 1
        assert name in await me.text("#column-newcomer")


async def test_a_whole_meeting(site: Site, console: ConsoleFactory) -> None:
    began = time.monotonic()
    tenant = await site.tenant()
    me = await console("desktop")
    page = me.page
    await sign_in(me, key_of(tenant), at="/console/meetings/new")
    assert page.url.endswith("/console/meetings/new"), page.url
    facts = await me.text("#format-standard-facts")
    assert "×1,5" in facts and "×1.5" not in facts, facts  # a Norwegian page writes a decimal comma
    await me.check("10-new-meeting")

    # A meeting at 22:00: refused, the daytime rule's words beside the start time, everything typed kept.
    day = (datetime.now(OSLO) + timedelta(days=7)).date()
    await page.check("#format-standard")
    await page.fill("#title", TITLE)
    await page.fill("#date", day.isoformat())
    await page.fill("#time", "22:00")
    await page.fill("#venue_name", "Fjordby bibliotek")
    await page.fill("#venue_address", "Storgata 1, 9999 Fjordby")
    await page.select_option("#venue_kind", "library")
    await me.submit("#save", status=400)
    assert await errors_beside_fields(me) == ["time"]
    assert "22" in await me.text("#err-time"), await me.text("#err-time")
    assert await page.input_value("#title") == TITLE
    assert await page.input_value("#date") == day.isoformat()
    assert not await site.api.sql("SELECT 1 FROM meetings WHERE title = $1", TITLE)
    await me.check("11-new-meeting-errors")

    await page.fill("#time", "10:00")
    await me.submit("#save")
    found = re.search(r"/console/meetings/([0-9a-f-]{36})", page.url)
    assert found, page.url
    meeting_id = found.group(1)
    assert await meeting_status(site, meeting_id) == "draft"
    await me.check("12-meeting-draft")
    await me.follow("#edit")
    assert await page.input_value("#title") == TITLE and await page.input_value("#time") == "10:00"
    await me.check("12b-edit-meeting")
    await me.goto(f"/console/meetings/{meeting_id}")
    await me.submit("#action-publish")
    assert await meeting_status(site, meeting_id) == "published"
    await me.check("13-meeting-published")

    await me.follow("#link-invitation")
    (row,) = await site.api.sql("SELECT invitation_code FROM meetings WHERE id = $1::uuid", meeting_id)
    assert await me.text("#invitation-code") == row["invitation_code"]
    assert await page.locator("main svg").count() == 1
    await me.check("14-invitation")

    # Three newcomers signed up by the coordinator while twenty residents sign up on the public pages.
    await me.goto(f"/console/meetings/{meeting_id}/registrations")
    await me.check("15-registrations-empty")
    await asyncio.gather(
        coordinator_signs_up_newcomers(me),
        *(resident_signs_up(site, tenant.slug, meeting_id, i) for i in range(len(RESIDENTS))),
    )
    await me.goto(f"/console/meetings/{meeting_id}/registrations")
    residents = page.locator("#column-resident")
    assert await residents.locator("ol.people:not(.waiting) li").count() == 10
    waiting = [" ".join(t.split()) for t in await residents.locator("ol.waiting li .position").all_inner_texts()]
    assert len(waiting) == 10 and all(str(n) in w for n, w in enumerate(waiting, 1)), waiting
    assert await page.locator("#column-newcomer ol.people li").count() == 3
    await me.check("17-registrations-full")

    # Sign-up closes: the pairs are proposed.
    await me.goto(f"/console/meetings/{meeting_id}")
    await me.submit("#action-close")
    assert await meeting_status(site, meeting_id) == "registration_closed"
    await me.check("18-meeting-closed")

    # The pairs page, once matching has proposed them.
    pairs_url = f"/console/meetings/{meeting_id}/pairs"

    async def proposal_shown() -> bool:
        await me.goto(pairs_url)
        return await page.locator("#pairs").count() == 1

    await eventually(proposal_shown, timeout_s=60, every_s=0.5)
    version = await plan_version(page)
    assert version and await page.locator("#publish").count() == 1
    before = await pairs_of(me)
    assert len(before) >= 3 and all(p["newcomer"] for p in before), before
    await me.check("19-pairs-proposed")

    # Swap pressed without choosing anyone: the page says what to do (400), nothing changed.
    await me.submit("#swap-button", status=400)
    assert await me.text("#problem") and await plan_version(page) == version
    await me.check("19b-pairs-swap-without-choice")

    # Swap the residents of the first two pairs (two selects, no script needed): the outcome says what
    # happened and how the score moved; the two pairs have each other's resident and are locked.
    first, second = before[0]["resident"][0], before[1]["resident"][0]
    await page.select_option("#swap-first", first)
    await page.select_option("#swap-second", second)
    await me.submit("#swap-button")
    await until_plan_after(me, pairs_url, version)
    after = await pairs_of(me)
    assert second in after[0]["resident"] and first in after[1]["resident"], (before, after)
    assert after[0]["locked"] and after[1]["locked"], after
    assert await me.text("#score-change")
    await me.check("20-pairs-after-swap")

    # Lock a third pair, then publish the version shown.
    version = await plan_version(page)
    await me.submit("#lock-3")
    await until_plan_after(me, pairs_url, version)
    assert (await pairs_of(me))[2]["locked"]

    # Where JavaScript runs, a name dropped onto another name of the same group swaps the two (the script
    # fills in the same swap form).
    version = await plan_version(page)
    newcomers = [p["newcomer"][0] for p in await pairs_of(me)]
    scripted = await me.browser.new_context(base_url=me.base, **SIZES["desktop"], locale="nb-NO")
    try:
        await scripted.add_cookies(await me.context.cookies())  # type: ignore[arg-type]
        dragging = await scripted.new_page()
        await dragging.goto(pairs_url)
        async with dragging.expect_navigation():
            await dragging.drag_and_drop(f"#seat-{newcomers[0]}", f"#seat-{newcomers[2]}")
    finally:
        await scripted.close()
    await until_plan_after(me, pairs_url, version)
    dropped = [p["newcomer"][0] for p in await pairs_of(me)]
    assert dropped == [newcomers[2], newcomers[1], newcomers[0]], (newcomers, dropped)
    version = await plan_version(page)
    await me.submit("#publish")
    await eventually(lambda: plan_published(me, pairs_url), timeout_s=30, every_s=0.5)
    await me.check("21-pairs-published")

    # A late cancellation (asked first): the first on the waiting list gets the place, and matching
    # re-matches keeping every pair still whole; the changed pairs are marked.
    version = await plan_version(page)
    leaving = (await pairs_of(me))[0]["resident"][-1]
    await me.goto(f"/console/meetings/{meeting_id}/registrations")
    await me.follow(f"#reg-{leaving} .cancel-link")
    await me.check("21b-cancel-a-place")
    await me.submit("#confirm-cancel")
    (row,) = await site.api.sql("SELECT status FROM registrations WHERE id = $1::uuid", leaving)
    assert row["status"] == "cancelled"
    residents_placed = await page.locator("#column-resident ol.people:not(.waiting) li").count()
    assert residents_placed == 10, residents_placed
    await until_plan_after(me, pairs_url, version)
    assert await page.locator("#pairs tbody tr.changed").count() >= 1
    assert leaving not in {r for p in await pairs_of(me) for r in p["resident"]}
    await me.check("21c-pairs-after-late-cancellation")
    if await page.locator("#publish").count():
        await me.submit("#publish")
        await eventually(lambda: plan_published(me, pairs_url), timeout_s=30, every_s=0.5)
    seated = await pairs_of(me)
    first_names = {name.split()[0] for p in seated for name in p["names"]}

    # The long table, printed on A4 landscape: the drawn table with every paired person's first name.
    await me.goto(f"/console/meetings/{meeting_id}/table")
    assert await page.locator("figure.table-plan svg").count() >= 1
    await me.check("22-table")
    # On paper: A4 landscape, on one sheet, the table drawn with every seated person's first name.
    pdf = await page.pdf(format="A4", landscape=True, print_background=True)
    reader = PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    assert float(box.width) > float(box.height), "the table is printed in landscape"
    assert len(reader.pages) == 1, f"{len(reader.pages)} sheets for {len(first_names)} people"
    # NFKC: the PDF's text has typographic ligatures (ﬀ for ff).
    printed = unicodedata.normalize("NFKC", " ".join(" ".join(p.extract_text().split()) for p in reader.pages))
    missing = [n for n in first_names if n not in printed]
    assert not missing, f"not on the printed table: {missing}\n{printed}"
    assert TITLE in printed, printed
    # The printed sheet kept beside the screenshots, and photographed as printed (print media, A4 landscape
    # at 96 dpi) for people to look at.
    CONSOLE_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (CONSOLE_SCREENSHOTS / "long-table.pdf").write_bytes(pdf)
    await page.emulate_media(media="print")
    await page.set_viewport_size({"width": 1123, "height": 794})
    await page.screenshot(path=str(CONSOLE_SCREENSHOTS / "long-table-printed.png"))
    await page.emulate_media(media="screen")
    await page.set_viewport_size(SIZES["desktop"]["viewport"])

    await me.goto(f"/console/meetings/{meeting_id}/cards")
    cards = [" ".join(t.split()) for t in await page.locator("#cards .card-name").all_inner_texts()]
    assert sorted(cards) == sorted(n.split()[0] for p in seated for n in p["names"]), cards
    await me.check("23-cards")
    await me.goto(f"/console/meetings/{meeting_id}/script")
    assert await page.locator("#callouts li").count() == len(seated)
    await me.check("24-script")

    # On the day, on the phone: before the start the check-in page says when it opens; once the meeting has
    # started, everyone with a place is checked in.
    phone = await console("phone")
    await sign_in(phone, key_of(tenant), at=f"/console/meetings/{meeting_id}/check-in")
    assert await phone.text("#not-yet") and await phone.page.locator("button.here").count() == 0
    await phone.check("25a-check-in-before-the-start")
    await site.api.sql(
        "UPDATE meetings SET starts_at = now() - interval '10 minutes', registration_closes_at = NULL"
        " WHERE id = $1::uuid",
        meeting_id,
    )
    await phone.goto(f"/console/meetings/{meeting_id}/check-in")
    people = [str(await li.get_attribute("id")) for li in await phone.page.locator("li.person").all()]
    assert len(people) == 13, people  # three newcomers and ten residents have a place
    await phone.check("25-check-in")
    for button in await phone.page.locator("li.person button").all():
        box = await button.bounding_box()
        assert box and box["height"] >= 44 and box["width"] >= 44, box  # one large tap target each
    for n, person in enumerate(people):
        await phone.submit(f"#{person} button.here")
        assert "Here" in await phone.text(f"#{person} .state") or "Her" in await phone.text(f"#{person} .state")
        if n == 0:
            await phone.check("26-check-in-first-here")
    assert await phone.page.locator("button.here[aria-pressed=true]").count() == 13
    await phone.check("27-check-in-everyone-here")

    # The meeting has ended: completed from the check-in page, and the report shows who came.
    await site.api.sql("UPDATE meetings SET starts_at = now() - interval '3 hours' WHERE id = $1::uuid", meeting_id)
    await phone.goto(f"/console/meetings/{meeting_id}/check-in")
    await phone.submit("form.complete button[type=submit]")
    assert phone.page.url.split("#")[0].endswith(f"/console/meetings/{meeting_id}/report"), phone.page.url
    assert await meeting_status(site, meeting_id) == "completed"
    assert await phone.text("#row-newcomer .attended") == "3"
    assert await phone.text("#row-resident .attended") == "10"
    assert await phone.text("#row-total .attended") == "13"
    assert await phone.text("#row-total .no_show") == "0"
    await phone.check("28-report")

    # The municipality's figures name the meeting by its title and date; its dashboard in reporting opens
    # from there with the same sign-in.
    await me.goto("/console/report")
    assert TITLE in await me.text("main")
    await me.check("29-report-municipality")
    await me.follow("#open-dashboard")
    assert page.url.startswith(site.platform.url("reporting")), page.url
    await me.check("30-dashboard")
    took = time.monotonic() - began
    summary_lines.append(
        f"a whole meeting in the console (create, publish, 3 + 20 sign-ups, close, swap by form and by drag and"
        f" drop, lock, publish the pairs, a late cancellation re-matched, print, check in 13, complete, report)"
        f" took {took:.1f} s in the browser test"
    )


async def plan_version(page: Page) -> int:
    """The version of the plan the pairs page shows (its publish form's, or the heading's number)."""
    heading = " ".join((await page.locator("#plan-h").inner_text()).split())
    found = re.search(r"\d+", heading)
    assert found, heading
    return int(found.group())


async def until_plan_after(me: Visitor, pairs_url: str, version: int) -> None:
    """Wait (reloading the pairs page) until it shows a plan newer than ``version``."""

    async def newer() -> bool:
        if await me.page.locator("#plan-h").count() and await plan_version(me.page) > version:
            return True
        await me.goto(pairs_url)
        return await me.page.locator("#plan-h").count() == 1 and await plan_version(me.page) > version

    await eventually(newer, timeout_s=30, every_s=0.3)


async def plan_published(me: Visitor, pairs_url: str) -> bool:
    if await me.page.locator("#published").count():
        return True
    await me.goto(pairs_url)
    return await me.page.locator("#published").count() == 1


async def pairs_of(me: Visitor) -> list[dict[str, Any]]:
    """The pairs table in seat order: per pair the newcomers' and residents' registration ids, the names,
    and whether it is locked."""
    rows = []
    for row in await me.page.locator("#pairs tbody tr").all():
        cells = row.locator("td")
        newcomers = [str(await li.get_attribute("data-registration")) for li in await cells.nth(0).locator("li").all()]
        residents = [str(await li.get_attribute("data-registration")) for li in await cells.nth(1).locator("li").all()]
        names = [" ".join(t.split()) for t in await row.locator("li.person .name").all_inner_texts()]
        locked = "locked" in (await row.get_attribute("class") or "").split()
        rows.append({"newcomer": newcomers, "resident": residents, "names": names, "locked": locked})
    return rows
