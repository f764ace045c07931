"""The participant pages against a real registration service and PostgreSQL, driven with httpx as a browser
without JavaScript would: every page in nb, nn and en, the sign-up form's errors beside their fields with
nothing written, CSRF refused, another tenant's meeting and a wrong code answer 404, the .ics on local time."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from tests.conftest import platform_config
from tests.factories import daytime_start
from tests.pages_support import csrf_of, submit
from tests.registration_support import RegistrationApi, Tenant, registration_service
from tests.support import RecordingSmtpHandler

pytestmark = pytest.mark.asyncio(loop_scope="session")
LANGUAGES = ("nb", "nn", "en")


def root(api: RegistrationApi) -> str:
    return api.base.removesuffix("/v1")


@pytest.fixture
async def http(registration_api: RegistrationApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=root(registration_api), timeout=30) as client:
        yield client


async def meeting_with_code(api: RegistrationApi, http: httpx.AsyncClient, **overrides: Any) -> tuple[Tenant, str, str]:
    tenant = await api.tenant(http)
    meeting_id = await api.meeting(http, tenant, **overrides)
    got = await http.get(f"{api.base}/meetings/{meeting_id}", headers=tenant.headers)
    return tenant, meeting_id, got.json()["invitation_code"]


def resident_form(email: str, **overrides: str) -> dict[str, str]:
    return {"name": "Kari Nordmann", "email": email, "language": "nb", "consent": "yes", **overrides}


async def signed_up(api: RegistrationApi, http: httpx.AsyncClient, tenant: Tenant, meeting_id: str) -> httpx.Response:
    """A resident signed up through the form and confirmed through the confirmation page: the result page."""
    email = f"{uuid.uuid4().hex[:8]}@example.no"
    page = f"/t/{tenant.slug}/meetings/{meeting_id}"
    sent = await submit(http, page, page, resident_form(email, interests="music"))
    assert sent.status_code == 303, sent.text
    signup_id, token = await api.confirmation_link(email)
    confirm_page = f"/confirm/{signup_id}?token={token}"
    pressed = await submit(http, confirm_page, f"/confirm/{signup_id}", {"token": token})
    # The result is a page of its own behind a redirect, so that a reload does not post again.
    assert pressed.status_code == 303 and "confirmed=1" in pressed.headers["location"], pressed.text
    result = await http.get(pressed.headers["location"])
    assert result.status_code == 200, result.text
    return result


def manage_url(result: httpx.Response) -> str:
    found = re.search(r'id="manage-link" href="([^"]+)"', result.text)
    assert found, result.text
    return found.group(1).replace("&amp;", "&")


async def test_every_page_answers_in_nb_nn_and_en(registration_api: RegistrationApi, http: httpx.AsyncClient) -> None:
    api = registration_api
    tenant, meeting_id, code = await meeting_with_code(api, http)
    result = await signed_up(api, http, tenant, meeting_id)
    manage = manage_url(result)
    rid = manage.split("/")[2].split("?")[0]
    token = manage.split("token=")[1]
    pages = [
        f"/t/{tenant.slug}",
        f"/t/{tenant.slug}/meetings/{meeting_id}",
        f"/t/{tenant.slug}/meetings/{meeting_id}?code={code}",
        f"/t/{tenant.slug}/meetings/{meeting_id}/check-inbox",
        f"/t/{tenant.slug}/meetings/{meeting_id}/invitation?code={code}",
        manage,
        f"/manage/{rid}/erase?token={token}",
    ]
    words = {"nb": "Meld deg på", "nn": "Møte i", "en": "Meetings in"}
    for language in LANGUAGES:
        switched = await http.get(f"{pages[0]}?lang={language}")
        assert switched.status_code == 303 and switched.headers["location"] == pages[0]
        assert "fmf_lang" in switched.headers["set-cookie"] and "SameSite=lax" in switched.headers["set-cookie"]
        for url in pages:
            page = await http.get(url)
            assert page.status_code == 200, (language, url, page.text)
            assert f'<html lang="{language}" dir="ltr">' in page.text
            assert page.text.count("<h1") == 1 and page.text.count("<main") == 1
            assert 'id="lang-nb"' in page.text and 'id="lang-en"' in page.text
            assert page.headers["cache-control"] == "no-store"
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        tenant_page = await http.get(pages[0])
        assert words[language] in tenant_page.text or language == "nb"
    http.cookies.delete("fmf_lang")
    english = await http.get(pages[0], headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Meetings in" in english.text and 'lang="en"' in english.text
    nynorsk = await http.get(pages[0], headers={"Accept-Language": "nn-NO"})
    assert "Møte i" in nynorsk.text
    unknown = await http.get(pages[0], headers={"Accept-Language": "de"})
    assert "Møter i" in unknown.text and 'lang="nb"' in unknown.text


async def test_the_tenant_page_lists_upcoming_published_meetings_with_free_places(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    api = registration_api
    tenant = await api.tenant(http)
    published = await api.meeting(http, tenant, capacity={"newcomer": 1, "resident": 3})
    draft = await api.meeting(http, tenant, publish=False)
    await api.sign_up(http, tenant, published, "newcomer", 1)
    page = await http.get(f"/t/{tenant.slug}", headers={"Accept-Language": "nb"})
    assert page.status_code == 200
    assert f"/t/{tenant.slug}/meetings/{published}" in page.text and draft not in page.text
    assert page.text.count('class="meeting"') == 1
    assert "3 plasser igjen" in page.text and "venteliste" in page.text
    starts = daytime_start()  # the factory's meeting: 10.00 on the tenant's clock
    assert f"kl. {starts:%H}.00" in page.text
    assert (await http.get("/t/no-such-tenant")).status_code == 404


async def test_form_errors_are_shown_beside_their_fields_with_the_input_kept_and_nothing_written(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    api = registration_api
    tenant, meeting_id, _ = await meeting_with_code(api, http)
    page = f"/t/{tenant.slug}/meetings/{meeting_id}"
    before = await api.sql("SELECT count(*) AS n FROM signups")
    refused = await submit(
        http, page, page, [("name", "Ola\u202eNordmann"), ("email", "not-an-address"), ("interests", "music")]
    )
    assert refused.status_code == 400
    html = refused.text
    assert 'id="summary"' in html
    for field in ("name", "email", "consent"):
        assert f'id="err-{field}"' in html
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="err-{field}', html), field
    assert 'value="not-an-address"' in html and 'value="music" checked' in html
    assert "Skriv en e-postadresse" in html and "Kryss av for å si ja" in html
    assert (await api.sql("SELECT count(*) AS n FROM signups"))[0]["n"] == before[0]["n"]
    none = await submit(http, page, page, {"name": "Kari", "consent": "yes"})
    assert none.status_code == 400 and 'id="err-email"' in none.text
    # Neither contact nor consent: both reported in one round, not one after the other.
    both = await submit(http, page, page, {"name": "Kari"})
    assert both.status_code == 400 and 'id="err-email"' in both.text and 'id="err-consent"' in both.text
    assert "Det er 2 ting å rette" in both.text or both.text.count('<li><a href="#f-') == 2, both.text


async def test_a_post_without_a_valid_csrf_token_changes_nothing(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    api = registration_api
    tenant, meeting_id, _ = await meeting_with_code(api, http)
    page = f"/t/{tenant.slug}/meetings/{meeting_id}"
    email = f"{uuid.uuid4().hex[:8]}@example.no"
    await http.get(page)
    forged = await http.post(page, data={**resident_form(email), "csrf_token": "forged"})
    # Nothing done; the form again with the input kept, a fresh token, and a short message.
    assert forged.status_code == 403 and 'id="stale"' in forged.text and "for gammelt" in forged.text
    assert 'value="Kari Nordmann"' in forged.text and f'value="{email}"' in forged.text
    assert csrf_of(forged.text) != "forged"
    resent = await http.post(page, data={**resident_form(email), "csrf_token": csrf_of(forged.text)})
    assert resent.status_code == 303  # the fresh token is accepted
    await http.post(page, data={**resident_form(email), "csrf_token": "forged"})
    async with httpx.AsyncClient(base_url=root(api)) as stranger:  # a token without its cookie
        token = csrf_of((await http.get(page)).text)
        other = f"{uuid.uuid4().hex[:8]}@example.no"
        alone = await stranger.post(page, data={**resident_form(other), "csrf_token": token})
        assert alone.status_code == 403
    rows = await api.sql("SELECT count(*) AS n FROM signups WHERE email = ANY($1::text[])", [email, other])
    assert rows[0]["n"] == 1  # only the post with the fresh token

    # A manage-page action with a refused token: back to the manage page, which says so; nothing done.
    manage = manage_url(await signed_up(api, http, tenant, meeting_id))
    rid = manage.split("/")[2].split("?")[0]
    token = manage.split("token=")[1]
    cancel = await http.post(f"/manage/{rid}/cancel", data={"token": token, "csrf_token": "forged"})
    assert cancel.status_code == 303 and "stale=1" in cancel.headers["location"], cancel.text
    back = await http.get(cancel.headers["location"])
    assert back.status_code == 200 and 'id="stale"' in back.text and "Du har plass." in back.text
    (row,) = await api.sql("SELECT status FROM registrations WHERE id = $1", uuid.UUID(rid))
    assert row["status"] == "confirmed"


async def test_another_tenants_meeting_and_a_wrong_code_answer_404(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    api = registration_api
    tenant, meeting_id, code = await meeting_with_code(api, http)
    other = await api.tenant(http)
    assert (await http.get(f"/t/{other.slug}/meetings/{meeting_id}")).status_code == 404
    wrong = "AAAA-BBBB-CCCC" if code != "AAAA-BBBB-CCCC" else "CCCC-BBBB-AAAA"
    typed = await http.get(f"/t/{tenant.slug}/meetings/{meeting_id}?code={wrong}")
    # A wrong code (typed into the page's code field, a GET form): the page with the error beside the field.
    assert typed.status_code == 404 and 'id="err-code"' in typed.text and 'aria-invalid="true"' in typed.text
    assert f'value="{wrong}"' in typed.text and 'name="code"' in typed.text
    right = await http.get(f"/t/{tenant.slug}/meetings/{meeting_id}?code={code.lower()}")
    assert right.status_code == 200 and f'name="code" value="{code}"' in right.text  # the newcomers' form
    assert (await http.get(f"/t/{tenant.slug}/meetings/{meeting_id}/invitation?code={wrong}")).status_code == 404
    invitation = await http.get(f"/t/{tenant.slug}/meetings/{meeting_id}/invitation?code={code}")
    assert invitation.status_code == 200 and "<svg" in invitation.text and f"code={code}" in invitation.text
    draft = await api.meeting(http, tenant, publish=False)
    assert (await http.get(f"/t/{tenant.slug}/meetings/{draft}")).status_code == 404
    # The coordinator makes a new code while a newcomer fills in the form of the old one: the post shows
    # the error beside the code field with the input kept, and nothing is written.
    newcomer_page = f"/t/{tenant.slug}/meetings/{meeting_id}?code={code}"
    opened = await http.get(newcomer_page)
    renewed = await http.post(f"{api.base}/meetings/{meeting_id}/invitation-code", headers=tenant.headers)
    assert renewed.status_code == 200, renewed.text
    fields = {"name": "Amina Haji", "email": "amina@example.no", "language": "nb", "consent": "yes", "code": code}
    body = urlencode([*fields.items(), ("norwegian_level", "A2"), ("csrf_token", csrf_of(opened.text))])
    posted = await http.post(
        f"/t/{tenant.slug}/meetings/{meeting_id}",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert posted.status_code == 404 and 'id="err-code"' in posted.text, posted.text
    assert 'value="Amina Haji"' in posted.text and 'value="amina@example.no"' in posted.text
    assert await api.sql("SELECT 1 FROM signups WHERE meeting_id = $1", uuid.UUID(meeting_id)) == []


async def test_a_newcomer_signs_up_with_the_code_and_confirms_into_a_place_with_an_ics_on_local_time(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    api = registration_api
    tenant, meeting_id, code = await meeting_with_code(api, http)
    page = f"/t/{tenant.slug}/meetings/{meeting_id}?code={code}"
    email = f"{uuid.uuid4().hex[:8]}@example.no"
    form = {"name": "Amina", "email": email, "language": "en", "consent": "yes", "norwegian_level": "A2", "code": code}
    sent = await submit(http, page, f"/t/{tenant.slug}/meetings/{meeting_id}", form)
    assert sent.status_code == 303 and sent.headers["location"].endswith("/check-inbox?by=email")
    rows = await api.sql('SELECT "group", profile FROM signups WHERE email = $1', email)
    assert rows[0]["group"] == "newcomer" and rows[0]["profile"]["norwegian_level"] == "A2"
    signup_id, token = await api.confirmation_link(email)
    pressed = await submit(http, f"/confirm/{signup_id}?token={token}", f"/confirm/{signup_id}", {"token": token})
    assert pressed.status_code == 303, pressed.text
    result = await http.get(pressed.headers["location"])
    assert result.status_code == 200 and 'id="status"' in result.text and "Du har plass." in result.text
    ics_url = re.search(r'id="calendar-link" href="([^"]+)"', result.text)
    assert ics_url
    ics = await http.get(ics_url.group(1).replace("&amp;", "&"))
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert ics.headers["cache-control"] == "no-store"
    event = next(c for c in Calendar.from_ical(ics.content).walk("VEVENT"))
    start = event.decoded("DTSTART")
    assert isinstance(start, datetime)
    assert str(start.tzinfo) == "Europe/Oslo" and start.hour == daytime_start().hour
    assert "TZID=Europe/Oslo" in ics.text and start == daytime_start().astimezone(ZoneInfo("Europe/Oslo"))


async def test_a_full_group_waitlists_and_the_manage_page_cancels_and_promotes(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    api = registration_api
    tenant, meeting_id, _ = await meeting_with_code(api, http, capacity={"newcomer": 1, "resident": 1})
    first = await signed_up(api, http, tenant, meeting_id)
    second = await signed_up(api, http, tenant, meeting_id)
    assert "Du har plass." in first.text
    assert "Du står på venteliste som nr. 1." in second.text and 'id="waitlist-position"' in second.text
    # On the waiting list: said in the heading, and no calendar file (the file's address answers 409).
    assert "<h1>Du står på venteliste</h1>" in second.text and 'id="calendar-link"' not in second.text
    waiting_ics = await http.get(manage_url(second).replace("?", "/calendar.ics?", 1))
    assert waiting_ics.status_code == 409 and waiting_ics.headers["content-type"].startswith("text/html")
    manage = manage_url(first)
    page = await http.get(manage)
    assert "Avbestill plassen min" in page.text
    rid = manage.split("/")[2].split("?")[0]
    token = manage.split("token=")[1]
    # The manage page links to an "are you sure?" page; the cancellation is its form.
    ask = await http.get(f"/manage/{rid}/cancel?token={token}")
    assert ask.status_code == 200 and "Avbestille plassen din?" in ask.text
    assert f'action="/manage/{rid}/cancel"' in ask.text
    assert (await api.sql("SELECT status FROM registrations WHERE id = $1", uuid.UUID(rid)))[0]["status"] == "confirmed"
    cancelled = await submit(http, f"/manage/{rid}/cancel?token={token}", f"/manage/{rid}/cancel", {"token": token})
    assert cancelled.status_code == 303
    after = await http.get(cancelled.headers["location"])
    # The cancellation said once; no calendar file without a place.
    assert "Plassen din er avbestilt." in after.text and after.text.count("avbestilt") == 1, after.text
    assert 'id="calendar-link"' not in after.text
    assert (await http.get(manage.replace("?", "/calendar.ics?", 1))).status_code == 409
    # A cancelled place offers no contact form, and a posted one changes nothing: a stale link must not
    # move the person's messages (and their erasure link) to another address.
    assert 'action="/manage/' + rid + '/contact"' not in after.text
    before = await api.sql(
        "SELECT p.email FROM participants p JOIN registrations r ON r.participant_id = p.id WHERE r.id = $1",
        uuid.UUID(rid),
    )
    # (the form's token from a page that still has a form: the cancelled place's page has none to change)
    form_page = f"/t/{tenant.slug}/meetings/{meeting_id}"
    moved = await submit(http, form_page, f"/manage/{rid}/contact", {"token": token, "email": "thief@example.org"})
    assert moved.status_code == 409 and moved.headers["content-type"].startswith("text/html"), moved.text
    still = await api.sql(
        "SELECT p.email FROM participants p JOIN registrations r ON r.participant_id = p.id WHERE r.id = $1",
        uuid.UUID(rid),
    )
    assert still == before and still[0]["email"] != "thief@example.org"
    promoted = await http.get(manage_url(second))
    assert "Du har plass." in promoted.text
    # The downloaded calendar file does not carry the manage link (calendars are synced and shared).
    ics = await http.get(manage_url(second).replace("?", "/calendar.ics?", 1))
    assert ics.status_code == 200 and "token" not in ics.text and "/manage/" not in ics.text, ics.text


async def test_a_link_missing_a_part_and_an_unreadable_form_answer_with_a_page(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    """A link cut off in a mail app (no token, half an id) gets the page that says what to do, never JSON;
    a form body that is not UTF-8 is refused (400) and writes nothing."""
    api = registration_api
    tenant, meeting_id, _ = await meeting_with_code(api, http)
    for cut in (
        f"/manage/{uuid.uuid4()}",
        f"/confirm/{uuid.uuid4()}",
        f"/erase/{uuid.uuid4()}",
        f"/manage/{str(uuid.uuid4())[:20]}?token=abc",
        f"/t/{tenant.slug}/meetings/not-a-meeting",
    ):
        page = await http.get(cut)
        assert page.status_code == 400 and page.headers["content-type"].startswith("text/html"), (cut, page.text)
        assert "Vi fant ingenting på denne lenken" in page.text, page.text
    form_page = f"/t/{tenant.slug}/meetings/{meeting_id}"
    opened = await http.get(form_page)
    body = f"name=%ff%fe&email=bad%c3@example.no&language=nb&consent=yes&csrf_token={csrf_of(opened.text)}"
    garbled = await http.post(form_page, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert garbled.status_code == 400 and garbled.headers["content-type"].startswith("text/html"), garbled.text
    assert await api.sql("SELECT 1 FROM signups WHERE meeting_id = $1", uuid.UUID(meeting_id)) == []


async def test_contact_details_change_and_erasure_asks_first(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    api = registration_api
    tenant, meeting_id, _ = await meeting_with_code(api, http)
    manage = manage_url(await signed_up(api, http, tenant, meeting_id))
    rid = manage.split("/")[2].split("?")[0]
    token = manage.split("token=")[1]
    shown = await http.get(manage)  # the contact form shows the current details
    assert re.search(r'id="email"[^>]*value="[^"]+@example\.no"', shown.text), shown.text
    bad = await submit(http, manage, f"/manage/{rid}/contact", {"token": token, "email": "nope"})
    assert bad.status_code == 400 and 'id="err-email"' in bad.text and 'value="nope"' in bad.text
    new = f"{uuid.uuid4().hex[:8]}@example.no"
    changed = await submit(http, manage, f"/manage/{rid}/contact", {"token": token, "email": new})
    assert changed.status_code == 303
    rows = await api.sql(
        "SELECT p.email FROM participants p JOIN registrations r ON r.participant_id = p.id WHERE r.id = $1",
        uuid.UUID(rid),
    )
    assert rows[0]["email"] == new
    ask = await http.get(f"/manage/{rid}/erase?token={token}")
    assert ask.status_code == 200 and "Dette blir slettet:" in ask.text
    sent = await submit(http, f"/manage/{rid}/erase?token={token}", f"/manage/{rid}/erase", {"token": token})
    assert sent.status_code == 200 and "Sjekk meldingene dine" in sent.text
    participant = await api.sql("SELECT participant_id FROM registrations WHERE id = $1", uuid.UUID(rid))
    request_id, erase_token = await api.erasure_link(str(participant[0]["participant_id"]))
    erase_page = f"/erase/{request_id}?token={erase_token}"
    erased = await submit(http, erase_page, f"/erase/{request_id}", {"token": erase_token})
    assert erased.status_code == 200 and "Opplysningene dine er slettet" in erased.text
    gone = await http.get(manage)
    # Worded for both a link cut off and erased data, without saying which.
    assert gone.status_code == 404 and "slettet" in gone.text and "mangler" in gone.text


async def test_the_manage_page_shows_the_partner_once_the_pairs_are_published(
    registration_api: RegistrationApi, http: httpx.AsyncClient
) -> None:
    api = registration_api
    tenant, meeting_id, _ = await meeting_with_code(api, http)
    resident = (await api.sign_up(http, tenant, meeting_id, "resident", 1, f"{uuid.uuid4().hex[:8]}.no")).json()
    newcomer = (
        await api.sign_up(http, tenant, meeting_id, "newcomer", 2, f"{uuid.uuid4().hex[:8]}.no", name="Amina Yusuf")
    ).json()
    manage = f"/manage/{resident['registration_id']}?token={resident['manage_token']}"
    assert 'id="partner"' not in (await http.get(manage)).text
    plan = {
        "meeting_id": meeting_id,
        "tenant_id": tenant.id,
        "version": 1,
        "status": "proposed",
        "pairs": [
            {
                "number": 4,
                "members": [
                    {**{k: resident[k] for k in ("participant_id", "registration_id")}, "group": "resident", "seat": 7,
                     "side": "left"},
                    {**{k: newcomer[k] for k in ("participant_id", "registration_id")}, "group": "newcomer", "seat": 8,
                     "side": "right"},
                ],
            }
        ],
    }  # fmt: skip
    insert = "INSERT INTO seating (meeting_id, tenant_id, version, proposal) VALUES ($1, $2, 1, $3)"
    await api.sql(insert, uuid.UUID(meeting_id), uuid.UUID(tenant.id), plan)
    assert 'id="partner"' not in (await http.get(manage)).text  # proposed, not yet published
    published = {**plan, "status": "published"}
    await api.sql("UPDATE seating SET proposal = $2 WHERE meeting_id = $1", uuid.UUID(meeting_id), published)
    shown = await http.get(manage, headers={"Accept-Language": "en"})
    partner = re.search(r'id="partner">([^<]+)<', shown.text)
    assert partner, shown.text
    assert "Amina" in partner.group(1) and "Yusuf" not in shown.text
    assert "number 4" in partner.group(1) and "seat is number 7" in partner.group(1)


async def test_a_suspended_tenants_pages_answer_404(registration_api: RegistrationApi, http: httpx.AsyncClient) -> None:
    api = registration_api
    tenant, meeting_id, _ = await meeting_with_code(api, http)
    assert (await http.get(f"/t/{tenant.slug}")).status_code == 200
    suspended = await http.post(f"{api.base}/tenants/{tenant.slug}/suspend", headers=api.operator)
    assert suspended.status_code == 200
    assert (await http.get(f"/t/{tenant.slug}")).status_code == 404
    assert (await http.get(f"/t/{tenant.slug}/meetings/{meeting_id}")).status_code == 404


# --- the form is another door to the same abuse limits ------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_api(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistrationApi]:
    config = platform_config(
        postgres_dsn,
        kafka_bootstrap,
        smtp[0],
        Path(tmp_path_factory.mktemp("guarded-pages")),
        FMF_RATE_LIMITS_ENABLED="true",
        FMF_TRUSTED_PROXIES="127.0.0.1",
        FMF_LIMIT_SIGNUP_PER_CLIENT="3/hour",
        FMF_LIMIT_INVITATION_FAILURES_PER_CLIENT="2/hour",
    )
    with registration_service(config) as api:
        yield api


async def test_the_form_and_the_api_share_the_sign_up_limits(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    address = {"X-Forwarded-For": f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"}
    async with httpx.AsyncClient(base_url=root(api), timeout=30, headers=address) as http:
        tenant, meeting_id, code = await meeting_with_code(api, http)
        page = f"/t/{tenant.slug}/meetings/{meeting_id}"
        by_api = await http.post(
            f"{api.base}/meetings/{meeting_id}/registrations",
            json={"group": "resident", "name": "Per", "email": f"{uuid.uuid4().hex[:8]}@example.no", "consent": True},
        )
        assert by_api.status_code == 202
        for _ in range(2):
            sent = await submit(http, page, page, resident_form(f"{uuid.uuid4().hex[:8]}@example.no"))
            assert sent.status_code == 303, sent.text
        refused = await submit(http, page, page, resident_form(f"{uuid.uuid4().hex[:8]}@example.no"))
        assert refused.status_code == 429 and refused.headers["retry-after"] and "For mange forsøk" in refused.text
        # Guessing invitation codes on the page counts as in a sign-up.
        for wrong in ("AAAA-BBBB-CCCC", "CCCC-BBBB-AAAA"):
            assert (await http.get(f"{page}?code={wrong}")).status_code == 404
        assert (await http.get(f"{page}?code={code}")).status_code == 429
