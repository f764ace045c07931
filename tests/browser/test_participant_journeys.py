"""The participant pages as people use them, in headless chromium with JavaScript off, at phone and desktop
size: a resident from the tenant's page to a cancelled place, a newcomer through the invitation link in
English and in nynorsk, the waiting list and its promotion, erasure, and a stranger's forged posts.

Every page and state passes axe-core (WCAG 2.1 AA) and is photographed (see conftest.py)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.localtime import meeting_when
from tests.browser.conftest import Site, Visitor, VisitorFactory, unique_address
from tests.factories import person_body

pytestmark = pytest.mark.asyncio(loop_scope="session")
OSLO = ZoneInfo("Europe/Oslo")
SIGN_UP = "#signup-form button[type=submit]"


def local_start(meeting: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(meeting["starts_at"])).astimezone(OSLO)


def without_stamp(ics: str) -> str:
    """An .ics file without its DTSTAMP lines (the second the file was made)."""
    return "".join(line for line in ics.splitlines(keepends=True) if not line.startswith("DTSTAMP"))


async def sign_up_in_form(visitor: Visitor, name: str, email: str) -> None:
    """Fill the open sign-up form as a resident would (name, e-mail, two interests, consent) and send it."""
    page = visitor.page
    await page.fill("input[name=name]", name)
    await page.fill("input[name=email]", email)
    await page.click("#f-interests summary")  # the long optional list is folded away until opened
    await page.check("input[name=interests][value=cooking]")
    await page.check("input[name=interests][value=hiking]")
    await page.check("input[name=consent]")
    await visitor.submit(SIGN_UP)
    assert re.search(r"/check-inbox(\?|$)", page.url), page.url


async def errors_beside_fields(visitor: Visitor) -> list[str]:
    """The names of the fields marked invalid, each checked to point (aria-describedby) at its error text,
    with the summary at the top linking to it."""
    page = visitor.page
    assert await page.locator("#summary").count() == 1
    names = []
    for control in await page.locator("[aria-invalid=true]").all():
        name = str(await control.get_attribute("name"))
        described = (await control.get_attribute("aria-describedby") or "").split()
        errors = [d for d in described if await page.locator(f"#{d}.error").count()]
        assert errors and await visitor.text(f"#{errors[0]}"), (name, described)
        names.append(name)
    summary = await visitor.text("#summary")
    assert names and summary, summary
    return names


async def confirm_from_mail(site: Site, visitor: Visitor, email: str, shot: str) -> None:
    """Open the confirmation link of the mail to ``email``, check the one-button page, press it."""
    link = await site.link_in_mail(email, r"/confirm/")
    await visitor.goto(link)
    assert await visitor.page.locator("form button[type=submit]").count() == 1
    await visitor.check(shot)
    await visitor.submit()


async def test_a_resident_finds_signs_up_confirms_and_cancels(site: Site, visit: VisitorFactory) -> None:
    tenant = await site.tenant()
    meeting = await site.meeting(tenant)
    resident = await visit()
    page = resident.page

    # The tenant's page lists the meeting on the tenant's clock with its free places.
    await resident.goto(f"/t/{tenant.slug}")
    card = page.locator(".meeting", has=page.locator(f'a[href$="/meetings/{meeting["id"]}"]'))
    assert await card.count() == 1
    card_text = " ".join((await card.inner_text()).split())
    when = meeting_when(local_start(meeting), meeting["duration_minutes"], "Europe/Oslo", "nb", year=True)
    assert when in card_text, card_text
    assert "10 plasser igjen" in card_text, card_text
    # The groups in plain words, and how a newcomer signs up (the public form is for residents).
    assert "For deg som har bodd lenge i Norge" in card_text and "For deg som er ny i Norge" in card_text
    assert "Nyankomne" not in card_text and "Lengeboende" not in card_text, card_text
    assert "koden fra læreren eller koordinatoren" in await resident.text("main")
    when_with_year = meeting_when(local_start(meeting), meeting["duration_minutes"], "Europe/Oslo", "nb", year=True)
    assert await resident.lang() == "nb"
    await resident.check("01-tenant-page")

    await resident.follow(f'.meeting a[href$="/meetings/{meeting["id"]}"]')
    assert page.url.endswith(f"/t/{tenant.slug}/meetings/{meeting['id']}")
    about = await resident.text("main")
    assert "1 time og 45 minutter" in about or "1 t 45 min" in about, about
    assert when_with_year in about, about
    await resident.check("02-meeting-page")

    # The spoken languages: sorted by their Norwegian names, capitalised, each with its own name beside it.
    spoken = [" ".join(t.split()) for t in await page.locator("#f-languages .choice label").all_text_contents()]
    names = [t.split(" (")[0] for t in spoken]
    assert names == sorted(names, key=str.casefold) and all(n[:1].isupper() for n in names), names
    assert "Arabisk (العربية)" in spoken, spoken
    assert await page.locator("#f-languages .endonym[lang=ar][dir=rtl]").count() == 1
    # A code field for newcomers, beside the form for residents.
    assert await page.locator("form#f-code[method=get] input[name=code]").count() == 1

    # Sent with a name only: the page again (400), every error at once beside its field and in the summary
    # at the top (no contact AND no consent, in one round), the name kept.
    await page.fill("input[name=name]", "Kari Nordmann")
    await resident.submit(SIGN_UP, status=400)
    assert await page.input_value("input[name=name]") == "Kari Nordmann"
    assert {"email", "consent"} <= set(await errors_beside_fields(resident))
    await resident.check("03-meeting-form-errors")

    email = unique_address("kari")
    await sign_up_in_form(resident, "Kari Nordmann", email)
    assert "Sjekk e-posten din" in await resident.text("h1")
    await resident.check("04-check-inbox")

    await confirm_from_mail(site, resident, email, "05-confirm-button")
    assert "Du har plass" in await resident.text("#status")
    assert "Du har plass" in await resident.text("h1")
    # The result is a page reached by a redirect: reloading it does not post again.
    assert "confirmed=1" in page.url, page.url
    reloaded = await page.reload()
    assert reloaded is not None and reloaded.request.method == "GET" and reloaded.status == 200
    assert "Du har plass" in await resident.text("#status")
    await resident.check("06-confirm-result-confirmed")

    # The calendar file: a download, text/calendar, on the tenant's clock (TZID), never a UTC time.
    href = await page.get_attribute("#calendar-link", "href")
    assert href
    async with page.expect_download() as downloading:
        await page.click("#calendar-link")
    download = await downloading.value
    assert download.suggested_filename.endswith(".ics")
    ics = await resident.context.request.get(href)
    assert ics.status == 200 and ics.headers["content-type"].startswith("text/calendar"), ics.headers
    body = await ics.text()
    start = local_start(meeting).strftime("%Y%m%dT%H%M%S")
    assert f"DTSTART;TZID=Europe/Oslo:{start}" in body, body
    assert not re.search(r"^DT(START|END)[^\r\n]*Z\r?$", body, re.M), body
    downloaded = (await asyncio.to_thread(Path(await download.path()).read_bytes)).decode()
    assert without_stamp(downloaded) == without_stamp(body)  # the same file, but for when it was made

    await resident.follow("#manage-link")
    assert "Du har plass" in await resident.text("#status")
    assert when_with_year in await resident.text("main")
    # The contact form shows what she has now, so she knows what she changes.
    assert await page.input_value("#email") == email
    await resident.check("07-manage-confirmed")
    # Cancelling gives the place away at once: a page asks first, and going back changes nothing.
    await resident.follow("#cancel-link")
    assert "Avbestille plassen din?" in await resident.text("h1")
    await resident.check("07b-cancel-are-you-sure")
    await resident.follow("text=Nei, gå tilbake")
    assert "Du har plass" in await resident.text("#status")
    await resident.follow("#cancel-link")
    await resident.submit("form[action$='/cancel'] button[type=submit]")
    assert "avbestilt" in await resident.text("#status")
    # Said once, and no calendar file without a place (the file's address answers with a page, 409).
    assert (await resident.text("main")).count("avbestilt") == 1, await resident.text("main")
    assert await page.locator("#calendar-link").count() == 0
    gone = await resident.context.request.get(href)
    assert gone.status == 409 and gone.headers["content-type"].startswith("text/html"), gone.headers
    await resident.check("08-manage-cancelled")
    (row,) = await site.api.sql(
        "SELECT r.status FROM registrations r JOIN participants p ON p.id = r.participant_id WHERE p.email = $1",
        email,
    )
    assert row["status"] == "cancelled"


@pytest.mark.parametrize(
    ("language", "words"), [("en", "Sign up as a newcomer"), ("nn", "Meld deg på – for deg som er ny i Noreg")]
)
async def test_a_newcomer_signs_up_through_the_invitation_link(
    site: Site, visit: VisitorFactory, language: str, words: str
) -> None:
    tenant = await site.tenant()
    meeting = await site.meeting(tenant)
    code = meeting["invitation_code"]
    assert code

    # The coordinator prints the invitation: the newcomers' link and its QR code (inline SVG).
    coordinator = await visit()
    await coordinator.goto(f"/t/{tenant.slug}/meetings/{meeting['id']}/invitation?code={code}")
    assert await coordinator.page.locator("main svg").count() == 1
    link = await coordinator.page.get_attribute("p.link a", "href")
    assert link and f"code={code}" in link, link
    if language == "en":
        await coordinator.check("10-invitation")

    # The invitation shows the short address and the code in large type, to type by hand.
    short = await coordinator.text("#short-address")
    assert short.endswith(f"/t/{tenant.slug}") and "://" not in short, short
    assert await coordinator.text("#invitation-code") == code

    newcomer = await visit()
    page = newcomer.page
    if language == "en":
        await newcomer.goto(link)
    else:
        # The code typed into the meeting page's code field (a GET form: no JavaScript needed).
        await newcomer.goto(f"/t/{tenant.slug}/meetings/{meeting['id']}")
        await page.fill("#code", code)
        await newcomer.submit("#f-code button[type=submit]")
        assert f"code={code}" in page.url, page.url
    assert await newcomer.lang() == "nb"
    nb_heading = await newcomer.text("#signup")
    assert await page.locator("input[type=hidden][name=code]").get_attribute("value") == code
    if language == "en":
        await newcomer.check("11-newcomer-form-nb")

    # The language switch: a link that sets the cookie and comes back to the same page without ?lang=.
    await newcomer.follow(f"#lang-{language}")
    assert await newcomer.lang() == language
    assert "lang=" not in page.url and f"code={code}" in page.url, page.url
    assert await newcomer.text("#signup") == words != nb_heading
    cookie = next(c for c in await newcomer.context.cookies() if c["name"] == "fmf_lang")
    assert cookie["value"] == language and cookie["sameSite"] == "Lax", cookie
    assert cookie["expires"] - datetime.now().timestamp() > 360 * 86400, cookie
    # The language for messages is named in words in every page language, not by its code.
    options = await page.locator("select[name=language] option").all_text_contents()
    assert all(not re.fullmatch(r"[a-z]{2}( .*)?", o) for o in options), options
    levels = await newcomer.text("#f-norwegian_level")
    assert "A2" in levels and len(levels) > 200, levels  # each level explained in words
    assert await page.locator("#f-norwegian_level legend .req").count() == 1  # required, said like the others
    await newcomer.check(f"12-newcomer-form-{language}")

    email = unique_address(f"newcomer-{language}")
    await page.fill("input[name=name]", "Amina")
    await page.fill("input[name=email]", email)
    await page.select_option("select[name=language]", language)
    await page.check("input[name=norwegian_level][value=A2]")
    await page.click("#f-languages summary")
    await page.check("input[name=languages][value=en]")
    await newcomer.check(f"12b-newcomer-languages-open-{language}")  # the unfolded list passes axe too
    await page.check("input[name=first_time]")
    await page.check("input[name=consent]")
    await newcomer.submit(SIGN_UP)
    assert "/check-inbox" in page.url
    assert await newcomer.lang() == language  # the choice sticks across pages
    await newcomer.check(f"13-newcomer-check-inbox-{language}")

    await confirm_from_mail(site, newcomer, email, f"14-newcomer-confirm-button-{language}")
    assert await newcomer.lang() == language
    status = await newcomer.text("#status")
    assert status == ("You have a place." if language == "en" else "Du har plass."), status
    await newcomer.check(f"15-newcomer-confirmed-{language}")
    await newcomer.follow("#manage-link")
    assert await newcomer.lang() == language
    await newcomer.check(f"16-newcomer-manage-{language}")
    (row,) = await site.api.sql(
        "SELECT r.\"group\", r.status, p.profile::jsonb->>'norwegian_level' AS level FROM registrations r"
        " JOIN participants p ON p.id = r.participant_id WHERE p.email = $1",
        email,
    )
    assert (row["group"], row["status"], row["level"]) == ("newcomer", "confirmed", "A2")


async def test_a_full_group_waitlists_and_a_cancellation_promotes(site: Site, visit: VisitorFactory) -> None:
    tenant = await site.tenant()
    meeting = await site.meeting(tenant, capacity={"newcomer": 1, "resident": 1})
    first = await site.api.sign_up(
        site.http, tenant, meeting["id"], "resident", 0, f"{uuid.uuid4().hex[:8]}.example.no"
    )
    assert first.status_code == 201 and first.json()["status"] == "confirmed", first.text
    holder = await visit()
    await holder.goto(f"/manage/{first.json()['registration_id']}?token={first.json()['manage_token']}")
    assert "Du har plass" in await holder.text("#status")

    waiting = await visit()
    await waiting.goto(f"/t/{tenant.slug}")
    assert "venteliste" in await waiting.text(".meeting")
    await waiting.follow(f'.meeting a[href$="/meetings/{meeting["id"]}"]')
    assert "venteliste" in await waiting.text("main")
    await waiting.check("20-meeting-page-full")
    email = unique_address("ola")
    await sign_up_in_form(waiting, "Ola", email)
    await confirm_from_mail(site, waiting, email, "21-confirm-button-full")
    assert "Du står på venteliste som nr. 1" in await waiting.text("#status")
    assert await waiting.text("#waitlist-position") == "1"
    # Not "confirmed", no calendar file: someone on the waiting list must not turn up; what happens if a
    # place frees up is said.
    assert "venteliste" in await waiting.text("h1") and "bekreftet" not in await waiting.text("h1")
    assert "melding" in await waiting.text("main")
    assert await waiting.page.locator("#calendar-link").count() == 0
    await waiting.check("22-confirm-result-waitlisted")
    await waiting.follow("#manage-link")
    manage = waiting.page.url
    assert "Du står på venteliste som nr. 1" in await waiting.text("#status")
    assert await waiting.page.locator("#calendar-link").count() == 0
    ics = await waiting.context.request.get(manage.replace("?", "/calendar.ics?", 1))
    assert ics.status == 409 and ics.headers["content-type"].startswith("text/html"), ics.headers
    await waiting.check("23-manage-waitlisted")

    # The one with the place cancels: the first person waiting gets it, on the page and by mail.
    await holder.follow("#cancel-link")
    await holder.submit("form[action$='/cancel'] button[type=submit]")
    assert "avbestilt" in await holder.text("#status")
    await waiting.goto(manage)
    assert "Du har plass" in await waiting.text("#status")
    assert await waiting.page.locator("#waitlist-position").count() == 0
    assert await waiting.page.locator("#calendar-link").count() == 1
    await waiting.check("24-manage-promoted")
    await site.mail_saying(email, "Du har plass")  # fails unless such a mail arrives within 30 s


async def test_a_participant_erases_their_data(site: Site, visit: VisitorFactory) -> None:
    tenant = await site.tenant()
    meeting = await site.meeting(tenant)
    email = unique_address("erase")
    signed = await site.http.post(
        f"{site.api.base}/meetings/{meeting['id']}/registrations",
        headers=tenant.headers,
        json={**person_body("resident", 1, "x"), "name": "Synnøve Slett", "email": email},
    )
    assert signed.status_code == 201, signed.text
    manage = f"/manage/{signed.json()['registration_id']}?token={signed.json()['manage_token']}"
    person = await visit()
    await person.goto(manage)
    await person.follow("#erase-link")
    listed = await person.text("main")
    assert "navn" in listed and "e-post" in listed, listed  # what will be erased, in words
    await person.check("30-erase-are-you-sure")
    await person.submit()
    await person.check("31-erase-link-sent")

    link = await site.link_in_mail(email, r"/erase/")
    await person.goto(link)
    await person.check("32-erase-button")
    await person.submit()
    assert "slettet" in await person.text("h1")
    await person.check("33-erased")

    # The manage link no longer shows anything of theirs.
    await person.goto(manage, status=404)
    shown = await person.text("body")
    assert "Synnøve" not in shown and email not in shown, shown
    # The page does not blame the person: the link may be cut off, or its data erased (not saying which).
    assert "slettet" in shown and "mangler" in shown, shown
    await person.check("34-manage-after-erasure")
    assert not await site.api.sql("SELECT 1 FROM participants WHERE email = $1 OR name = $2", email, "Synnøve Slett")


async def test_a_stranger_cannot_post_without_the_form_token(site: Site, visit: VisitorFactory) -> None:
    tenant = await site.tenant()
    meeting = await site.meeting(tenant)
    other = await site.tenant()
    stranger = await visit()
    page = stranger.page
    form_url = f"/t/{tenant.slug}/meetings/{meeting['id']}"

    # The form with its hidden token taken out of the page before sending: refused, nothing saved.
    email = unique_address("forged")
    await stranger.goto(form_url)
    await page.locator("input[name=csrf_token]").evaluate("field => field.remove()")
    await page.fill("input[name=name]", "Forged")
    await page.fill("input[name=email]", email)
    await page.check("input[name=consent]")
    await stranger.submit(SIGN_UP, status=403)
    # Nothing done; the form again with the input kept, a fresh token, and a short message.
    assert "for gammelt" in await stranger.text("#stale")
    assert await page.input_value("input[name=name]") == "Forged"
    assert await page.input_value("input[name=email]") == email
    assert await page.is_checked("input[name=consent]")
    assert await page.locator("#signup-form input[name=csrf_token]").count() == 1
    await stranger.check("40-form-refused-without-token")

    # The same post straight from the request API, with the browser's cookies but no token.
    posted = await stranger.context.request.post(
        form_url, form={"name": "Forged", "email": email, "consent": "yes"}, max_redirects=0
    )
    assert posted.status == 403, posted.status
    assert not await site.api.sql(
        "SELECT 1 FROM outbox WHERE event_type = 'contact.signup_requested' AND body::jsonb->'data'->>'email' = $1",
        email,
    )

    # A cancellation without the token leaves the place as it was.
    signed = await site.api.sign_up(site.http, tenant, meeting["id"], "resident", 2, f"{uuid.uuid4().hex[:8]}.no")
    registration, token = signed.json()["registration_id"], signed.json()["manage_token"]
    await stranger.goto(f"/manage/{registration}?token={token}")
    cancel = await stranger.context.request.post(
        f"/manage/{registration}/cancel", form={"token": token}, max_redirects=0
    )
    # Back to the manage page, which says the form was out of date; nothing was done.
    assert cancel.status == 303 and "stale=1" in cancel.headers["location"], (cancel.status, cancel.headers)
    await stranger.goto(cancel.headers["location"])
    assert "for gammelt" in await stranger.text("#stale")
    assert "Du har plass" in await stranger.text("#status")
    (row,) = await site.api.sql("SELECT status FROM registrations WHERE id = $1", uuid.UUID(registration))
    assert row["status"] == "confirmed"

    # Addresses that lead nowhere: an unknown tenant, another tenant's meeting, a suspended tenant, a wrong
    # invitation code.
    await stranger.goto("/t/no-such-tenant", status=404)
    await stranger.check("41-not-found")
    await stranger.goto(f"/t/{other.slug}/meetings/{meeting['id']}", status=404)
    suspended = await site.http.post(f"{site.api.base}/tenants/{other.slug}/suspend", headers=site.api.operator)
    assert suspended.status_code == 200, suspended.text
    await stranger.goto(f"/t/{other.slug}", status=404)
    await stranger.goto(f"/t/{tenant.slug}/meetings/{meeting['id']}/invitation?code=AAAA-BBBB-CCCC", status=404)
    await stranger.goto(f"/t/{tenant.slug}/meetings/{meeting['id']}?code=AAAA-BBBB-CCCC", status=404)
    # A wrong code typed into the meeting page's field: the page again, the error beside the field.
    await page.fill("#code", "WRONG-CODE-1234")
    await stranger.submit("#f-code button[type=submit]", status=404)
    assert await page.get_attribute("#code", "aria-invalid") == "true"
    assert "kjenner ikke denne koden" in await stranger.text("#err-code")
    await stranger.check("42-wrong-code")
