"""Issue 17, kind 1: every change is held to the meeting's times (registration close, start, end) whatever
its status says, and registration closes by itself at its time."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.registration.usecases import meetings
from shared import db
from tests.conftest import platform_config
from tests.factories import daytime_start, meeting_body, person_body
from tests.pages_support import submit
from tests.registration_support import RegistrationApi, registration_service
from tests.support import RecordingSmtpHandler

pytestmark = pytest.mark.asyncio(loop_scope="session")
APP_ROLE = "fmf_registration_app"


@pytest.fixture(scope="module")
def registration_api(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistrationApi]:
    """The service's own closing job waits an hour between rounds here, so that a meeting can stay
    published past its closing time and the rules are seen to hold without it; the job's use case is
    run by the tests themselves."""
    config = platform_config(
        postgres_dsn,
        kafka_bootstrap,
        smtp[0],
        Path(tmp_path_factory.mktemp("registration-clock")),
        FMF_REGISTRATION_CLOSE_INTERVAL_S="3600",
    )
    with registration_service(config) as api:
        yield api


def closing_soon() -> str:
    return (daytime_start() - timedelta(days=2)).isoformat()


async def past_closing_time(api: RegistrationApi, meeting: str) -> None:
    await api.sql(
        "UPDATE meetings SET registration_closes_at = now() - interval '1 minute' WHERE id = $1", uuid.UUID(meeting)
    )


async def started(api: RegistrationApi, meeting: str, ago: str = "10 minutes") -> None:
    await api.sql(
        f"UPDATE meetings SET starts_at = now() - interval '{ago}', registration_closes_at = NULL WHERE id = $1",
        uuid.UUID(meeting),
    )


def refused(r: httpx.Response, says: str) -> None:
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert says in r.json()["detail"], r.json()["detail"]


async def test_no_sign_up_after_the_closing_time_by_either_path(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant, registration_closes_at=closing_soon())
        early = person_body("resident", 1, f"{uuid.uuid4().hex[:8]}.no")
        assert (await api.public_sign_up(http, meeting, early, confirm=False)).status_code == 202
        await past_closing_time(api, meeting)
        assert (await http.get(f"{api.base}/meetings/{meeting}")).json()["status"] == "published"
        refused(await api.sign_up(http, tenant, meeting, "resident", 2), "registration closed at")
        late = person_body("resident", 3, f"{uuid.uuid4().hex[:8]}.no")
        refused(await api.public_sign_up(http, meeting, late, confirm=False), "sign-up is over")
        signup_id, token = await api.confirmation_link(early["email"])
        page = await http.get(f"{api.base.removesuffix('/v1')}/confirm/{signup_id}", params={"token": token})
        assert page.status_code == 409 and "<form" not in page.text
        assert "Påmeldingen er stengt" in page.text  # not "used or expired" (issue 17, kind 7)
        refused(await http.post(f"{api.base}/signups/{signup_id}/confirm", json={"token": token}), "sign-up is over")
        rows = await api.sql("SELECT count(*) AS n FROM registrations WHERE meeting_id = $1", uuid.UUID(meeting))
        assert rows[0]["n"] == 0


async def test_no_sign_up_once_the_meeting_has_started_without_a_closing_time(
    registration_api: RegistrationApi,
) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant)
        await started(api, meeting)
        refused(await api.sign_up(http, tenant, meeting, "resident", 1), "sign-up is over")
        body = person_body("resident", 2, f"{uuid.uuid4().hex[:8]}.no")
        refused(await api.public_sign_up(http, meeting, body, confirm=False), "sign-up is over")


async def test_a_closing_time_in_the_past_is_refused_and_a_closed_meeting_is_not_edited(
    registration_api: RegistrationApi,
) -> None:
    api = registration_api
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        created = await http.post(
            f"{api.base}/tenants/{tenant.slug}/meetings",
            headers=tenant.headers,
            json=meeting_body(registration_closes_at=past),
        )
        assert created.status_code == 422 and "registration_closes_at must be in the future" in created.text
        meeting = await api.meeting(http, tenant, registration_closes_at=closing_soon())
        url = f"{api.base}/meetings/{meeting}"
        edit = await http.patch(url, headers=tenant.headers, json={"registration_closes_at": past})
        assert edit.status_code == 422 and "must be in the future" in edit.text
        await past_closing_time(api, meeting)
        refused(await http.patch(url, headers=tenant.headers, json={"title": "Nytt navn"}), "no longer be edited")
        refused(await http.post(f"{url}/invitation-code", headers=tenant.headers), "no new code")
        draft = await api.meeting(http, tenant, publish=False, registration_closes_at=closing_soon())
        await past_closing_time(api, draft)
        refused(await http.post(f"{api.base}/meetings/{draft}/publish", headers=tenant.headers), "too late to publish")


async def test_complete_waits_for_the_end_and_cancel_stops_there(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant, starts_at=daytime_start(days_ahead=15).isoformat())
        url = f"{api.base}/meetings/{meeting}"
        assert (await http.post(f"{url}/close", headers=tenant.headers)).status_code == 200
        refused(await http.post(f"{url}/complete", headers=tenant.headers), "once it has ended")
        assert (await http.get(url, headers=tenant.headers)).json()["status"] == "registration_closed"
        await started(api, meeting, "3 hours")
        refused(await http.post(f"{url}/cancel", headers=tenant.headers), "complete it instead")
        publish = await http.post(f"{url}/pairs/publish", headers=tenant.headers, json={"version": 1})
        refused(publish, "pairs and seats no longer change")
        assert (await http.post(f"{url}/complete", headers=tenant.headers)).json()["status"] == "completed"


async def test_places_stop_moving_when_the_meeting_starts(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant, capacity={"newcomer": 10, "resident": 1})
        first = (await api.sign_up(http, tenant, meeting, "resident", 1)).json()
        second = (await api.sign_up(http, tenant, meeting, "resident", 2)).json()
        assert (first["status"], second["status"]) == ("confirmed", "waitlisted")
        await started(api, meeting)
        own = await http.delete(
            f"{api.base}/registrations/{first['registration_id']}", headers={"X-Manage-Token": first["manage_token"]}
        )
        refused(own, "records who attended")
        refused(
            await http.delete(f"{api.base}/registrations/{first['registration_id']}", headers=tenant.headers),
            "the meeting started",
        )
        # An erasure still cancels the place (the person's data must go), but nobody is called in.
        erased = await http.delete(f"{api.base}/participants/{first['participant_id']}", headers=tenant.headers)
        assert erased.status_code in (200, 204), erased.text
        rows = await api.sql("SELECT status FROM registrations WHERE id = $1", uuid.UUID(second["registration_id"]))
        assert rows[0]["status"] == "waitlisted"


async def test_registration_closes_by_itself_once_with_two_replicas(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        due = await api.meeting(http, tenant, registration_closes_at=closing_soon())
        person = (await api.sign_up(http, tenant, due, "resident", 1)).json()
        waiting = person_body("resident", 9, f"{uuid.uuid4().hex[:8]}.no")
        assert (await api.public_sign_up(http, due, waiting, confirm=False)).status_code == 202
        signup_id, token = await api.confirmation_link(waiting["email"])
        await past_closing_time(api, due)
        starting = await api.meeting(http, tenant)
        await started(api, starting, "1 minute")
        later = await api.meeting(http, tenant, registration_closes_at=closing_soon())
        replicas = [await db.create_pool(api.database_url, 1, 2, role=APP_ROLE) for _ in range(2)]
        try:
            closed = await asyncio.gather(*(meetings.close_due(pool) for pool in replicas))
        finally:
            for pool in replicas:
                await pool.close()
        assert sum(closed) >= 2  # other tests' meetings may be due too; each is closed once
        for meeting, status in ((due, "registration_closed"), (starting, "registration_closed"), (later, "published")):
            assert (await http.get(f"{api.base}/meetings/{meeting}")).json()["status"] == status
        events = await api.sql(
            "SELECT body FROM outbox WHERE event_type = 'meeting.registration_closed' AND key = $1", due
        )
        assert len(events) == 1
        body = events[0]["body"]
        data = (json.loads(body) if isinstance(body, str) else body)["data"]
        assert data["confirmed_registration_ids"] == [person["registration_id"]]
        refused(await api.sign_up(http, tenant, due, "resident", 2), "registration_closed")
        # The sign-up still waiting for its confirmation can get no place now: its link and details go.
        left = await api.sql("SELECT status, name, email FROM signups WHERE id = $1", uuid.UUID(signup_id))
        assert (left[0]["status"], left[0]["name"], left[0]["email"]) == ("expired", None, None)
        used = await http.post(f"{api.base}/signups/{signup_id}/confirm", json={"token": token})
        assert used.status_code == 409


async def test_closing_or_cancelling_ends_the_waiting_sign_ups(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        for action in ("close", "cancel"):
            meeting = await api.meeting(http, tenant)
            waiting = person_body("resident", 1, f"{uuid.uuid4().hex[:8]}.no")
            assert (await api.public_sign_up(http, meeting, waiting, confirm=False)).status_code == 202
            signup_id, _ = await api.confirmation_link(waiting["email"])
            assert (
                await http.post(f"{api.base}/meetings/{meeting}/{action}", headers=tenant.headers)
            ).status_code == 200
            left = await api.sql("SELECT status, name FROM signups WHERE id = $1", uuid.UUID(signup_id))
            assert (left[0]["status"], left[0]["name"]) == ("expired", None), action
            kept = await api.sql(
                "SELECT count(*) AS n FROM outbox WHERE event_type = 'contact.signup_requested'"
                " AND body->'data'->>'signup_id' = $1",
                signup_id,
            )
            assert kept[0]["n"] == 0, action


async def test_the_closing_job_runs_in_every_registration_replica() -> None:
    from services.registration import app, jobs

    assert jobs.close_registration in app.SPEC.background


async def test_the_manage_page_offers_only_what_the_clock_allows(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant)
        person = (await api.sign_up(http, tenant, meeting, "resident", 1)).json()
        rid, token = person["registration_id"], person["manage_token"]
        page = api.base.removesuffix("/v1") + f"/manage/{rid}"
        before = (await http.get(page, params={"token": token})).text
        assert f"/manage/{rid}/cancel" in before and f"/manage/{rid}/feedback" not in before
        answered = await submit(http, f"{page}?token={token}", f"{page}/feedback", {"token": token, "rating": "5"})
        assert answered.status_code == 409 and 'id="refused"' in answered.text
        assert "Du kan gi tilbakemelding når møtet er over." in answered.text
        await started(api, meeting, "20 minutes")
        during = (await http.get(page, params={"token": token})).text
        assert f"/manage/{rid}/cancel" not in during and f"/manage/{rid}/feedback" not in during
        await started(api, meeting, "3 hours")
        after = (await http.get(page, params={"token": token})).text
        assert f"/manage/{rid}/feedback" in after
        thanked = await submit(http, f"{page}?token={token}", f"{page}/feedback", {"token": token, "rating": "5"})
        assert re.search(r'class="done"[^>]*>Takk for tilbakemeldingen', thanked.text), thanked.text
