"""Check-in on the day and the meeting's report, through the console's pages against a real registration
service and PostgreSQL: here / not here per person from the meeting's start, the counts, the meeting completed
after its end, the report's attendance; another tenant's check-in page is "not found"; a tap without the form's
token records nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import platform_config
from tests.console_support import console_client
from tests.pages_support import csrf_of
from tests.registration_support import RegistrationApi, Tenant, registration_service
from tests.support import RecordingSmtpHandler

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def api(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistrationApi]:
    config = platform_config(postgres_dsn, kafka_bootstrap, smtp[0], Path(tmp_path_factory.mktemp("checkin")))
    with registration_service(config) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def root(api: RegistrationApi) -> str:
    return api.base.removesuffix("/v1")


def token_of(tenant: Tenant) -> str:
    return tenant.headers["Authorization"].removeprefix("Bearer ")


async def closed_meeting(api: RegistrationApi, http: httpx.AsyncClient, tenant: Tenant) -> tuple[str, dict[str, str]]:
    """A meeting with two newcomers and two residents, sign-up closed; (meeting id, {name: registration id})."""
    meeting = await api.meeting(http, tenant, title="Kaffe og prat")
    people = {}
    for group in ("newcomer", "resident"):
        for i in (1, 2):
            r = await api.sign_up(http, tenant, meeting, group, i, domain=f"{tenant.slug}.example.no")
            assert r.status_code == 201, r.text
            people[f"{group.title()} {i}"] = r.json()["registration_id"]
    assert (await http.post(f"{api.base}/meetings/{meeting}/close", headers=tenant.headers)).status_code == 200
    return meeting, people


async def tap(browser: httpx.AsyncClient, meeting: str, registration: str, status: str) -> httpx.Response:
    page = await browser.get(f"/console/meetings/{meeting}/check-in")
    return await browser.post(
        f"/console/meetings/{meeting}/check-in/{registration}",
        data={"csrf_token": csrf_of(page.text), "status": status},
    )


async def statuses(api: RegistrationApi, meeting: str) -> dict[str, str]:
    rows = await api.sql(
        "SELECT p.name, r.status FROM registrations r JOIN participants p ON p.id = r.participant_id"
        " WHERE r.meeting_id = $1",
        uuid.UUID(meeting),
    )
    return {r["name"]: r["status"] for r in rows}


def person(html: str, registration: str) -> str:
    """The page's row of one person (from its anchor to the next row)."""
    start = html.index(f'id="p-{registration}"')
    end = html.find('<li class="person', start)
    return html[start : end if end > 0 else len(html)]


