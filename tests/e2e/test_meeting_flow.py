"""End to end through all four services, the real broker, real PostgreSQL and a real SMTP server.

The first test walks one standard meeting from tenant creation to the published pairs, with the residents
signing up publicly (double opt-in: each opens the link from the mail the SMTP server received, and presses
the button on its page, as a browser would); the second publishes every event of that run a second time
and checks that nothing changes.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from deploy.local.platform import SERVICES, PlatformConfig
from tests.factories import meeting_body, person_body
from tests.support import (
    DOMAIN_TOPICS,
    ReceivedMail,
    RecordingSmtpHandler,
    eventually,
    mail_text,
    read_all,
    wait_until_quiet,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
RUN: dict[str, Any] = {}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def confirmation_link(mail: ReceivedMail, registration_base: str) -> str | None:
    """The sign-up confirmation link in a mail, if it holds one; it must lead to this registration service."""
    found = re.search(r"(\S+/confirm/[0-9a-f-]{36}\?token=\S+)", mail_text(mail.message))
    if found is None:
        return None
    assert found.group(1).startswith(registration_base + "/confirm/"), found.group(1)
    return found.group(1)


class Forms(HTMLParser):
    """The forms of a page: method, action and the values of their named inputs."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": (a.get("method") or "get").lower(), "action": a.get("action"), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


async def confirm_in_browser(http: httpx.AsyncClient, link: str) -> str:
    """Open the link, press the page's one button, follow the redirect to the manage page; the status it shows."""
    page = await http.get(link)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    (form,) = Forms(page.text).forms
    assert form["method"] == "post" and form["fields"].get("token")
    done = await http.post(urljoin(link, form["action"]), data=form["fields"])
    assert done.status_code == 303, done.text
    manage = await http.get(urljoin(link, done.headers["location"]))
    assert manage.status_code == 200, manage.text
    shown = re.search(r'id="status" class="status status-(\w+)"', manage.text)
    assert shown, manage.text
    return shown.group(1)


async def test_a_meeting_from_tenant_to_pairs(platform: PlatformConfig, smtp: tuple[int, RecordingSmtpHandler]) -> None:
    registration = platform.url("registration") + "/v1"
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    slug = f"e2e-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await http.post(
            f"{registration}/tenants",
            headers=auth(platform.operator_token),
            json={"slug": slug, "name": "Testkommune", "municipality_number": str(1000 + hash(slug) % 8999)},
        )
        assert tenant.status_code == 201, tenant.text
        token = await http.post(f"{registration}/tenants/{slug}/tokens", headers=auth(platform.operator_token))
        assert token.status_code == 201
        coordinator = auth(token.json()["token"])

        meeting = await http.post(f"{registration}/tenants/{slug}/meetings", headers=coordinator, json=meeting_body())
        assert meeting.status_code == 201, meeting.text
        meeting_id = meeting.json()["id"]
        assert meeting.json()["capacity"] == {"newcomer": 10, "resident": 10}
        assert (await http.post(f"{registration}/meetings/{meeting_id}/publish", headers=coordinator)).json()[
            "status"
        ] == "published"

        statuses: dict[str, list[str]] = {"newcomer": [], "resident": []}
        for i in range(10):  # the coordinator signs up the adult-education students
            r = await http.post(
                f"{registration}/meetings/{meeting_id}/registrations",
                headers=coordinator,
                json=person_body("newcomer", i, domain),
            )
            assert r.status_code == 201, r.text
            statuses["newcomer"].append(r.json()["status"])
        for i in range(12):  # residents sign up publicly, without a token: a link to confirm goes by mail
            r = await http.post(
                f"{registration}/meetings/{meeting_id}/registrations", json=person_body("resident", i, domain)
            )
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "check_your_messages"
        _, mailbox = smtp
        residents = [f"resident{i}@{domain}" for i in range(12)]
        base = platform.url("registration")

        async def links() -> dict[str, str] | None:
            found = {m.to[0]: link for m in mailbox.to_domain(domain) if (link := confirmation_link(m, base))}
            return found if sorted(found) == sorted(residents) else None

        confirm_links = await eventually(links, timeout_s=30)
        for address in residents:  # each opens the link from their mail, in turn: first confirmed first served
            statuses["resident"].append(await confirm_in_browser(http, confirm_links[address]))
        last_sign_up = time.time()
        assert statuses["newcomer"] == ["confirmed"] * 10
        assert statuses["resident"] == ["confirmed"] * 10 + ["waitlisted"] * 2

        closed = await http.post(f"{registration}/meetings/{meeting_id}/close", headers=coordinator)
        assert closed.json()["status"] == "registration_closed"
        assert closed.json()["confirmed"] == {"newcomer": 10, "resident": 10}
        assert closed.json()["waitlisted"] == {"newcomer": 0, "resident": 2}

        async def seating() -> dict[str, Any] | None:
            r = await http.get(f"{registration}/meetings/{meeting_id}/seating", headers=coordinator)
            return r.json() if r.status_code == 200 else None

        plan = await eventually(seating)
        assert len(plan["pairs"]) == 10 and plan["unpaired"] == []
        for pair in plan["pairs"]:
            assert sorted(m["group"] for m in pair["members"]) == ["newcomer", "resident"]
            assert all(m["name"] for m in pair["members"])
        seated = [m["participant_id"] for p in plan["pairs"] for m in p["members"]]
        assert len(set(seated)) == 20

        def places() -> list[ReceivedMail]:  # the mails about a place, not the links that confirm a sign-up
            return [m for m in mailbox.to_domain(domain) if not confirmation_link(m, base)]

        # 20 confirmations, 2 "you are on the waiting list", and, once registration closed, the same 2 told
        # that they did not get a place.
        await eventually(lambda: _at_least(places(), 24), timeout_s=30)
        await wait_until_quiet(platform)
        mails = places()
        assert len(mails) == 24
        assert len(mailbox.to_domain(domain)) == 24 + 12  # and the 12 residents' links, one each
        waitlisted = [f"resident10@{domain}", f"resident11@{domain}"]
        recipients = sorted(addr for m in mails for addr in m.to)
        expected = [f"newcomer{i}@{domain}" for i in range(10)] + [f"resident{i}@{domain}" for i in range(12)]
        assert recipients == sorted(expected + waitlisted)
        english = next(m for m in mails if m.to == [f"resident2@{domain}"])  # i % 3 == 2 -> en
        assert "You are signed up" in str(english.message["Subject"])
        to_waiting = sorted(str(m.message["Subject"]) for m in mails if m.to == [f"resident11@{domain}"])
        assert len(to_waiting) == 2 and any("waiting list" in subject for subject in to_waiting), to_waiting
        assert any("closed" in subject for subject in to_waiting), to_waiting  # resident11 writes English
        mails = [m for m in mails if not set(m.to) & set(waitlisted)]
        latency = max(m.received_at for m in mails) - last_sign_up
        print(f"\nlatency from last sign-up to last confirmation mail: {latency * 1000:.0f} ms")

        async def summary() -> dict[str, Any] | None:
            r = await http.get(platform.url("reporting") + f"/v1/tenants/{slug}/summary", headers=coordinator)
            body = r.json() if r.status_code == 200 else None
            return body if body and body["meetings"] and body["meetings"][0]["pairs"] else None

        report = (await eventually(summary))["meetings"][0]
        assert report["confirmed"] == {"newcomer": 10, "resident": 10}
        assert report["waitlisted"] == {"newcomer": 0, "resident": 2}
        assert report["pairs"] == 10 and report["trios"] == 0
        RUN.update(domain=domain, slug=slug, coordinator=coordinator, meeting_id=meeting_id, report=report)


