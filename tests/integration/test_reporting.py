"""Reporting against the real platform: two tenants driven through registration's API, then every figure
of both reports, the CSV, the suppression rule, the dashboards, a second delivery of every event and a
rebuild from the topics.

The topics are shared by the whole test session, so other modules' tenants show up in the national
report too; the checks on it hold for every tenant.
"""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from deploy.local.platform import SERVICES, PlatformConfig, ServiceProcesses
from services.reporting import figures
from tests.conftest import platform_config
from tests.factories import daytime_start, meeting_body, person_body
from tests.support import (
    DOMAIN_TOPICS,
    RecordingSmtpHandler,
    eventually,
    read_all,
    wait_until_quiet,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
OTHERS = tuple(s for s in SERVICES if s != "reporting")
STATE: dict[str, Any] = {}


@dataclass
class Platform:
    config: PlatformConfig
    others: ServiceProcesses
    reporting: ServiceProcesses

    def url(self, service: str) -> str:
        return self.config.url(service)


@pytest.fixture(scope="module")
def platform(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    """The four services as processes; reporting on its own, so the test can stop it for a rebuild."""
    config = platform_config(postgres_dsn, kafka_bootstrap, smtp[0], tmp_path_factory.mktemp("reporting-logs"))
    running = Platform(config, ServiceProcesses(config, OTHERS), ServiceProcesses(config, ("reporting",)))
    running.others.start()
    running.reporting.start()
    try:
        running.others.wait_ready()
        running.reporting.wait_ready()
        yield running
    finally:
        running.reporting.stop()
        running.others.stop()
        for name in SERVICES:
            asyncio.run(_drop(config.database_url(name)))


async def _drop(dsn: str) -> None:
    from shared import db

    await db.drop_database(dsn)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tenant:
    slug: str
    domain: str
    headers: dict[str, str]
    people: dict[str, dict[str, Any]] = field(default_factory=dict)  # "n0", "r3": the sign-up answers


class Driver:
    """Registration's public API, as coordinators and participants use it."""

    def __init__(self, http: httpx.AsyncClient, platform: Platform) -> None:
        self.http = http
        self.base = platform.url("registration") + "/v1"
        self.operator = auth(platform.config.operator_token)
        self.registration_db = platform.config.database_url("registration")

    async def tenant(self, label: str) -> Tenant:
        slug = f"rep-{label}-{uuid.uuid4().hex[:6]}"
        number = f"{uuid.uuid4().int % 9000 + 1000}"
        r = await self.http.post(
            f"{self.base}/tenants",
            headers=self.operator,
            json={"slug": slug, "name": f"Kommune {label.upper()}", "municipality_number": number},
        )
        assert r.status_code == 201, r.text
        token = await self.http.post(f"{self.base}/tenants/{slug}/tokens", headers=self.operator)
        assert token.status_code == 201, token.text
        return Tenant(slug, f"{slug}.example.no", auth(token.json()["token"]))

    async def meeting(self, tenant: Tenant, days_ahead: int = 10, **overrides: Any) -> str:
        body = meeting_body(starts_at=daytime_start(days_ahead).isoformat(), **overrides)
        r = await self.http.post(f"{self.base}/tenants/{tenant.slug}/meetings", headers=tenant.headers, json=body)
        assert r.status_code == 201, r.text
        meeting_id = str(r.json()["id"])
        await self.act(tenant, meeting_id, "publish")
        return meeting_id

    async def act(self, tenant: Tenant, meeting_id: str, action: str) -> None:
        r = await self.http.post(f"{self.base}/meetings/{meeting_id}/{action}", headers=tenant.headers)
        assert r.status_code == 200, r.text

    async def sign_up(self, tenant: Tenant, meeting_id: str, who: str, expect: str) -> None:
        group, i = ("newcomer" if who[0] == "n" else "resident"), int(who[1:])
        r = await self.http.post(
            f"{self.base}/meetings/{meeting_id}/registrations",
            headers=tenant.headers,
            json=person_body(group, i, tenant.domain),
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == expect, (who, r.json())
        tenant.people[who] = r.json()

    async def cancel(self, tenant: Tenant, who: str, as_coordinator: bool = False) -> None:
        person = tenant.people[who]
        headers = tenant.headers if as_coordinator else {"X-Manage-Token": person["manage_token"]}
        r = await self.http.delete(f"{self.base}/registrations/{person['registration_id']}", headers=headers)
        assert r.status_code == 204, r.text

    async def move_into_the_past(self, meeting_id: str) -> None:
        conn = await asyncpg.connect(self.registration_db)
        try:
            await conn.execute(
                "UPDATE meetings SET starts_at = now() - interval '3 hours' WHERE id = $1", uuid.UUID(meeting_id)
            )
        finally:
            await conn.close()

    async def attendance(self, tenant: Tenant, who: str, status: str) -> None:
        r = await self.http.post(
            f"{self.base}/registrations/{tenant.people[who]['registration_id']}/attendance",
            headers=tenant.headers,
            json={"status": status},
        )
        assert r.status_code == 200, r.text

    async def feedback(
        self, tenant: Tenant, who: str, rating: int, new_connection: bool, recommend: bool, expect: int = 201
    ) -> httpx.Response:
        person = tenant.people[who]
        r = await self.http.post(
            f"{self.base}/registrations/{person['registration_id']}/feedback",
            headers={"X-Manage-Token": person["manage_token"]},
            json={
                "rating": rating,
                "new_connection": new_connection,
                "would_recommend": recommend,
                "comment": f"Hilsen {who}, ring meg på 400 00 000",  # must never reach reporting
            },
        )
        assert r.status_code == expect, r.text
        return r

    async def seating(self, tenant: Tenant, meeting_id: str) -> tuple[int, int]:
        async def plan() -> dict[str, Any] | None:
            r = await self.http.get(f"{self.base}/meetings/{meeting_id}/seating", headers=tenant.headers)
            return r.json() if r.status_code == 200 else None

        pairs = (await eventually(plan))["pairs"]
        return sum(len(p["members"]) == 2 for p in pairs), sum(len(p["members"]) > 2 for p in pairs)


FORMULA = '=HYPERLINK("http://example.org";"Klikk")'


def registrations(**groups: dict[str, int]) -> dict[str, dict[str, int]]:
    out = {g: dict.fromkeys(figures.STATUS_MEASURES, 0) | groups.get(g, {}) for g in figures.GROUPS}
    out["total"] = {m: out["newcomer"][m] + out["resident"][m] for m in figures.STATUS_MEASURES}
    return out


async def test_two_tenants_reported_in_full(platform: Platform, smtp: tuple[int, RecordingSmtpHandler]) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        drive = Driver(http, platform)
        a, b = await drive.tenant("a"), await drive.tenant("b")

        # Tenant A, meeting 1: three places per group, a waiting list, two cancellations, a promotion.
        m1 = await drive.meeting(a, capacity={"newcomer": 3, "resident": 3})
        for who, expect in [("n0", "confirmed"), ("n1", "confirmed"), ("n2", "confirmed"), ("n3", "waitlisted")]:
            await drive.sign_up(a, m1, who, expect)
        for who, expect in [
            ("r0", "confirmed"),
            ("r1", "confirmed"),
            ("r2", "confirmed"),
            ("r3", "waitlisted"),
            ("r4", "waitlisted"),
        ]:
            await drive.sign_up(a, m1, who, expect)
        await drive.cancel(a, "r1")  # r3 is promoted into the place
        await drive.cancel(a, "n3", as_coordinator=True)  # from the waiting list: nobody moves up
        await drive.act(a, m1, "close")
        m1_pairs = await drive.seating(a, m1)
        await drive.move_into_the_past(m1)
        await drive.feedback(a, "r3", 1, False, False)  # before attendance is recorded; then a no-show
        for who, status in [("n0", "attended"), ("n1", "attended"), ("n2", "no_show")]:
            await drive.attendance(a, who, status)
        for who, status in [("r0", "attended"), ("r2", "attended"), ("r3", "no_show")]:
            await drive.attendance(a, who, status)
        await drive.feedback(a, "n0", 5, True, True)
        await drive.feedback(a, "n1", 4, False, True)
        await drive.feedback(a, "r0", 3, True, False)
        await drive.feedback(a, "r2", 5, True, True)
        refused = await drive.feedback(a, "n2", 1, False, False, expect=409)  # a no-show gives no feedback
        assert "no-show" in refused.json()["detail"]
        await drive.act(a, m1, "complete")

        # Tenant A, meeting 2: one sign-up, then the meeting is cancelled.
        m2 = await drive.meeting(a, days_ahead=12, title=FORMULA)
        await drive.sign_up(a, m2, "r5", "confirmed")
        await drive.act(a, m2, "cancel")

        # Tenant B: uneven groups, everyone comes.
        m3 = await drive.meeting(b)
        for who in ("n0", "n1", "r0", "r1", "r2"):
            await drive.sign_up(b, m3, who, "confirmed")
        await drive.act(b, m3, "close")
        m3_pairs = await drive.seating(b, m3)
        await drive.move_into_the_past(m3)
        for who in ("n0", "n1", "r0", "r1", "r2"):
            await drive.attendance(b, who, "attended")
        await drive.feedback(b, "n0", 4, True, True)
        await drive.feedback(b, "r0", 2, False, False)
        await drive.act(b, m3, "complete")

        await wait_until_quiet(platform.config, timeout_s=90)
        _, mailbox = smtp

        async def report(tenant: Tenant) -> dict[str, Any]:
            r = await http.get(f"{platform.url('reporting')}/v1/tenants/{tenant.slug}/report", headers=tenant.headers)
            assert r.status_code == 200, r.text
            return r.json()

        async def settled(tenant: Tenant) -> dict[str, Any] | None:
            """The report once every sent e-mail is counted (the sender may still be at work)."""
            body = await report(tenant)
            sent = body["totals"]["notifications"]["email"]["sent"]
            return body if sent and sent == len(mailbox.to_domain(tenant.domain)) else None

        report_a, report_b = await eventually(lambda: settled(a)), await eventually(lambda: settled(b))

    # --- tenant A, meeting by meeting --------------------------------------------------------
    assert [m["meeting_id"] for m in report_a["meetings"]] == [m1, m2]
    one, two = report_a["meetings"]
    today = (datetime.now(ZoneInfo("Europe/Oslo")) - timedelta(hours=3)).date().isoformat()  # its local date
    assert (one["date"], one["status"], one["held"], one["format"]) == (today, "completed", True, "standard")
    assert (one["title"], two["title"]) == ("Kaffe og prat på biblioteket", FORMULA)
    assert one["registrations"] == registrations(
        newcomer={"signed_up": 4, "confirmed": 3, "cancelled": 1, "attended": 2, "no_show": 1},
        resident={
            "signed_up": 5,
            "confirmed": 3,
            "waitlisted": 1,
            "promoted": 1,
            "cancelled": 1,
            "attended": 2,
            "no_show": 1,
        },
    )
    assert (one["pairs"], one["trios"]) == m1_pairs == (3, 0)
    assert one["attendance_rate"] == 0.6667
    assert one["feedback"] == {
        "responses": 4,
        "mean_rating": 4.25,
        "new_connection": 3,
        "new_connection_share": 0.75,
        "would_recommend": 3,
        "would_recommend_share": 0.75,
    }
    assert one["reach"] == {"residents_attended": 2, "answered": 2, "first_time": 2, "share": 1.0}  # r0, r2: i even
    assert (two["status"], two["held"]) == ("cancelled", False)
    # nobody holds a place in a cancelled meeting, and it seated nobody
    assert two["registrations"] == registrations(resident={"signed_up": 1, "cancelled": 1})
    assert (two["pairs"], two["trios"]) == (0, 0)
    assert two["feedback"]["responses"] == 0 and two["feedback"]["mean_rating"] is None
    assert two["attendance_rate"] is None

    totals_a = report_a["totals"]
    assert totals_a["meetings"] == {"total": 2, "held": 1, "cancelled": 1}
    assert totals_a["registrations"] == registrations(
        newcomer={"signed_up": 4, "confirmed": 3, "cancelled": 1, "attended": 2, "no_show": 1},
        resident={
            "signed_up": 6,
            "confirmed": 3,
            "waitlisted": 1,
            "promoted": 1,
            "cancelled": 2,
            "attended": 2,
            "no_show": 1,
        },
    )
    assert (totals_a["pairs"], totals_a["trios"], totals_a["attendance_rate"]) == (3, 0, 0.6667)
    assert totals_a["feedback"] == one["feedback"]
    email_a = totals_a["notifications"]["email"]
    assert email_a == {"sent": len(mailbox.to_domain(a.domain)), "failed": 0}
    assert email_a["sent"] >= 10  # at least a confirmation for every sign-up
    assert (
        sum(m["notifications"]["email"]["sent"] for m in report_a["meetings"])
        + report_a["notifications_without_meeting"]["email"]["sent"]
        == email_a["sent"]
    )
    assert totals_a["notifications"]["sms"] == {"sent": 0, "failed": 0}

    # --- tenant B ----------------------------------------------------------------------------
    (three,) = report_b["meetings"]
    assert three["meeting_id"] == m3 and three["held"]
    assert three["registrations"] == registrations(
        newcomer={"signed_up": 2, "confirmed": 2, "attended": 2},
        resident={"signed_up": 3, "confirmed": 3, "attended": 3},
    )
    assert (three["pairs"], three["trios"]) == m3_pairs == (1, 1)
    assert three["attendance_rate"] == 1.0
    assert three["feedback"] == {
        "responses": 2,
        "mean_rating": 3.0,
        "new_connection": 1,
        "new_connection_share": 0.5,
        "would_recommend": 1,
        "would_recommend_share": 0.5,
    }
    assert three["reach"] == {"residents_attended": 3, "answered": 3, "first_time": 2, "share": 0.6667}
    assert report_b["totals"]["registrations"] == three["registrations"]
    assert report_b["totals"]["notifications"]["email"]["sent"] == len(mailbox.to_domain(b.domain))

    STATE.update(a=a, b=b, m1=m1, m2=m2, m3=m3, report_a=report_a, report_b=report_b, today=today)


async def test_tenant_report_period_csv_and_isolation(platform: Platform) -> None:
    a, b = STATE["a"], STATE["b"]
    base = platform.url("reporting") + "/v1"
    async with httpx.AsyncClient(timeout=20) as http:
        today = STATE["today"]
        only_today = (
            await http.get(f"{base}/tenants/{a.slug}/report?from={today}&to={today}", headers=a.headers)
        ).json()
        assert [m["meeting_id"] for m in only_today["meetings"]] == [STATE["m1"]]
        assert only_today["totals"]["meetings"] == {"total": 1, "held": 1, "cancelled": 0}
        backwards = await http.get(f"{base}/tenants/{a.slug}/report?from=2027-02-01&to=2027-01-01", headers=a.headers)
        assert backwards.status_code == 422 and "from" in backwards.json()["detail"]

        r = await http.get(f"{base}/tenants/{a.slug}/report.csv", headers=a.headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
        nb = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))  # nb headers by default
        assert [(row["møte-id"], row["tittel"]) for row in nb] == [
            (STATE["m1"], "Kaffe og prat på biblioteket"),
            (STATE["m2"], "'" + FORMULA),  # inert: a spreadsheet shows it as text
            ("totalt", ""),
        ]
        r = await http.get(f"{base}/tenants/{a.slug}/report.csv?lang=id", headers=a.headers)
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
        assert [row["meeting_id"] for row in rows] == [STATE["m1"], STATE["m2"], "total"]
        first, _, total = rows
        assert (first["newcomer_signed_up"], first["resident_promoted"], first["total_attended"]) == ("4", "1", "4")
        assert (first["pairs"], first["mean_rating"], first["attendance_rate"]) == ("3", "4,25", "0,6667")
        assert (total["meetings"], total["meetings_held"], total["resident_signed_up"]) == ("2", "1", "6")
        assert total["email_sent"] == str(STATE["report_a"]["totals"]["notifications"]["email"]["sent"])
        comma = await http.get(f"{base}/tenants/{a.slug}/report.csv?sep=comma&lang=id", headers=a.headers)
        rows = list(csv.DictReader(io.StringIO(comma.content.decode("utf-8-sig"))))
        assert rows[0]["mean_rating"] == "4.25"

        # A coordinator sees only their own tenant, and no national figures.
        for path in (f"/tenants/{b.slug}/report", f"/tenants/{b.slug}/report.csv", f"/tenants/{b.slug}/dashboard"):
            assert (await http.get(base + path, headers=a.headers)).status_code == 404
        for path in ("/national/report", "/national/report.csv", "/national/dashboard"):
            assert (await http.get(base + path, headers=a.headers)).status_code == 404
        assert (await http.get(f"{base}/tenants/{a.slug}/report")).status_code == 401
        assert (await http.get(f"{base}/tenants/{a.slug}/report", headers=auth("not-a-token"))).status_code == 401


async def national_and_truth(platform: Platform, http: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """The national report, and every tenant's unsuppressed totals from its own report (as the operator)."""
    operator = auth(platform.config.operator_token)
    base = platform.url("reporting") + "/v1"
    r = await http.get(f"{base}/national/report", headers=operator)
    assert r.status_code == 200, r.text
    report = r.json()
    truth = {}
    for row in report["tenants"]:
        t = await http.get(f"{base}/tenants/{row['tenant']}/report", headers=operator)
        truth[row["tenant"]] = t.json()["totals"]
    return report, truth


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in leaves(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree}


COUNTED = {
    "meetings.total", "meetings.held", "meetings.cancelled", "pairs", "trios", "feedback.responses",
    "feedback.new_connection", "feedback.would_recommend", "reach.residents_attended", "reach.answered",
    "reach.first_time",
    *(f"registrations.{g}.{m}" for g in figures.GROUPS_AND_TOTAL for m in figures.STATUS_MEASURES),
    *(f"notifications.{c}.{o}" for c in figures.CHANNELS for o in figures.OUTCOMES),
}  # fmt: skip


async def test_national_report_suppresses_small_cells_and_keeps_totals_true(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        report, truth = await national_and_truth(platform, http)
        csv_text = (
            await http.get(
                platform.url("reporting") + "/v1/national/report.csv?lang=id",
                headers=auth(platform.config.operator_token),
            )
        ).content.decode("utf-8-sig")
    rows = {row["tenant"]: row for row in report["tenants"]}
    a, b = STATE["a"].slug, STATE["b"].slug
    assert {a, b} <= set(rows)
    assert rows[a]["name"] == "Kommune A"

    hidden_seen = 0
    for slug, row in rows.items():
        shown, real = leaves(row), leaves(truth[slug])
        for name in COUNTED:
            if name.startswith("meetings."):
                assert shown[name] == real[name]  # meetings are not people: never hidden
            elif 0 < real[name] < 5:
                assert shown[name] == "<5", (slug, name, real[name], shown[name])
            elif shown[name] == ":":
                assert real[name] >= 5
                hidden_seen += 1
            else:
                assert shown[name] == real[name], (slug, name)
        for m in figures.STATUS_MEASURES:  # a group total never gives away its one hidden part
            cells = [shown[f"registrations.{g}.{m}"] for g in figures.GROUPS_AND_TOTAL]
            assert sum(isinstance(c, str) for c in cells) != 1, (slug, m, cells)
    # Tenant A's small groups: 3 newcomers held a place, 2 attended, 1 on the waiting list.
    assert rows[a]["registrations"]["newcomer"]["confirmed"] == "<5"
    assert rows[a]["registrations"]["resident"]["waitlisted"] == "<5"
    assert rows[a]["feedback"]["mean_rating"] == ":"  # 4 answers: the mean would tell what they said

    # The nation is the true sum of all tenants, and of all months.
    nation = leaves(report["nation"])
    for name in COUNTED:
        total = sum(leaves(truth[slug])[name] for slug in rows)
        if isinstance(nation[name], int):
            assert nation[name] == total, name
        else:
            assert (nation[name], 0 < total < 5) in (("<5", True), (":", False)), (name, total)
        months = [leaves(m)[name] for m in report["months"]]
        if all(isinstance(v, int) for v in months) and isinstance(nation[name], int):
            assert sum(months) == nation[name]

    lines = list(csv.DictReader(io.StringIO(csv_text), delimiter=";"))
    by_tenant = {line["tenant"]: line for line in lines if line["row"] == "tenant"}
    assert by_tenant[a]["newcomer_confirmed"] == "<5"
    assert by_tenant[b]["total_attended"] == str(rows[b]["registrations"]["total"]["attended"])
    assert lines[0]["row"] == "nation"
    STATE["national"] = report
    STATE["hidden_seen"] = hidden_seen


def chart_values(page: str, chart: str) -> dict[tuple[str, str], str]:
    """{(series, category): data-value} of one chart of a page."""
    start = page.rfind("<svg", 0, page.index(f'data-chart="{chart}"'))
    root = ET.fromstring(page[start : page.index("</svg>", start) + len("</svg>")])
    return {
        (el.attrib["data-series"], el.attrib["data-category"]): el.attrib["data-value"]
        for el in root.iter()
        if "data-value" in el.attrib
    }


async def test_dashboards_render_their_charts_with_the_right_numbers(platform: Platform) -> None:
    a = STATE["a"]
    base = platform.url("reporting") + "/v1"
    month = STATE["today"][:7]
    async with httpx.AsyncClient(timeout=30) as http:
        page = await http.get(f"{base}/tenants/{a.slug}/dashboard", headers=a.headers)
        national_page = await http.get(f"{base}/national/dashboard", headers=auth(platform.config.operator_token))
        national_json = (await http.get(f"{base}/national/report", headers=auth(platform.config.operator_token))).json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for chart in ("meetings_held", "participants", "attendance_rate", "feedback", "reach", "new_connections"):
        assert f'data-chart="{chart}"' in html, chart
    # Meeting 1 is today; meeting 2 (cancelled) may fall in the next month.
    assert chart_values(html, "meetings_held")[("held", month)] == "1"
    participants = chart_values(html, "participants")
    assert (participants[("newcomers", month)], participants[("residents", month)]) == ("2", "2")
    assert chart_values(html, "attendance_rate")[("attendance rate", month)] == "0.6667"
    assert chart_values(html, "feedback")[("mean rating", month)] == "4.25"
    assert chart_values(html, "reach")[("first-time share", month)] == "1.0"
    assert chart_values(html, "new_connections")[("new connections", month)] == "3"
    assert "Kommune A" in html and "Hilsen" not in html
    # An open date range would draw every month from year 1 to 9999 (a 1.4 GB page): it is a 422 instead.
    async with httpx.AsyncClient(timeout=30) as http:
        for query in ("from=1000-01-01&to=9999-12-31", "from=0001-01-01&to=2027-01-01"):
            for url, headers in (
                (f"{base}/tenants/{a.slug}/dashboard?{query}", a.headers),
                (f"{base}/national/dashboard?{query}", auth(platform.config.operator_token)),
                (f"{base}/tenants/{a.slug}/report.csv?{query}", a.headers),
            ):
                wide = await http.get(url, headers=headers)
                assert wide.status_code == 422 and wide.headers["content-type"] == "application/problem+json", url

    assert national_page.status_code == 200
    text = national_page.text
    for chart in ("meetings_held", "participants", "attendance_rate", "feedback", "reach", "new_connections"):
        assert f'data-chart="{chart}"' in text, chart
    this_month = next(m for m in national_json["months"] if m["month"] == month)
    held = chart_values(text, "meetings_held")[("held", month)]
    assert held == str(this_month["meetings"]["held"])
    residents = chart_values(text, "participants")[("residents", month)]
    assert residents == str(this_month["registrations"]["resident"]["attended"])
    assert f'data-tenant="{a.slug}"' in text


async def reports_now(platform: Platform) -> dict[str, Any]:
    a, b = STATE["a"], STATE["b"]
    base = platform.url("reporting") + "/v1"
    operator = auth(platform.config.operator_token)
    async with httpx.AsyncClient(timeout=30) as http:
        out = {}
        for tenant in (a, b):
            out[tenant.slug] = (await http.get(f"{base}/tenants/{tenant.slug}/report", headers=tenant.headers)).json()
        out["national"] = (await http.get(f"{base}/national/report", headers=operator)).json()
        out["summary"] = (await http.get(f"{base}/tenants/{a.slug}/summary", headers=a.headers)).json()
    return out


async def test_every_event_delivered_twice_changes_no_figure(platform: Platform) -> None:
    await wait_until_quiet(platform.config, timeout_s=90)
    before = await reports_now(platform)
    assert before[STATE["a"].slug] == STATE["report_a"]
    by_id = {m["meeting_id"]: m for m in before["summary"]["meetings"]}
    cancelled = by_id[STATE["m2"]]  # the summary too: nobody holds a place in a cancelled meeting
    assert (cancelled["title"], cancelled["confirmed"], cancelled["cancelled"]) == (
        FORMULA,
        {"newcomer": 0, "resident": 0},
        1,
    )
    held = by_id[STATE["m1"]]  # attendance recorded: those who came or not still held their places
    assert (held["title"], held["confirmed"]) == ("Kaffe og prat på biblioteket", {"newcomer": 3, "resident": 3})
    records = await read_all(platform.config.kafka_bootstrap, DOMAIN_TOPICS)
    producer = AIOKafkaProducer(bootstrap_servers=platform.config.kafka_bootstrap)
    await producer.start()
    try:
        for rec in records:
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=list(rec.headers))
    finally:
        await producer.stop()
    await wait_until_quiet(platform.config, timeout_s=90)
    assert await reports_now(platform) == before
    STATE["before_rebuild"] = before


async def run_rebuild(env: dict[str, str], timeout_s: int) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.reporting", "rebuild"]
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=timeout_s)


async def test_rebuild_reproduces_every_figure(platform: Platform) -> None:
    before = STATE["before_rebuild"]
    env = platform.config.env("reporting")
    refused = await run_rebuild(env, 120)
    assert refused.returncode == 1 and "stop it" in refused.stderr  # the service is running

    platform.reporting.stop()
    conn = await asyncpg.connect(platform.config.database_url("reporting"))
    try:
        events_before = await conn.fetchval("SELECT count(*) FROM inbox")
    finally:
        await conn.close()
    started = datetime.now(UTC)
    done = await run_rebuild(env, 300)
    assert done.returncode == 0, done.stderr
    assert "rebuilt:" in done.stdout
    conn = await asyncpg.connect(platform.config.database_url("reporting"))
    try:
        applied_at = await conn.fetchval("SELECT min(applied_at) FROM inbox")
        events_after = await conn.fetchval("SELECT count(*) FROM inbox")
    finally:
        await conn.close()
    assert applied_at >= started  # everything was applied again, by the rebuild
    assert events_after == events_before

    platform.reporting.start()
    platform.reporting.wait_ready()
    await wait_until_quiet(platform.config, timeout_s=90)
    assert await reports_now(platform) == before


async def test_no_personal_data_in_reportings_tables_or_events(platform: Platform) -> None:
    """No column of reporting's database could hold a name, e-mail, phone or comment; nor does any
    event type it consumes carry one."""
    personal = ("name", "email", "e_mail", "phone", "comment", "address")

    async def columns() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(platform.config.database_url("reporting"))
        try:
            return await conn.fetch(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            )
        finally:
            await conn.close()

    found = [
        f"{r['table_name']}.{r['column_name']}"
        for r in await columns()
        if any(word in r["column_name"].lower() for word in personal)
    ]
    # Names that are no person's: the municipality's (for the report's headings) and a migration file's.
    assert sorted(found) == ["known_tenants.name", "schema_migrations.name"]

    from services.reporting.app import SPEC
    from shared.consumer import EventConsumer
    from shared.events import EVENT_TYPES

    consumer = EventConsumer("check", None, None)  # type: ignore[arg-type]
    assert SPEC.register_handlers is not None
    SPEC.register_handlers(consumer)
    assert "feedback.given" in consumer.handlers and "notification.sent" in consumer.handlers
    # Names and addresses that are no person's: the municipality's (its name, and the public contact it gives
    # participants, which reporting does not keep), and the public venue's.
    municipality = ["contact_email", "contact_phone", "name"]
    not_a_person = {"tenant.created": municipality, "tenant.updated": municipality} | {
        t: ["venue.address", "venue.name"] for t in EVENT_TYPES if t.startswith("meeting.")
    }
    assert {EVENT_TYPES[t][0] for t in consumer.handlers} <= set(SPEC.subscribes_to)
    received = [t for t, (topic, _) in EVENT_TYPES.items() if topic in SPEC.subscribes_to]
    assert "contact.upserted" not in received  # contact details travel on a topic reporting does not read
    for event_type in received:  # every event on its topics, handled or not
        schema = EVENT_TYPES[event_type][1].model_json_schema()
        leaked = sorted(p for p in _field_paths(schema, schema) if any(w in p.split(".")[-1].lower() for w in personal))
        assert leaked == not_a_person.get(event_type, []), (event_type, leaked)


def _field_paths(schema: dict[str, Any], root: dict[str, Any], prefix: str = "") -> set[str]:
    """Every field of a JSON schema as a dotted path, following references, lists and unions."""
    if "$ref" in schema:
        return _field_paths(root["$defs"][schema["$ref"].split("/")[-1]], root, prefix)
    paths: set[str] = set()
    for option in schema.get("anyOf", []) + ([schema["items"]] if "items" in schema else []):
        paths |= _field_paths(option, root, prefix)
    for name, sub in schema.get("properties", {}).items():
        paths.add(prefix + name)
        paths |= _field_paths(sub, root, f"{prefix}{name}.")
    return paths
