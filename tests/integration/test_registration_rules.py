"""Registration's rules through its HTTP API, against real PostgreSQL (issue: registration for real)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared import localtime
from tests.factories import daytime_start, person_body
from tests.registration_support import RegistrationApi

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def outbox_types(api: RegistrationApi, key: str) -> list[str]:
    rows = await api.sql("SELECT event_type FROM outbox WHERE key = $1 ORDER BY seq", key)
    return [r["event_type"] for r in rows]


# One start for the whole module: the parameters below are made when the tests are collected, and a
# run that passes midnight in Oslo must not move the meeting to another day than its closing time.
STARTS = daytime_start()


@pytest.mark.parametrize(
    ("change", "fix"),
    [
        ({"starts_at": daytime_start(hour=16).isoformat()}, "daytime, between 08:00 and 17:00"),
        ({"starts_at": daytime_start(hour=7).isoformat()}, "daytime"),
        ({"starts_at": daytime_start(days_ahead=-3).isoformat()}, "starts_at must be in the future"),
        ({"registration_closes_at": (STARTS + timedelta(hours=1)).isoformat()}, "before starts_at"),
        ({"capacity": {"newcomer": 0, "resident": 10}}, "capacity.newcomer"),
        ({"venue": {"name": "Biblioteket", "address": "Torvet 1", "kind": "cafe"}}, "venue.kind"),
        ({"venue": None}, "venue"),
        ({"format": "speed-dating"}, "unknown format"),
    ],
)
async def test_bad_meetings_get_422_that_says_what_to_fix(
    registration_api: RegistrationApi, change: dict[str, object], fix: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        body = {
            "title": "Kaffe og prat",
            "format": "standard",
            "starts_at": STARTS.isoformat(),
            "venue": {"name": "Biblioteket", "address": "Torvet 1", "kind": "library"},
            **change,
        }
        r = await http.post(
            f"{registration_api.base}/tenants/{tenant.slug}/meetings", headers=tenant.headers, json=body
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert fix in r.json()["detail"]
        assert await registration_api.sql("SELECT 1 FROM meetings WHERE tenant_id = $1", uuid.UUID(tenant.id)) == []


async def test_lifecycle_allows_only_its_transitions_and_each_emits_its_event(
    registration_api: RegistrationApi,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant, publish=False)
        base = f"{registration_api.base}/meetings/{meeting}"
        assert (await http.post(f"{base}/close", headers=tenant.headers)).status_code == 409
        assert (await http.post(f"{base}/complete", headers=tenant.headers)).status_code == 409
        for action, state in (("publish", "published"), ("close", "registration_closed"), ("complete", "completed")):
            if action == "complete":  # a meeting is completed once it has ended (issue 17)
                await registration_api.sql(
                    "UPDATE meetings SET starts_at = now() - interval '3 hours' WHERE id = $1", uuid.UUID(meeting)
                )
            r = await http.post(f"{base}/{action}", headers=tenant.headers)
            assert r.json()["status"] == state
        refused = await http.post(f"{base}/cancel", headers=tenant.headers)
        assert refused.status_code == 409 and "completed" in refused.json()["detail"]
        assert await outbox_types(registration_api, meeting) == [
            "meeting.created",
            "meeting.published",
            "meeting.registration_closed",
            "meeting.completed",
        ]


async def test_meeting_has_an_agenda_with_clock_times(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant)
        public = (await http.get(f"{registration_api.base}/meetings/{meeting}")).json()
        activities = [a["activity"] for a in public["agenda"]]
        assert activities == ["welcome", "call_out_pairs", "pair_talk", "sharing_round", "closing"]
        assert public["agenda"][0]["starts"].startswith(daytime_start().strftime("%Y-%m-%dT10:00"))
        assert public["agenda"][-1]["ends"].startswith(daytime_start().strftime("%Y-%m-%dT11:45"))
        assert public["invitation_code"] is None  # only the coordinator sees it
        own = (await http.get(f"{registration_api.base}/meetings/{meeting}", headers=tenant.headers)).json()
        assert own["invitation_code"]


async def test_who_signs_up_whom(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant)
        url = f"{registration_api.base}/meetings/{meeting}/registrations"
        from tests.factories import person_body

        newcomer = person_body("newcomer", 1, "who.example.no")
        refused = await http.post(url, json=newcomer)
        assert refused.status_code == 403 and "invitation code" in refused.json()["detail"]
        code = (await http.get(f"{registration_api.base}/meetings/{meeting}", headers=tenant.headers)).json()[
            "invitation_code"
        ]
        wrong = await http.post(url, json={**newcomer, "invitation_code": "2345-6789-ABCD"})
        assert wrong.status_code == 403
        # No code and a wrong code are told apart, so the reader knows what to do (issue 17, kind 7).
        assert "not right" in wrong.json()["detail"] and "not right" not in refused.json()["detail"]
        not_a_code = await http.post(url, json={**newcomer, "invitation_code": "WRONG123"})
        assert not_a_code.status_code == 422 and "invitation_code" in not_a_code.json()["detail"]
        typed = code.lower().replace("-", " ")  # read aloud and typed: case, spaces and dashes do not matter
        assert (await http.post(url, json={**newcomer, "invitation_code": typed})).status_code == 202
        low = person_body("newcomer", 2, "who.example.no", norwegian_level="A1")
        r = await http.post(url, headers=tenant.headers, json=low)
        assert r.status_code == 422 and "A2 or higher" in r.json()["detail"]
        draft = await registration_api.meeting(http, tenant, publish=False)
        r = await http.post(
            f"{registration_api.base}/meetings/{draft}/registrations", json=person_body("resident", 3, "who.example.no")
        )
        assert r.status_code == 404


async def test_a_person_keeps_one_participant_id_and_one_seat(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        first, second = await registration_api.meeting(http, tenant), await registration_api.meeting(http, tenant)
        a = await registration_api.sign_up(http, tenant, first, "resident", 7, "same.example.no")
        outbox_before = await registration_api.sql("SELECT count(*) AS n FROM outbox")
        again = await registration_api.sign_up(http, tenant, first, "resident", 7, "same.example.no", name="Changed")
        assert again.status_code == 409
        assert await registration_api.sql("SELECT count(*) AS n FROM outbox") == outbox_before  # nothing half-written
        names = await registration_api.sql(
            "SELECT name FROM participants WHERE id = $1", uuid.UUID(a.json()["participant_id"])
        )
        assert names[0]["name"] == "Resident 7"
        other = await registration_api.sign_up(
            http, tenant, second, "resident", 7, "same.example.no", email=None, phone="+47 912 00 007"
        )
        by_email = await registration_api.sign_up(
            http, tenant, first, "resident", 8, "same.example.no", email="RESIDENT7@same.example.no"
        )
        assert other.status_code == 201 and by_email.status_code == 409  # same person by e-mail, any case
        assert other.json()["participant_id"] != a.json()["participant_id"]  # a different phone, no e-mail
        returning = await registration_api.sign_up(http, tenant, second, "resident", 7, "same.example.no")
        assert returning.json()["participant_id"] == a.json()["participant_id"]
        places = await registration_api.sql(
            "SELECT count(*) AS n FROM registrations WHERE meeting_id = $1", uuid.UUID(first)
        )
        assert places[0]["n"] == 1


async def test_cancellation_promotes_the_first_waiting_in_the_same_transaction(
    registration_api: RegistrationApi,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant, capacity={"newcomer": 1, "resident": 1})
        first = await registration_api.sign_up(http, tenant, meeting, "resident", 1)
        waiting = [await registration_api.sign_up(http, tenant, meeting, "resident", i) for i in (2, 3)]
        assert [w.json()["status"] for w in waiting] == ["waitlisted", "waitlisted"]
        r = await http.delete(
            f"{registration_api.base}/registrations/{first.json()['registration_id']}",
            headers={"X-Manage-Token": "not-the-token"},
        )
        assert r.status_code == 404
        r = await http.delete(
            f"{registration_api.base}/registrations/{first.json()['registration_id']}",
            headers={"X-Manage-Token": first.json()["manage_token"]},
        )
        assert r.status_code == 204
        rows = await registration_api.sql(
            "SELECT body FROM outbox WHERE key = $1 AND event_type IN ('registration.cancelled',"
            " 'registration.promoted') ORDER BY seq",
            meeting,
        )
        cancelled, promoted = rows[0]["body"], rows[1]["body"]
        assert promoted["data"]["registration_id"] == waiting[0].json()["registration_id"]
        assert cancelled["data"]["promoted_registration_id"] == waiting[0].json()["registration_id"]
        assert cancelled["correlation_id"] == promoted["correlation_id"]
        counts = (await http.get(f"{registration_api.base}/meetings/{meeting}")).json()
        assert counts["confirmed"]["resident"] == 1 and counts["waitlisted"]["resident"] == 1


async def test_the_waiting_list_position_is_shown_to_coordinator_and_participant(
    registration_api: RegistrationApi,
) -> None:
    """Issue 17, kind 8: nobody could see where on the waiting list a person was."""
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant, capacity={"newcomer": 1, "resident": 1})
        first = (await registration_api.sign_up(http, tenant, meeting, "resident", 1)).json()
        waiting = [(await registration_api.sign_up(http, tenant, meeting, "resident", i)).json() for i in (2, 3, 4)]
        newcomer = (await registration_api.sign_up(http, tenant, meeting, "newcomer", 5)).json()
        listed = (
            await http.get(f"{registration_api.base}/meetings/{meeting}/registrations", headers=tenant.headers)
        ).json()
        position = {r["id"]: r["waitlist_position"] for r in listed}
        assert [position[w["registration_id"]] for w in waiting] == [1, 2, 3]
        assert position[first["registration_id"]] is None and position[newcomer["registration_id"]] is None
        third = waiting[2]
        own = await http.get(
            f"{registration_api.base}/registrations/{third['registration_id']}",
            headers={"X-Manage-Token": third["manage_token"]},
        )
        assert own.json()["waitlist_position"] == 3
        page = await http.get(
            f"{registration_api.base.removesuffix('/v1')}/manage/{third['registration_id']}",
            params={"token": third["manage_token"]},
        )
        assert "Du står på venteliste som nr. 3." in page.text and 'id="waitlist-position"' in page.text
        # The time on the page is the tenant's, not UTC the reader has to convert (issue 17, kind 7).
        shown = (await http.get(f"{registration_api.base}/meetings/{meeting}", headers=tenant.headers)).json()
        starts = datetime.fromisoformat(shown["starts_at"])
        assert "UTC" not in page.text
        when = localtime.meeting_when(starts, shown["duration_minutes"], "Europe/Oslo", "nb", year=True)
        assert when in page.text and f"kl. {starts.astimezone(ZoneInfo('Europe/Oslo')):%H.%M}" in when
        waited = await registration_api.sql(
            "SELECT body FROM outbox WHERE key = $1 AND event_type = 'registration.waitlisted' ORDER BY seq", meeting
        )
        assert [row["body"]["data"]["waitlist_position"] for row in waited] == [1, 2, 3]
        r = await http.delete(
            f"{registration_api.base}/registrations/{first['registration_id']}",
            headers={"X-Manage-Token": first["manage_token"]},
        )
        assert r.status_code == 204  # the first waiting gets the place; the others move up
        own = await http.get(
            f"{registration_api.base}/registrations/{third['registration_id']}",
            headers={"X-Manage-Token": third["manage_token"]},
        )
        assert own.json()["waitlist_position"] == 2


async def test_editing_time_emits_meeting_changed_and_more_places_promote(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant, capacity={"newcomer": 1, "resident": 1})
        for i in range(3):
            await registration_api.sign_up(http, tenant, meeting, "resident", i)
        url = f"{registration_api.base}/meetings/{meeting}"
        later = daytime_start(hour=12).isoformat()
        r = await http.patch(
            url, headers=tenant.headers, json={"starts_at": later, "capacity": {"newcomer": 1, "resident": 2}}
        )
        assert r.status_code == 200, r.text
        assert r.json()["confirmed"]["resident"] == 2 and r.json()["waitlisted"]["resident"] == 1
        changed = await registration_api.sql(
            "SELECT body FROM outbox WHERE key = $1 AND event_type = 'meeting.changed'", meeting
        )
        assert changed[0]["body"]["data"]["changes"] == ["capacity", "starts_at"]
        shrink = await http.patch(url, headers=tenant.headers, json={"capacity": {"newcomer": 1, "resident": 1}})
        assert shrink.status_code == 409 and "cannot go below" in shrink.json()["detail"]
        evening = await http.patch(url, headers=tenant.headers, json={"starts_at": daytime_start(hour=19).isoformat()})
        assert evening.status_code == 422
        await http.post(f"{url}/close", headers=tenant.headers)
        assert (await http.patch(url, headers=tenant.headers, json={"title": "Nytt navn"})).status_code == 409


async def test_attendance_after_start_and_feedback_after_the_end(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant)
        person = (await registration_api.sign_up(http, tenant, meeting, "resident", 1)).json()
        rid, token = person["registration_id"], person["manage_token"]
        attend = f"{registration_api.base}/registrations/{rid}/attendance"
        feedback = f"{registration_api.base}/registrations/{rid}/feedback"
        answers = {"rating": 5, "new_connection": True, "would_recommend": True, "comment": "Fint!"}
        assert (await http.post(attend, headers=tenant.headers, json={"status": "attended"})).status_code == 409
        assert (await http.post(feedback, headers={"X-Manage-Token": token}, json=answers)).status_code == 409
        await http.post(f"{registration_api.base}/meetings/{meeting}/close", headers=tenant.headers)
        await registration_api.sql(
            "UPDATE meetings SET starts_at = now() - interval '3 hours' WHERE id = $1", uuid.UUID(meeting)
        )
        r = await http.post(attend, headers=tenant.headers, json={"status": "attended"})
        assert r.status_code == 200 and r.json()["status"] == "attended"
        bad = await http.post(feedback, headers={"X-Manage-Token": token}, json={**answers, "rating": 6})
        assert bad.status_code == 422
        assert (await http.post(feedback, headers={"X-Manage-Token": "wrong"}, json=answers)).status_code == 404
        assert (await http.post(feedback, headers={"X-Manage-Token": token}, json=answers)).status_code == 201
        assert (await http.post(feedback, headers={"X-Manage-Token": token}, json=answers)).status_code == 409
        given = await registration_api.sql(
            "SELECT body FROM outbox WHERE event_type = 'feedback.given' AND key = $1", meeting
        )
        assert given[0]["body"]["data"]["rating"] == 5 and "comment" not in given[0]["body"]["data"]
        view = await http.get(f"{registration_api.base}/registrations/{rid}", headers={"X-Manage-Token": token})
        assert view.json()["feedback_given"] is True and view.json()["status"] == "attended"


async def test_suspended_tenant_and_revoked_token(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant)
        op = registration_api.operator
        assert (await http.post(f"{registration_api.base}/tenants/{tenant.slug}/suspend", headers=op)).json()[
            "status"
        ] == "suspended"
        assert (
            await http.get(f"{registration_api.base}/tenants/{tenant.slug}/meetings", headers=tenant.headers)
        ).status_code == 401
        closed = await registration_api.public_sign_up(http, meeting, person_body("resident", 1, "example.no"))
        assert closed.status_code == 409 and "suspended" in closed.json()["detail"]
        await http.post(f"{registration_api.base}/tenants/{tenant.slug}/reactivate", headers=op)
        assert (
            await http.get(f"{registration_api.base}/tenants/{tenant.slug}/meetings", headers=tenant.headers)
        ).status_code == 200
        r = await http.delete(f"{registration_api.base}/tenants/{tenant.slug}/tokens/{tenant.token_id}", headers=op)
        assert r.status_code == 204
        assert (
            await http.get(f"{registration_api.base}/tenants/{tenant.slug}/meetings", headers=tenant.headers)
        ).status_code == 401
        assert (
            await http.delete(f"{registration_api.base}/tenants/{tenant.slug}/tokens/{tenant.token_id}", headers=op)
        ).status_code == 404


async def test_tenant_settings_change_the_daytime_window(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        url = f"{registration_api.base}/tenants/{tenant.slug}"
        r = await http.patch(url, headers=registration_api.operator, json={"day_ends": "19:00", "retention_days": 30})
        assert r.status_code == 200 and r.json()["retention_days"] == 30
        from tests.factories import meeting_body

        late = meeting_body(starts_at=daytime_start(hour=17).isoformat())
        r = await http.post(f"{url}/meetings", headers=tenant.headers, json=late)
        assert r.status_code == 201, r.text
        bad = await http.patch(url, headers=registration_api.operator, json={"day_starts": "20:00"})
        assert bad.status_code == 409


async def test_the_tenants_contact_is_a_setting_that_travels_to_the_other_services(
    registration_api: RegistrationApi,
) -> None:
    """Issue 17, kind 7: messages said "Kontakt arrangøren" with no contact; now the operator sets one."""
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        url = f"{registration_api.base}/tenants/{tenant.slug}"
        contact = {"contact_email": "FMF@Kommune.example.no", "contact_phone": "37 01 30 00"}  # a switchboard
        r = await http.patch(url, headers=registration_api.operator, json=contact)
        assert r.status_code == 200, r.text
        assert r.json()["contact_email"].lower() == "fmf@kommune.example.no"
        assert r.json()["contact_phone"] == "+4737013000"
        assert (await http.get(url, headers=registration_api.operator)).json()["contact_phone"] == "+4737013000"
        [updated] = await registration_api.sql(
            "SELECT body FROM outbox WHERE event_type = 'tenant.updated' AND key = $1", r.json()["id"]
        )
        assert updated["body"]["data"]["contact_phone"] == "+4737013000"
        assert updated["body"]["data"]["name"] == r.json()["name"]
        bad = await http.patch(url, headers=registration_api.operator, json={"contact_phone": "12"})
        assert bad.status_code == 422 and "phone" in bad.json()["detail"]
        bad = await http.patch(url, headers=registration_api.operator, json={"contact_email": "not an address"})
        assert bad.status_code == 422
