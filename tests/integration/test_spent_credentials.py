"""Issue 17, kind 4: a credential never outlives what it grants. Manage tokens after erasure and after a
cancellation, coordinator tokens after revocation or suspension, confirmation and erasure links after use,
invitation codes after rotation."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.factories import person_body
from tests.pages_support import submit
from tests.registration_support import RegistrationApi

pytestmark = pytest.mark.asyncio(loop_scope="session")


def pages(api: RegistrationApi) -> str:
    return api.base.removesuffix("/v1")


async def test_an_erased_persons_manage_tokens_answer_404_everywhere(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        first, other = await api.meeting(http, tenant), await api.meeting(http, tenant)
        domain = f"{uuid.uuid4().hex[:8]}.no"
        mine = (await api.sign_up(http, tenant, first, "resident", 1, domain)).json()
        also = (await api.sign_up(http, tenant, other, "resident", 1, domain)).json()
        assert mine["participant_id"] == also["participant_id"]
        pid = mine["participant_id"]
        asked = await http.delete(f"{api.base}/participants/{pid}", headers={"X-Manage-Token": mine["manage_token"]})
        assert asked.status_code == 202
        request_id, token = await api.erasure_link(pid)
        assert (await http.post(f"{api.base}/erasures/{request_id}/confirm", json={"token": token})).status_code == 204
        # The erasure link is spent too.
        assert (await http.post(f"{api.base}/erasures/{request_id}/confirm", json={"token": token})).status_code in (
            404,
            409,
        )
        assert (await http.get(f"{pages(api)}/erase/{request_id}", params={"token": token})).status_code in (404, 409)

        answers = {"rating": 5, "new_connection": True, "would_recommend": True}
        for reg in (mine, also):
            rid, header = reg["registration_id"], {"X-Manage-Token": reg["manage_token"]}
            assert (await http.get(f"{api.base}/registrations/{rid}", headers=header)).status_code == 404
            assert (await http.delete(f"{api.base}/registrations/{rid}", headers=header)).status_code == 404
            assert (
                await http.post(f"{api.base}/registrations/{rid}/feedback", headers=header, json=answers)
            ).status_code == 404
            assert (await http.delete(f"{api.base}/participants/{pid}", headers=header)).status_code == 404
            page = await http.get(f"{pages(api)}/manage/{rid}", params={"token": reg["manage_token"]})
            assert page.status_code == 404 and "/erase" not in page.text and "/cancel" not in page.text
            for action in ("cancel", "feedback", "erase"):
                posted = await submit(
                    http,
                    f"{pages(api)}/t/{tenant.slug}/meetings/{first}",  # any page with a form, for the CSRF token
                    f"{pages(api)}/manage/{rid}/{action}",
                    {"token": reg["manage_token"], "rating": "5"},
                )
                assert posted.status_code == 404, (action, posted.status_code)
        hashes = await api.sql("SELECT manage_token_hash FROM registrations WHERE participant_id = $1", uuid.UUID(pid))
        assert [r["manage_token_hash"] for r in hashes] == [None, None]
        # The coordinator still sees the anonymous rows, for the counts.
        assert (
            await http.get(f"{api.base}/registrations/{mine['registration_id']}", headers=tenant.headers)
        ).status_code == 200


async def test_erasure_cancels_without_a_cancellation_message(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant)
        person = (await api.sign_up(http, tenant, meeting, "resident", 1, f"{uuid.uuid4().hex[:8]}.no")).json()
        assert (
            await http.delete(f"{api.base}/participants/{person['participant_id']}", headers=tenant.headers)
        ).status_code == 204
        rows = await api.sql(
            "SELECT body->'data'->>'reason' AS reason FROM outbox WHERE event_type = 'registration.cancelled'"
            " AND body->'data'->>'registration_id' = $1",
            person["registration_id"],
        )
        assert [r["reason"] for r in rows] == ["erasure"]
        cancelled = person_body("resident", 2, f"{uuid.uuid4().hex[:8]}.no")
        other = (await api.sign_up(http, tenant, meeting, "resident", 2, **{"email": cancelled["email"]})).json()
        await http.delete(f"{api.base}/registrations/{other['registration_id']}", headers=tenant.headers)
        rows = await api.sql(
            "SELECT body->'data'->>'reason' AS reason FROM outbox WHERE event_type = 'registration.cancelled'"
            " AND body->'data'->>'registration_id' = $1",
            other["registration_id"],
        )
        assert [r["reason"] for r in rows] == [None]


async def test_a_cancelled_place_is_shown_but_nothing_acts_on_it(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant)
        person = (await api.sign_up(http, tenant, meeting, "resident", 1, f"{uuid.uuid4().hex[:8]}.no")).json()
        rid, header = person["registration_id"], {"X-Manage-Token": person["manage_token"]}
        assert (await http.delete(f"{api.base}/registrations/{rid}", headers=header)).status_code == 204
        view = await http.get(f"{api.base}/registrations/{rid}", headers=header)
        assert view.status_code == 200 and view.json()["status"] == "cancelled"
        page = await http.get(f"{pages(api)}/manage/{rid}", params={"token": person["manage_token"]})
        assert page.status_code == 200 and "cancelled" in page.text
        assert f"/manage/{rid}/cancel" not in page.text and f"/manage/{rid}/feedback" not in page.text
        # The meeting goes by; a cancelled place gives no feedback, and gets no place back.
        await api.sql("UPDATE meetings SET starts_at = now() - interval '3 hours' WHERE id = $1", uuid.UUID(meeting))
        answers = {"rating": 5, "new_connection": True, "would_recommend": True}
        refused = await http.post(f"{api.base}/registrations/{rid}/feedback", headers=header, json=answers)
        assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]
        page = await http.get(f"{pages(api)}/manage/{rid}", params={"token": person["manage_token"]})
        assert f"/manage/{rid}/feedback" not in page.text


async def test_revoked_and_suspended_coordinator_tokens_open_nothing(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant)
        person = (await api.sign_up(http, tenant, meeting, "resident", 1)).json()
        uses = [
            ("GET", f"/tenants/{tenant.slug}/meetings", None),
            ("GET", f"/meetings/{meeting}/registrations", None),
            ("GET", f"/registrations/{person['registration_id']}", None),
            ("POST", f"/meetings/{meeting}/registrations", person_body("resident", 2, "example.no")),
            ("POST", f"/meetings/{meeting}/close", None),
            ("GET", f"/meetings/{meeting}/seating", None),
        ]

        async def answers() -> list[int]:
            return [
                (await http.request(m, f"{api.base}{path}", headers=tenant.headers, json=body)).status_code
                for m, path, body in uses
            ]

        op = api.operator
        await http.post(f"{api.base}/tenants/{tenant.slug}/suspend", headers=op)
        assert await answers() == [401] * len(uses)
        await http.post(f"{api.base}/tenants/{tenant.slug}/reactivate", headers=op)
        await http.delete(f"{api.base}/tenants/{tenant.slug}/tokens/{tenant.token_id}", headers=op)
        assert await answers() == [401] * len(uses)
        rows = await api.sql("SELECT status FROM meetings WHERE id = $1", uuid.UUID(meeting))
        assert rows[0]["status"] == "published"


async def test_links_and_codes_stop_working_once_spent_or_replaced(registration_api: RegistrationApi) -> None:
    api = registration_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await api.tenant(http)
        meeting = await api.meeting(http, tenant)
        body = person_body("resident", 1, f"{uuid.uuid4().hex[:8]}.no")
        assert (await api.public_sign_up(http, meeting, body, confirm=False)).status_code == 202
        signup_id, token = await api.confirmation_link(body["email"])
        used = await http.post(f"{api.base}/signups/{signup_id}/confirm", json={"token": token})
        assert used.status_code == 200
        again = await http.post(f"{api.base}/signups/{signup_id}/confirm", json={"token": token})
        assert again.status_code == 409
        code = (await http.get(f"{api.base}/meetings/{meeting}", headers=tenant.headers)).json()["invitation_code"]
        await http.post(f"{api.base}/meetings/{meeting}/invitation-code", headers=tenant.headers)
        newcomer = person_body("newcomer", 2, f"{uuid.uuid4().hex[:8]}.no", invitation_code=code)
        assert (await http.post(f"{api.base}/meetings/{meeting}/registrations", json=newcomer)).status_code == 403
