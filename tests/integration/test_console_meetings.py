"""The coordinator's meeting pages against a real registration service and PostgreSQL: create (an evening
start refused beside the time field, nothing written), edit, the lifecycle from the meeting's page, sign-up
on a newcomer's behalf, cancellation that gives the place to the next person waiting, a new invitation code;
another tenant's coordinator sees none of it, and a post without its CSRF token changes nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.console_support import console_client
from tests.pages_support import csrf_of, submit
from tests.registration_support import RegistrationApi, Tenant

pytestmark = pytest.mark.asyncio(loop_scope="session")

OSLO = ZoneInfo("Europe/Oslo")
FORM = "application/x-www-form-urlencoded"


def root(api: RegistrationApi) -> str:
    return api.base.removesuffix("/v1")


def token_of(tenant: Tenant) -> str:
    return tenant.headers["Authorization"].removeprefix("Bearer ")


def meeting_form(**changes: str) -> dict[str, str]:
    day = (datetime.now(OSLO) + timedelta(days=12)).date().isoformat()
    form = {
        "format": "standard",
        "title": "Kaffe og prat",
        "date": day,
        "time": "10:00",
        "venue_name": "Arendal bibliotek",
        "venue_address": "Torvet 6, 4836 Arendal",
        "venue_kind": "library",
        "capacity_newcomer": "10",
        "capacity_resident": "10",
        "closes_date": "",
        "closes_time": "",
    }
    return form | changes


def error_beside(html: str, field: str) -> str:
    """The text of the error shown beside ``field`` ('' when there is none)."""
    found = re.search(rf'<p class="error" id="err-{field}">(.*?)</p>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


@pytest.fixture
async def api_http(registration_api: RegistrationApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def create(browser: httpx.AsyncClient, **changes: str) -> str:
    made = await submit(browser, "/console/meetings/new", "/console/meetings/new", meeting_form(**changes))
    assert made.status_code == 303, made.text
    found = re.fullmatch(r"/console/meetings/([0-9a-f-]{36})\?done=created", made.headers["location"])
    assert found, made.headers["location"]
    return found.group(1)


async def status_of(api: RegistrationApi, meeting_id: str) -> str:
    rows = await api.sql("SELECT status FROM meetings WHERE id = $1", uuid.UUID(meeting_id))
    return str(rows[0]["status"])


async def test_an_evening_start_is_refused_beside_the_time_field(
    registration_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await registration_api.tenant(api_http)
    async with console_client(root(registration_api), token_of(tenant)) as browser:
        page = await browser.get("/console/meetings/new")
        assert page.status_code == 200 and 'id="format-youth"' in page.text and 'type="time"' in page.text
        refused = await submit(browser, "/console/meetings/new", "/console/meetings/new", meeting_form(time="22:00"))
        assert refused.status_code in (400, 422)
        beside = error_beside(refused.text, "time")
        assert re.search(r"08[.:]00", beside) and re.search(r"17[.:]00", beside), "the error names the day window"
        assert re.search(r"22[.:]00", beside), "and the times the meeting would run"
        assert error_beside(refused.text, "date") == ""
        assert (
            'id="summary"' in refused.text
            and 'value="22:00"' in refused.text
            and 'value="Kaffe og prat"' in refused.text
        )
        assert 'id="time" name="time" type="time" step="300" value="22:00" aria-invalid="true"' in refused.text
        empty = await submit(
            browser, "/console/meetings/new", "/console/meetings/new", meeting_form(title="", date="x")
        )
        assert empty.status_code == 400 and error_beside(empty.text, "title") and error_beside(empty.text, "date")
        past = await submit(browser, "/console/meetings/new", "/console/meetings/new", meeting_form(date="2020-01-07"))
        assert past.status_code == 400 and error_beside(past.text, "date") and not error_beside(past.text, "time")
        closes = await submit(
            browser,
            "/console/meetings/new",
            "/console/meetings/new",
            meeting_form(closes_date=meeting_form()["date"], closes_time="11:00"),
        )
        assert closes.status_code == 400 and error_beside(closes.text, "closes_time")
    rows = await registration_api.sql("SELECT 1 FROM meetings WHERE tenant_id = $1", uuid.UUID(tenant.id))
    assert rows == [], "a refused form writes nothing"


async def test_create_edit_publish_sign_up_cancel_and_new_code(
    registration_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await registration_api.tenant(api_http)
    async with console_client(root(registration_api), token_of(tenant)) as browser:
        browser.headers["Accept-Language"] = "en"  # the page's words are read in English below
        meeting_id = await create(browser, format="youth", title="Ungdomsprat", time="12:30")
        rows = await registration_api.sql(
            "SELECT status, format, title, starts_at, duration_minutes FROM meetings WHERE id = $1",
            uuid.UUID(meeting_id),
        )
        assert rows[0]["status"] == "draft" and rows[0]["format"] == "youth" and rows[0]["duration_minutes"] == 105
        assert rows[0]["starts_at"].astimezone(OSLO).strftime("%H:%M") == "12:30", "the time is the tenant's local time"
        hub = await browser.get(f"/console/meetings/{meeting_id}")
        assert hub.status_code == 200 and "Ungdomsprat" in hub.text and 'id="action-publish"' in hub.text
        for part in ("registrations", "invitation", "pairs", "table", "cards", "script", "check-in", "report"):
            assert f'href="/console/meetings/{meeting_id}/{part}"' in hub.text
        assert 'id="action-complete"' not in hub.text, "only the actions the draft state allows"

        edit = f"/console/meetings/{meeting_id}/edit"
        page = await browser.get(edit)
        assert page.status_code == 200 and 'value="12:30"' in page.text and 'value="Ungdomsprat"' in page.text
        saved = await submit(
            browser, edit, edit, meeting_form(title="Ungdomsprat i parken", time="13:00", capacity_newcomer="1")
        )
        assert saved.status_code == 303 and saved.headers["location"] == f"/console/meetings/{meeting_id}?done=saved"
        rows = await registration_api.sql(
            "SELECT title, capacity_newcomer FROM meetings WHERE id = $1", uuid.UUID(meeting_id)
        )
        assert rows[0]["title"] == "Ungdomsprat i parken" and rows[0]["capacity_newcomer"] == 1
        evening = await submit(browser, edit, edit, meeting_form(time="16:00"))
        assert evening.status_code == 400 and re.search(r"17[.:]00", error_beside(evening.text, "time"))

        hub_url = f"/console/meetings/{meeting_id}"
        too_early = await submit(browser, hub_url, f"{hub_url}/lifecycle/complete", {})
        assert too_early.status_code == 409 and 'id="refusal"' in too_early.text
        assert await status_of(registration_api, meeting_id) == "draft"
        published = await submit(browser, hub_url, f"{hub_url}/lifecycle/publish", {})
        assert published.status_code == 303 and await status_of(registration_api, meeting_id) == "published"

        people = f"/console/meetings/{meeting_id}/registrations"
        person = {"first_name": "Amina", "last_name": "Hassan", "email": "amina@example.no", "norwegian_level": "B1"}
        missing = await submit(browser, people, people, {**person, "first_name": "", "norwegian_level": ""})
        assert missing.status_code == 400
        assert error_beside(missing.text, "first_name") and error_beside(missing.text, "norwegian_level")
        assert error_beside(missing.text, "consent") and 'value="Hassan"' in missing.text
        first = await submit(browser, people, people, {**person, "consent": "yes"})
        assert first.status_code == 303 and "done=confirmed" in first.headers["location"]
        again = await submit(browser, people, people, {**person, "consent": "yes"})
        assert again.status_code == 400 and error_beside(again.text, "email")
        second = [
            *{**person, "first_name": "Omar", "email": "omar@example.no", "consent": "yes"}.items(),
            ("interests", "cooking"),
            ("interests", "football"),
            ("languages", "ar"),
            ("occupation_field", "health_care"),
            ("age_band", "25-34"),
        ]
        waiting = await submit(browser, people, people, second)
        assert waiting.status_code == 303 and "done=waitlisted" in waiting.headers["location"]
        listed = await browser.get(people)
        assert listed.status_code == 200 and "Amina Hassan" in listed.text and "Omar Hassan" in listed.text
        newcomers = listed.text.split('id="column-newcomer"')[1].split('id="column-resident"')[0]
        assert newcomers.index("Amina Hassan") < newcomers.index("No. 1") < newcomers.index("Omar Hassan")

        regs = await registration_api.sql(
            "SELECT r.id, p.name, r.status FROM registrations r JOIN participants p ON p.id = r.participant_id"
            " WHERE r.meeting_id = $1",
            uuid.UUID(meeting_id),
        )
        by_name = {r["name"]: r for r in regs}
        (omar,) = await registration_api.sql("SELECT profile FROM participants WHERE name = 'Omar Hassan'")
        profile = omar["profile"]
        assert sorted(profile["interests"]) == ["cooking", "football"] and profile["languages"] == ["ar"]
        assert profile["occupation_field"] == "health_care" and profile["age_band"] == "25-34"
        assert by_name["Amina Hassan"]["status"] == "confirmed" and by_name["Omar Hassan"]["status"] == "waitlisted"
        cancel = f"/console/registrations/{by_name['Amina Hassan']['id']}/cancel"
        ask = await browser.get(cancel)
        assert ask.status_code == 200 and 'id="confirm-cancel"' in ask.text
        cancelled = await submit(browser, cancel, cancel, {})
        assert cancelled.status_code == 303
        regs = await registration_api.sql(
            "SELECT r.status FROM registrations r WHERE r.id = ANY($1::uuid[]) ORDER BY r.signed_up_at",
            [by_name["Amina Hassan"]["id"], by_name["Omar Hassan"]["id"]],
        )
        assert [r["status"] for r in regs] == ["cancelled", "confirmed"], "the next person waiting has the place"
        assert (await browser.get(cancel)).status_code == 409, "a cancelled place cannot be cancelled again"

        invitation = f"/console/meetings/{meeting_id}/invitation"
        code = (
            await registration_api.sql("SELECT invitation_code FROM meetings WHERE id = $1", uuid.UUID(meeting_id))
        )[0][0]
        shown = await browser.get(invitation)
        assert shown.status_code == 200 and code in shown.text and "<svg" in shown.text
        assert f"/t/{tenant.slug}/meetings/{meeting_id}?code={code}" in shown.text
        assert f'href="/t/{tenant.slug}/meetings/{meeting_id}/invitation?code={code}"' in shown.text
        renewed = await submit(browser, f"{invitation}/new-code", f"{invitation}/new-code", {})
        assert renewed.status_code == 303
        new = (await registration_api.sql("SELECT invitation_code FROM meetings WHERE id = $1", uuid.UUID(meeting_id)))[
            0
        ][0]
        assert new != code and new in (await browser.get(invitation)).text

        cancel_meeting = f"{hub_url}/lifecycle/cancel"
        assert 'id="confirm-cancel"' in (await browser.get(cancel_meeting)).text
        assert await status_of(registration_api, meeting_id) == "published", "asking changes nothing"
        gone = await submit(browser, cancel_meeting, cancel_meeting, {})
        assert gone.status_code == 303 and await status_of(registration_api, meeting_id) == "cancelled"
        assert (await browser.get(edit)).status_code == 409


async def test_a_refused_capacity_stays_beside_its_field(
    registration_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await registration_api.tenant(api_http)
    meeting_id = await registration_api.meeting(api_http, tenant)
    for i in range(2):
        assert (await registration_api.sign_up(api_http, tenant, meeting_id, "resident", i)).status_code == 201
    async with console_client(root(registration_api), token_of(tenant)) as browser:
        edit = f"/console/meetings/{meeting_id}/edit"
        refused = await submit(browser, edit, edit, meeting_form(capacity_resident="1"))
        assert refused.status_code == 400 and "2" in error_beside(refused.text, "capacity_resident")
    rows = await registration_api.sql("SELECT capacity_resident FROM meetings WHERE id = $1", uuid.UUID(meeting_id))
    assert rows[0]["capacity_resident"] == 10


async def test_another_tenants_coordinator_sees_nothing(
    registration_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    owner, stranger = await registration_api.tenant(api_http), await registration_api.tenant(api_http)
    meeting_id = await registration_api.meeting(api_http, owner)
    signed = await registration_api.sign_up(api_http, owner, meeting_id, "newcomer", 1)
    registration_id = signed.json()["registration_id"]
    before = await registration_api.sql(
        "SELECT m.status, m.title, m.invitation_code, r.status AS place FROM meetings m"
        " JOIN registrations r ON r.meeting_id = m.id WHERE m.id = $1",
        uuid.UUID(meeting_id),
    )
    pages = [
        f"/console/meetings/{meeting_id}",
        f"/console/meetings/{meeting_id}/edit",
        f"/console/meetings/{meeting_id}/lifecycle/cancel",
        f"/console/meetings/{meeting_id}/registrations",
        f"/console/meetings/{meeting_id}/invitation",
        f"/console/meetings/{meeting_id}/invitation/new-code",
        f"/console/registrations/{registration_id}/cancel",
    ]
    posts = [
        (f"/console/meetings/{meeting_id}/edit", meeting_form(title="Overtatt")),
        *[(f"/console/meetings/{meeting_id}/lifecycle/{a}", {}) for a in ("publish", "close", "complete", "cancel")],
        (
            f"/console/meetings/{meeting_id}/registrations",
            {"first_name": "X", "last_name": "Y", "email": "x@example.no", "norwegian_level": "B1", "consent": "yes"},
        ),
        (f"/console/meetings/{meeting_id}/invitation/new-code", {}),
        (f"/console/registrations/{registration_id}/cancel", {}),
    ]
    async with console_client(root(registration_api), token_of(stranger)) as browser:
        for url in pages:
            answer = await browser.get(url)
            assert answer.status_code == 404, url
            assert "Kaffe og prat" not in answer.text
        for url, data in posts:
            answer = await submit(browser, "/console/meetings", url, data)
            assert answer.status_code == 404, url
    after = await registration_api.sql(
        "SELECT m.status, m.title, m.invitation_code, r.status AS place FROM meetings m"
        " JOIN registrations r ON r.meeting_id = m.id WHERE m.id = $1",
        uuid.UUID(meeting_id),
    )
    assert [dict(r) for r in after] == [dict(r) for r in before]


async def test_a_post_without_its_csrf_token_changes_nothing(
    registration_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await registration_api.tenant(api_http)
    meeting_id = await registration_api.meeting(api_http, tenant, publish=False)
    async with console_client(root(registration_api), token_of(tenant)) as browser:
        forged = [
            ("/console/meetings/new", meeting_form(title="Forfalsket")),
            (f"/console/meetings/{meeting_id}/edit", meeting_form(title="Forfalsket")),
            (f"/console/meetings/{meeting_id}/lifecycle/publish", {}),
            (f"/console/meetings/{meeting_id}/invitation/new-code", {}),
        ]
        before = await registration_api.sql(
            "SELECT status, title, invitation_code FROM meetings WHERE id = $1", uuid.UUID(meeting_id)
        )
        for url, data in forged:
            for token in ([], [("csrf_token", "not-a-token")]):
                body = urlencode([*data.items(), *token])
                answer = await browser.post(url, content=body, headers={"Content-Type": FORM})
                assert answer.status_code == 403, url
        after = await registration_api.sql(
            "SELECT status, title, invitation_code FROM meetings WHERE id = $1", uuid.UUID(meeting_id)
        )
        assert [dict(r) for r in after] == [dict(r) for r in before]
        count = await registration_api.sql("SELECT count(*) FROM meetings WHERE tenant_id = $1", uuid.UUID(tenant.id))
        assert count[0][0] == 1


async def test_every_page_renders_in_the_three_languages(
    registration_api: RegistrationApi, api_http: httpx.AsyncClient
) -> None:
    tenant = await registration_api.tenant(api_http)
    meeting_id = await registration_api.meeting(api_http, tenant)
    signed = await registration_api.sign_up(api_http, tenant, meeting_id, "newcomer", 1)
    registration_id = signed.json()["registration_id"]
    pages = [
        "/console/meetings/new",
        f"/console/meetings/{meeting_id}",
        f"/console/meetings/{meeting_id}/edit",
        f"/console/meetings/{meeting_id}/lifecycle/cancel",
        f"/console/meetings/{meeting_id}/registrations",
        f"/console/meetings/{meeting_id}/invitation",
        f"/console/meetings/{meeting_id}/invitation/new-code",
        f"/console/registrations/{registration_id}/cancel",
    ]
    async with console_client(root(registration_api), token_of(tenant)) as browser:
        for lang in ("nn", "en", "nb"):
            switched = await browser.get(f"/console/meetings/{meeting_id}?lang={lang}")
            assert switched.status_code == 303
            for url in pages:
                page = await browser.get(url)
                assert page.status_code == 200, (lang, url, page.text)
                assert f'<html lang="{lang}"' in page.text and page.text.count("<h1") == 1, (lang, url)
                assert csrf_of(page.text)
