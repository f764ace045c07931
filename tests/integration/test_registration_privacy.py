"""Tenant isolation (API and row-level security), erasure and retention, against real PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.registration.usecases import participants
from shared import db
from tests.factories import person_body
from tests.registration_support import RegistrationApi, Tenant

pytestmark = pytest.mark.asyncio(loop_scope="session")
APP_ROLE = "fmf_registration_app"

# A valid body for every route that takes one, so that the answer is about access, not about the body.
BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("POST", "/v1/tenants/{slug}/meetings"): {
        "title": "x",
        "format": "standard",
        "starts_at": "2031-03-04T10:00:00+01:00",
        "venue": {"name": "a", "address": "b", "kind": "library"},
    },
    ("PATCH", "/v1/tenants/{slug}"): {"retention_days": 30},
    ("PATCH", "/v1/meetings/{meeting_id}"): {"title": "y"},
    ("POST", "/v1/meetings/{meeting_id}/registrations"): {
        "group": "resident",
        "name": "Eve",
        "email": "eve@example.no",
        "consent": True,
    },
    ("POST", "/v1/registrations/{registration_id}/attendance"): {"status": "attended"},
    ("POST", "/v1/registrations/{registration_id}/feedback"): {
        "rating": 3,
        "new_connection": False,
        "would_recommend": False,
    },
    ("POST", "/v1/meetings/{meeting_id}/pairs/swap"): {"registration_ids": [str(uuid.uuid4()), str(uuid.uuid4())]},
    ("POST", "/v1/meetings/{meeting_id}/pairs/lock"): {"registration_id": str(uuid.uuid4())},
    ("POST", "/v1/meetings/{meeting_id}/pairs/publish"): {"version": 1},
    ("POST", "/v1/signups/{signup_id}/confirm"): {"token": "not-the-token-of-this-link"},
    ("POST", "/v1/erasures/{request_id}/confirm"): {"token": "not-the-token-of-this-link"},
}
NO_TENANT_DATA = {  # nothing of a tenant to reach
    ("GET", "/v1/vocabulary"),
    ("POST", "/v1/tenants"),
    ("POST", "/v1/console/sign-in-links"),  # a link for the caller's own token only
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}


async def tenant_with_data(api: RegistrationApi, http: httpx.AsyncClient) -> tuple[Tenant, dict[str, str]]:
    tenant = await api.tenant(http)
    meeting = await api.meeting(http, tenant)
    person = (await api.sign_up(http, tenant, meeting, "resident", 1, f"{tenant.slug}.example.no")).json()
    waiting = person_body("resident", 2, f"{tenant.slug}.example.no")
    assert (await api.public_sign_up(http, meeting, waiting, confirm=False)).status_code == 202
    signup_id, _ = await api.confirmation_link(waiting["email"])
    ids = {
        "signup_id": signup_id,
        "request_id": str(uuid.uuid4()),  # an erasure request is reached only with its link's token
        "slug": tenant.slug,
        "meeting_id": meeting,
        "registration_id": person["registration_id"],
        "participant_id": person["participant_id"],
        "token_id": tenant.token_id,
    }
    return tenant, ids


async def test_a_coordinator_gets_404_on_every_route_with_another_tenants_ids(
    registration_api: RegistrationApi,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        a, _ = await tenant_with_data(registration_api, http)
        b, b_ids = await tenant_with_data(registration_api, http)
        spec = (await http.get(registration_api.config.url("registration") + "/openapi.json")).json()
        checked = 0
        for path, operations in spec["paths"].items():
            for method in operations:
                key = (method.upper(), path)
                if key in NO_TENANT_DATA:
                    continue
                params = re.findall(r"{(\w+)}", path)
                assert params or path == "/v1/tenants", f"{key}: a route without ids must be listed above"
                url = registration_api.config.url("registration") + path.format(**{p: b_ids[p] for p in params})
                body = BODIES.get(key)
                needs_body = "requestBody" in operations[method]
                assert not needs_body or body is not None, f"{key}: add a valid body to BODIES"
                r = await http.request(method.upper(), url, headers=a.headers, json=body)
                assert r.status_code == 404, f"{key} answered {r.status_code}: {r.text}"
                leaked = (f"Kommune {b_ids['slug']}", "Resident 1", "example.no", b.id)
                assert not [x for x in leaked if x in r.text], f"{key} leaked data: {r.text}"
                checked += 1
        assert checked >= 20
        # B's data is untouched and B still sees it
        mine = await http.get(
            f"{registration_api.base}/meetings/{b_ids['meeting_id']}/registrations", headers=b.headers
        )
        assert [r["name"] for r in mine.json()] == ["Resident 1"]


async def test_row_level_security_is_a_second_wall(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        a, a_ids = await tenant_with_data(registration_api, http)
        b, b_ids = await tenant_with_data(registration_api, http)
    pool = await db.create_pool(registration_api.database_url, 1, 2, role=APP_ROLE)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == APP_ROLE
            assert not await conn.fetchval("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE)
            assert await conn.fetchval("SELECT count(*) FROM meetings") == 0  # no tenant set: nothing visible
            async with conn.transaction():
                await db.set_tenant(conn, a.id)
                seen = {str(r["tenant_id"]) for r in await conn.fetch("SELECT tenant_id FROM registrations")}
                assert seen == {a.id}
                assert (
                    await conn.fetchval(
                        "SELECT count(*) FROM participants WHERE id = $1", uuid.UUID(b_ids["participant_id"])
                    )
                    == 0
                )
                updated = await conn.execute(
                    "UPDATE meetings SET title = 'hijacked' WHERE id = $1", uuid.UUID(b_ids["meeting_id"])
                )
                assert updated == "UPDATE 0"
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # WITH CHECK: no rows into another tenant
                async with conn.transaction():
                    await db.set_tenant(conn, a.id)
                    await conn.execute(
                        "UPDATE meetings SET tenant_id = $2 WHERE id = $1",
                        uuid.UUID(a_ids["meeting_id"]),
                        uuid.UUID(b.id),
                    )
    finally:
        await pool.close()
    owner = await registration_api.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'registrations'")
    assert owner[0]["tableowner"] != APP_ROLE


async def test_erasure_removes_personal_data_and_keeps_the_counts(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        meeting = await registration_api.meeting(http, tenant, capacity={"newcomer": 1, "resident": 1})
        leaving = (await registration_api.sign_up(http, tenant, meeting, "resident", 1, "erase.example.no")).json()
        waiting = (await registration_api.sign_up(http, tenant, meeting, "resident", 2, "erase.example.no")).json()
        r = await http.delete(
            f"{registration_api.base}/participants/{leaving['participant_id']}",
            headers={"X-Manage-Token": waiting["manage_token"]},
        )
        assert r.status_code == 404  # someone else's manage token
        r = await http.delete(
            f"{registration_api.base}/participants/{leaving['participant_id']}",
            headers={"X-Manage-Token": leaving["manage_token"]},
        )
        assert r.status_code == 202  # nothing erased yet: a link to confirm goes to the person's own contact
        still = await registration_api.sql(
            "SELECT name FROM participants WHERE id = $1", uuid.UUID(leaving["participant_id"])
        )
        assert still[0]["name"] == "Resident 1"
        request_id, token = await registration_api.erasure_link(leaving["participant_id"])
        wrong = await http.post(f"{registration_api.base}/erasures/{request_id}/confirm", json={"token": "x" * 43})
        assert wrong.status_code == 404
        r = await http.post(f"{registration_api.base}/erasures/{request_id}/confirm", json={"token": token})
        assert r.status_code == 204
        again = await http.post(f"{registration_api.base}/erasures/{request_id}/confirm", json={"token": token})
        assert again.status_code == 409
        person = await registration_api.sql(
            "SELECT * FROM participants WHERE id = $1", uuid.UUID(leaving["participant_id"])
        )
        assert (person[0]["name"], person[0]["email"], person[0]["phone"], person[0]["profile"]) == (
            None,
            None,
            None,
            {},
        )
        assert person[0]["erased_at"] is not None
        rows = await registration_api.sql(
            'SELECT status, "group" FROM registrations WHERE meeting_id = $1 ORDER BY signed_up_at', uuid.UUID(meeting)
        )
        assert [(r["status"], r["group"]) for r in rows] == [("cancelled", "resident"), ("confirmed", "resident")]
        events = await registration_api.sql(
            "SELECT event_type, key, body FROM outbox WHERE key LIKE $1 || '%' OR key = $2 ORDER BY seq",
            leaving["participant_id"],
            meeting,
        )
        types = [(e["event_type"], e["key"]) for e in events if e["event_type"] != "meeting.created"]
        pid, rid = leaving["participant_id"], leaving["registration_id"]
        assert ("participant.erased", pid) in types
        assert ("tombstone", pid) in types and ("tombstone", f"{pid}/{rid}") in types
        assert ("registration.promoted", meeting) in types
        assert all(e["body"] is None for e in events if e["event_type"] == "tombstone")
        assert ("tombstone", f"erasure/{request_id}") in [
            (e["event_type"], e["key"])
            for e in await registration_api.sql(
                "SELECT event_type, key FROM outbox WHERE key = $1", f"erasure/{request_id}"
            )
        ]
        # The outbox keeps no copy of the contact, the manage link or the erasure token.
        assert not [e for e in types if e[0].startswith("contact.")]


async def test_retention_erases_only_people_without_a_later_meeting(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        await http.patch(
            f"{registration_api.base}/tenants/{tenant.slug}",
            headers=registration_api.operator,
            json={"retention_days": 30},
        )
        early, late = await registration_api.meeting(http, tenant), await registration_api.meeting(http, tenant)
        domain = f"{tenant.slug}.example.no"
        only_early = (await registration_api.sign_up(http, tenant, early, "resident", 1, domain)).json()
        both = (await registration_api.sign_up(http, tenant, early, "resident", 2, domain)).json()
        await registration_api.sign_up(http, tenant, late, "resident", 2, domain)
        # The early meeting took place 40 days ago; the late one is 10 days ahead.
        await registration_api.sql(
            "UPDATE meetings SET starts_at = now() - interval '40 days' WHERE id = $1", uuid.UUID(early)
        )
    pool = await db.create_pool(registration_api.database_url, 1, 2, role=APP_ROLE)
    try:
        assert await participants.erase_expired(pool, at=datetime.now(UTC)) >= 1
        erased = await registration_api.sql(
            "SELECT id FROM participants WHERE tenant_id = $1 AND erased_at IS NOT NULL", uuid.UUID(tenant.id)
        )
        assert {str(r["id"]) for r in erased} == {only_early["participant_id"]}
        # Move the clock past the late meeting + 30 days: now the other one goes too.
        assert await participants.erase_expired(pool, at=datetime.now(UTC) + timedelta(days=45)) >= 1
        erased = await registration_api.sql(
            "SELECT id FROM participants WHERE tenant_id = $1 AND erased_at IS NOT NULL", uuid.UUID(tenant.id)
        )
        assert {str(r["id"]) for r in erased} == {only_early["participant_id"], both["participant_id"]}
        reasons = await registration_api.sql(
            "SELECT body->'data'->>'reason' AS reason FROM outbox WHERE event_type = 'participant.erased' AND key = $1",
            both["participant_id"],
        )
        assert [r["reason"] for r in reasons] == ["retention"]
    finally:
        await pool.close()