async def _at_least(items: list[Any], n: int) -> list[Any] | None:
    return items if len(items) >= n else None


async def database_fingerprint(dsn: str) -> dict[str, str]:
    """A hash of every row of every table (ordered), so any change at all is visible."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ]
        prints = {}
        for table in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{table}" t ORDER BY 1')
            prints[table] = f"{len(rows)}:" + hashlib.sha256("\n".join(r["row"] for r in rows).encode()).hexdigest()
        return prints
    finally:
        await conn.close()


async def test_every_event_delivered_twice_changes_nothing(
    platform: PlatformConfig, smtp: tuple[int, RecordingSmtpHandler]
) -> None:
    assert RUN, "runs after the end-to-end test, on the events it produced"
    _, mailbox = smtp
    await wait_until_quiet(platform)
    before = {name: await database_fingerprint(platform.database_url(name)) for name in SERVICES}
    mails_before = len(mailbox.mails)

    records = await read_all(platform.kafka_bootstrap, DOMAIN_TOPICS)
    assert len(records) >= 40  # tenant, token, meeting lifecycle, 22 sign-ups, contacts, pairs, mails
    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka_bootstrap)
    await producer.start()
    try:
        for rec in records:  # the same bytes, key and headers: a true redelivery
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=list(rec.headers))
    finally:
        await producer.stop()
    await wait_until_quiet(platform)

    after = {name: await database_fingerprint(platform.database_url(name)) for name in SERVICES}
    assert after == before
    assert len(mailbox.mails) == mails_before
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(platform.url("reporting") + f"/v1/tenants/{RUN['slug']}/summary", headers=RUN["coordinator"])
        assert r.json()["meetings"][0] == RUN["report"]
        duplicates = 0.0
        for name in ("matching", "notification", "reporting"):
            text = (await http.get(platform.url(name) + "/metrics")).text
            duplicates += sum(
                float(line.split()[-1]) for line in text.splitlines() if line.startswith("fmf_inbox_duplicates_total")
            )
    assert duplicates >= len(records)  # every redelivered event was seen, and skipped, by the inbox
