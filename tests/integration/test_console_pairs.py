"""The pairs through the console's pages against the whole platform (matching proposes the pairs when sign-up
closes): the reasons in the page's language, a swap through the page's form that shows the new version with
the two pairs changed and the score's move, a lock, publishing; the long table, the name cards and the host's
script with the names; words for a refused swap; another tenant's coordinator is told "not found"; a post
without the form's token changes nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from deploy.local.platform import PlatformConfig
from tests.console_support import console_client
from tests.pages_support import csrf_of
from tests.registration_support import RegistrationApi, Tenant
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEWCOMERS = ("Amina Yusuf", "Omar Haddad", "Leyla Karimi", "Tesfay Gebre")
RESIDENTS = ("Kari Nordmann", "Ola Hansen", "Ingrid Berg", "Per Dahl")
# Newcomer i and resident i share two interests; nobody else shares any: the best plan pairs them, and any
# swap lowers the total score.
INTERESTS = (["cooking", "football"], ["hiking", "music"], ["reading", "art"], ["gardening", "photography"])


def root(platform: PlatformConfig) -> str:
    return platform.url("registration")


def token_of(tenant: Tenant) -> str:
    return tenant.headers["Authorization"].removeprefix("Bearer ")


async def closed_meeting(api: RegistrationApi, http: httpx.AsyncClient, tenant: Tenant) -> tuple[str, dict[str, str]]:
    """A meeting with four newcomers and four residents signed up through the API, sign-up closed;
    (meeting id, {name: registration id})."""
    meeting = await api.meeting(http, tenant, title="Kaffe og prat", capacity={"newcomer": 4, "resident": 4})
    people = {}
    for group, names in (("newcomer", NEWCOMERS), ("resident", RESIDENTS)):
        for i, name in enumerate(names):
            r = await api.sign_up(
                http,
                tenant,
                meeting,
                group,
                i,
                domain=f"{tenant.slug}.example.no",
                name=name,
                interests=INTERESTS[i],
                occupation_field="other",
            )
            assert r.status_code == 201, r.text
            people[name] = r.json()["registration_id"]
    assert (await http.post(f"{api.base}/meetings/{meeting}/close", headers=tenant.headers)).status_code == 200
    return meeting, people


async def plan(api: RegistrationApi, http: httpx.AsyncClient, tenant: Tenant, meeting: str) -> dict[str, Any]:
    r = await http.get(f"{api.base}/meetings/{meeting}/seating", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def pair_row(html: str, number: int) -> str:
    """The pairs table's row of pair ``number``."""
    start = html.index(f'<tr id="pair-{number}"')
    return html[start : html.index("</tr>", start)]


def number_of(p: dict[str, Any], registration: str) -> int:
    return next(p_["number"] for p_ in p["pairs"] if registration in {m["registration_id"] for m in p_["members"]})