async def test_check_in_from_the_start_then_complete_and_see_the_report(
    api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    tenant = await api.tenant(http)
    meeting, people = await closed_meeting(api, http, tenant)
    async with console_client(root(api), token_of(tenant)) as browser:
        browser.headers["Accept-Language"] = "en"
        before = await browser.get(f"/console/meetings/{meeting}/check-in")
        assert before.status_code == 200
        notice = re.search(r'id="not-yet">(.*?)</p>', before.text, re.S)
        assert notice and "Check-in opens when the meeting starts" in notice.group(1) and " at " in notice.group(1)
        assert 'name="status"' not in before.text, "no tap targets before the start"
        early = await tap(browser, meeting, people["Newcomer 1"], "attended")
        assert early.status_code == 409 and 'id="problem"' in early.text
        assert (await statuses(api, meeting))["Newcomer 1"] == "confirmed"

        await api.sql(
            "UPDATE meetings SET starts_at = now() - interval '10 minutes', registration_closes_at = NULL"
            " WHERE id = $1",
            uuid.UUID(meeting),
        )
        page = await browser.get(f"/console/meetings/{meeting}/check-in")
        assert page.status_code == 200 and 'id="not-yet"' not in page.text
        # Alphabetical without a plan: Newcomer 1, Newcomer 2, Resident 1, Resident 2.
        order = re.findall(r'id="p-([0-9a-f-]{36})"', page.text)
        assert order == [people[n] for n in ("Newcomer 1", "Newcomer 2", "Resident 1", "Resident 2")]
        assert page.text.count('aria-pressed="false"') == 8

        for name, status in (("Newcomer 1", "attended"), ("Resident 1", "attended"), ("Resident 2", "no_show")):
            done = await tap(browser, meeting, people[name], status)
            assert done.status_code == 303
            assert done.headers["location"] == f"/console/meetings/{meeting}/check-in#p-{people[name]}"
        assert await statuses(api, meeting) == {
            "Newcomer 1": "attended",
            "Newcomer 2": "confirmed",
            "Resident 1": "attended",
            "Resident 2": "no_show",
        }
        page = await browser.get(f"/console/meetings/{meeting}/check-in")
        tally = re.search(r'id="tally"[^>]*>(.*?)</p>', page.text, re.S)
        assert tally and "2 of 4 here" in tally.group(1), tally
        here = person(page.text, people["Newcomer 1"])
        assert re.search(r'class="tap here" aria-pressed="true"', here) and "Here" in here
        assert re.search(r'class="tap not-here" aria-pressed="true"', person(page.text, people["Resident 2"]))
        # A correction: Resident 2 came after all.
        assert (await tap(browser, meeting, people["Resident 2"], "attended")).status_code == 303
        # A status that is not one is a 400 page, nothing recorded.
        odd = await tap(browser, meeting, people["Newcomer 2"], "cancelled")
        assert odd.status_code == 400 and (await statuses(api, meeting))["Newcomer 2"] == "confirmed"

        # Before the end the meeting cannot be completed: the page says from when.
        page = await browser.get(f"/console/meetings/{meeting}/check-in")
        refused = await browser.post(
            f"/console/meetings/{meeting}/check-in/complete", data={"csrf_token": csrf_of(page.text)}
        )
        assert refused.status_code == 409 and 'id="problem"' in refused.text and "when it has ended" in refused.text
        state = await api.sql("SELECT status FROM meetings WHERE id = $1", uuid.UUID(meeting))
        assert state[0]["status"] == "registration_closed"

        await api.sql("UPDATE meetings SET starts_at = now() - interval '3 hours' WHERE id = $1", uuid.UUID(meeting))
        page = await browser.get(f"/console/meetings/{meeting}/check-in")
        completed = await browser.post(
            f"/console/meetings/{meeting}/check-in/complete", data={"csrf_token": csrf_of(page.text)}
        )
        assert completed.status_code == 303 and completed.headers["location"] == f"/console/meetings/{meeting}/report"
        state = await api.sql("SELECT status FROM meetings WHERE id = $1", uuid.UUID(meeting))
        assert state[0]["status"] == "completed"

        report = await browser.get(completed.headers["location"])
        assert report.status_code == 200 and "Kaffe og prat" in report.text
        cells = dict(re.findall(r'id="row-(\w+)".*?class="attended">(\d+)<', report.text, re.S))
        assert cells == {"newcomer": "1", "resident": "2", "total": "3"}
        no_show = dict(re.findall(r'id="row-(\w+)".*?class="no_show">(\d+)<', report.text, re.S))
        assert no_show == {"newcomer": "0", "resident": "0", "total": "0"}
        assert "Newcomers" in report.text and "Residents" in report.text
        nb = await browser.get(completed.headers["location"], headers={"Accept-Language": "nb"})
        assert nb.status_code == 200 and '<html lang="nb"' in nb.text

        tenant_report = await browser.get("/console/report")
        assert tenant_report.status_code == 200
        row = re.search(rf'id="meeting-{meeting}">(.*?)</tr>', tenant_report.text, re.S)
        assert row and "Kaffe og prat" in row.group(1) and 'class="attended">3<' in row.group(1)
        assert 'href="/console/report/dashboard"' in tenant_report.text


async def test_no_csrf_records_nothing_and_another_tenants_check_in_is_not_found(
    api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    a, b = await api.tenant(http), await api.tenant(http)
    meeting, people = await closed_meeting(api, http, a)
    await api.sql("UPDATE meetings SET starts_at = now() - interval '10 minutes' WHERE id = $1", uuid.UUID(meeting))
    async with console_client(root(api), token_of(a)) as browser:
        page = await browser.get(f"/console/meetings/{meeting}/check-in")
        assert page.status_code == 200
        for token in ("", "forged"):
            refused = await browser.post(
                f"/console/meetings/{meeting}/check-in/{people['Newcomer 1']}",
                data={"csrf_token": token, "status": "attended"},
            )
            assert refused.status_code == 403
        refused = await browser.post(f"/console/meetings/{meeting}/check-in/complete", data={"status": "x"})
        assert refused.status_code == 403
        assert set((await statuses(api, meeting)).values()) == {"confirmed"}
    async with console_client(root(api), token_of(b)) as intruder:
        for path in (f"/console/meetings/{meeting}/check-in", f"/console/meetings/{meeting}/report"):
            seen = await intruder.get(path)
            assert seen.status_code == 404 and "Kommune" not in seen.text.split("<main", 1)[1], path
        page = await intruder.get("/console/meetings")
        tapped = await intruder.post(
            f"/console/meetings/{meeting}/check-in/{people['Newcomer 1']}",
            data={"csrf_token": csrf_of(page.text), "status": "attended"},
        )
        assert tapped.status_code == 404
        own, _ = await closed_meeting(api, http, b)
        # A registration of tenant A under tenant B's own meeting: not found either.
        tapped = await intruder.post(
            f"/console/meetings/{own}/check-in/{people['Newcomer 1']}",
            data={"csrf_token": csrf_of(page.text), "status": "attended"},
        )
        assert tapped.status_code == 404
    assert set((await statuses(api, meeting)).values()) == {"confirmed"}