async def test_pairs_reasons_swap_lock_publish_and_print(platform: PlatformConfig) -> None:
    api = RegistrationApi(platform)
    async with httpx.AsyncClient(timeout=30) as http:
        tenant = await api.tenant(http)
        other = await api.tenant(http)
        early = await api.meeting(http, tenant, title="Ikke stengt")
        meeting, people = await closed_meeting(api, http, tenant)
        async with console_client(root(platform), token_of(tenant)) as browser:
            not_yet = await browser.get(f"/console/meetings/{early}/pairs")
            assert not_yet.status_code == 200 and 'id="not-yet"' in not_yet.text
            assert f'href="/console/meetings/{early}"' in not_yet.text

            async def proposed() -> httpx.Response | None:
                page = await browser.get(f"/console/meetings/{meeting}/pairs")
                return page if 'id="pairs"' in page.text else None

            # Bokmål, the default: the vocabulary's Norwegian words, no English label.
            page = await eventually(proposed)
            v1 = await plan(api, http, tenant, meeting)
            assert v1["version"] == 1 and len(v1["pairs"]) == 4
            assert all(p["why"] for p in v1["pairs"]), "matching gives the reasons as codes"
            for i, name in enumerate(NEWCOMERS):  # the best plan: newcomer i with resident i
                assert number_of(v1, people[name]) == number_of(v1, people[RESIDENTS[i]])
            amina = pair_row(page.text, number_of(v1, people["Amina Yusuf"]))
            assert "Amina Yusuf" in amina and "Kari Nordmann" in amina
            assert "matlaging, fotball" in amina and "Cooking" not in page.text and "shared interests" not in page.text

            assert (await browser.get("/console/meetings?lang=en")).status_code == 303
            page = await browser.get(f"/console/meetings/{meeting}/pairs")
            amina = pair_row(page.text, number_of(v1, people["Amina Yusuf"]))
            assert "Shared interests: cooking, football" in amina
            before = f"{v1['total_score']:.1f}"
            assert f"Total score of the plan: {before}." in page.text
            assert "Changed" not in page.text

            # A newcomer and a resident cannot change places: said in words, nothing sent.
            mixed = await browser.post(
                f"/console/meetings/{meeting}/pairs/swap",
                data={"csrf_token": csrf_of(page.text), "first": people["Amina Yusuf"], "second": people["Ola Hansen"]},
            )
            assert mixed.status_code == 422 and 'id="problem"' in mixed.text
            assert "Choose two newcomers or two residents" in mixed.text
            # Without the form's token: refused, nothing sent.
            forged = await browser.post(
                f"/console/meetings/{meeting}/pairs/swap",
                data={"first": people["Kari Nordmann"], "second": people["Ola Hansen"]},
            )
            assert forged.status_code == 403
            assert (await plan(api, http, tenant, meeting))["version"] == 1

            # Swap Kari and Ola through the page's form: the page shows version 2, the two pairs changed.
            swapped = await browser.post(
                f"/console/meetings/{meeting}/pairs/swap",
                data={
                    "csrf_token": csrf_of(page.text),
                    "first": people["Kari Nordmann"],
                    "second": people["Ola Hansen"],
                },
            )
            assert swapped.status_code == 303, swapped.text
            assert swapped.headers["location"].startswith(f"/console/meetings/{meeting}/pairs?done=swap&from=1")
            page = await browser.get(swapped.headers["location"])
            v2 = await plan(api, http, tenant, meeting)
            assert v2["version"] == 2, "the page waited for the new version"
            outcome = re.search(r'<div class="done" role="status" id="outcome">(.*?)</div>', page.text, re.S)
            assert outcome, page.text
            assert "changed places" in outcome.group(1)
            assert f"The score went from {before} to {v2['total_score']:.1f}." in outcome.group(1)
            assert "Version 2" in page.text
            amina_pair = number_of(v2, people["Amina Yusuf"])
            omar_pair = number_of(v2, people["Omar Haddad"])
            assert amina_pair == number_of(v2, people["Ola Hansen"])
            for number in (amina_pair, omar_pair):
                row = pair_row(page.text, number)
                assert 'class="changed locked"' in row and "Changed" in row and "Locked" in row
            leyla = pair_row(page.text, number_of(v2, people["Leyla Karimi"]))
            assert "Changed" not in leyla and "Locked" not in leyla

            # Lock Leyla's pair.
            form = re.search(
                r'<input type="hidden" name="registration_id" value="([0-9a-f-]{36})">\s*'
                r'<input type="hidden" name="locked" value="1">\s*'
                rf'<button type="submit" class="quiet" id="lock-{number_of(v2, people["Leyla Karimi"])}"',
                page.text,
            )
            assert form, page.text
            locked = await browser.post(
                f"/console/meetings/{meeting}/pairs/lock",
                data={"csrf_token": csrf_of(page.text), "registration_id": form.group(1), "locked": "1"},
            )
            assert locked.status_code == 303
            page = await browser.get(locked.headers["location"])
            v3 = await plan(api, http, tenant, meeting)
            assert v3["version"] == 3 and "The pair is locked" in page.text
            assert "Locked" in pair_row(page.text, number_of(v3, people["Leyla Karimi"]))

            # Publishing an older version is refused in words; the current one is published.
            stale = await browser.post(
                f"/console/meetings/{meeting}/pairs/publish", data={"csrf_token": csrf_of(page.text), "version": "2"}
            )
            assert stale.status_code == 409 and "The plan has changed since you opened the page" in stale.text
            for nonsense in ("0", "-1", "x", "9" * 30):
                odd = await browser.post(
                    f"/console/meetings/{meeting}/pairs/publish",
                    data={"csrf_token": csrf_of(page.text), "version": nonsense},
                )
                assert odd.status_code == 409 and "The plan has changed since you opened the page" in odd.text
            published = await browser.post(
                f"/console/meetings/{meeting}/pairs/publish", data={"csrf_token": csrf_of(page.text), "version": "3"}
            )
            assert published.status_code == 303
            page = await browser.get(published.headers["location"])
            assert "The pairs are published" in page.text and 'id="published"' in page.text
            assert (await plan(api, http, tenant, meeting))["status"] == "published"

            # An answer not come yet (the page is based on the current version): on its way, with a reload link.
            waiting = await browser.get(f"/console/meetings/{meeting}/pairs?done=swap&from=3&score=12.000")
            assert "Your change is on its way" in waiting.text and 'id="reload"' in waiting.text

            table = await browser.get(f"/console/meetings/{meeting}/table")
            assert (
                table.status_code == 200 and "<svg" in table.text and 'class="host-end">The host\'s end<' in table.text
            )
            assert all(name.split()[0] in table.text for name in NEWCOMERS + RESIDENTS)
            assert "left side" in table.text.lower() and "right side" in table.text.lower()
            cards = await browser.get(f"/console/meetings/{meeting}/cards")
            assert cards.status_code == 200 and cards.text.count('<li class="name-card">') == 8
            assert all(f'<p class="card-name">{name.split()[0]}</p>' in cards.text for name in NEWCOMERS + RESIDENTS)
            script = await browser.get(f"/console/meetings/{meeting}/script")
            assert script.status_code == 200
            callouts = re.search(r'<ol class="callouts" id="callouts">(.*?)</ol>', script.text, re.S)
            assert callouts and f"Pair {number_of(v3, people['Amina Yusuf'])}: Amina and Ola" in callouts.group(1)
            assert re.search(r'<strong class="clock">\d\d:\d\d–\d\d:\d\d</strong>', script.text)

        # The API's printable page is the same long table.
        printable = await http.get(f"{api.base}/meetings/{meeting}/seating?format=html", headers=tenant.headers)
        assert printable.status_code == 200 and "<svg" in printable.text and "Amina Yusuf" in printable.text

        # Another tenant's coordinator: not found everywhere, and their posts change nothing.
        async with console_client(root(platform), token_of(other)) as stranger:
            for page_name in ("pairs", "table", "cards", "script"):
                r = await stranger.get(f"/console/meetings/{meeting}/{page_name}")
                assert r.status_code == 404, page_name
            own = await stranger.get("/console/meetings")
            r = await stranger.post(
                f"/console/meetings/{meeting}/pairs/lock",
                data={"csrf_token": csrf_of(own.text), "registration_id": people["Per Dahl"], "locked": "0"},
            )
            assert r.status_code == 404
        assert (await plan(api, http, tenant, meeting))["version"] == 3
