"""Matching through the real broker: close -> proposed; swap -> new version; publish; a late
cancellation -> a re-match that changes only the affected pair; the seating plan with names."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from deploy.local.platform import PlatformConfig
from tests.factories import meeting_body, person_body
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def pairs_by_member(plan: dict[str, Any]) -> dict[str, frozenset[str]]:
    out = {}
    for pair in plan["pairs"]:
        ids = frozenset(m["registration_id"] for m in pair["members"])
        for rid in ids:
            out[rid] = ids
    return out


async def test_propose_swap_publish_and_rematch_after_a_late_cancellation(platform: PlatformConfig) -> None:
    api = platform.url("registration") + "/v1"
    operator = {"Authorization": f"Bearer {platform.operator_token}"}
    slug = f"pairs-{uuid.uuid4().hex[:6]}"
    domain = f"{slug}.example.no"
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(
            f"{api}/tenants",
            headers=operator,
            json={"slug": slug, "name": "Parkommune", "municipality_number": str(1000 + hash(slug) % 8999)},
        )
        token = (await http.post(f"{api}/tenants/{slug}/tokens", headers=operator)).json()["token"]
        coordinator = {"Authorization": f"Bearer {token}"}
        meeting = await http.post(
            f"{api}/tenants/{slug}/meetings",
            headers=coordinator,
            json=meeting_body(capacity={"newcomer": 5, "resident": 5}),
        )
        meeting_id = meeting.json()["id"]
        await http.post(f"{api}/meetings/{meeting_id}/publish", headers=coordinator)
        registrations: dict[str, dict[str, Any]] = {}
        for group, count in (("newcomer", 5), ("resident", 6)):
            for i in range(count):
                r = await http.post(
                    f"{api}/meetings/{meeting_id}/registrations",
                    headers=coordinator,
                    json=person_body(group, i, domain),
                )
                registrations[r.json()["registration_id"]] = {
                    "group": group,
                    "status": r.json()["status"],
                    "token": r.json()["manage_token"],
                }
        waiting = [rid for rid, r in registrations.items() if r["status"] == "waitlisted"]
        assert len(waiting) == 1
        await http.post(f"{api}/meetings/{meeting_id}/close", headers=coordinator)

        async def plan_version(version: int, status: str = "proposed") -> dict[str, Any] | None:
            r = await http.get(f"{api}/meetings/{meeting_id}/seating", headers=coordinator)
            body = r.json() if r.status_code == 200 else None
            return body if body and body["version"] == version and body["status"] == status else None

        # 1. close -> proposed
        v1 = await eventually(lambda: plan_version(1))
        assert len(v1["pairs"]) == 5 and v1["unpaired"] == []
        assert all(m["name"] and m["seat"] for p in v1["pairs"] for m in p["members"])
        assert any(p["reasons"] for p in v1["pairs"])

        # 2. swap two residents -> version 2, the two changed pairs locked, the rest untouched
        resident = {
            p["number"]: next(m["registration_id"] for m in p["members"] if m["group"] == "resident")
            for p in v1["pairs"]
        }
        a, b = resident[1], resident[2]
        bad = await http.post(
            f"{api}/meetings/{meeting_id}/pairs/swap",
            headers=coordinator,
            json={"registration_ids": [a, next(iter(pairs_by_member(v1)[a] - {a}))]},
        )
        assert bad.status_code == 422 and "two newcomers or two residents" in bad.json()["detail"]
        swapped = await http.post(
            f"{api}/meetings/{meeting_id}/pairs/swap", headers=coordinator, json={"registration_ids": [a, b]}
        )
        assert swapped.status_code == 202, swapped.text
        v2 = await eventually(lambda: plan_version(2))
        before, after = pairs_by_member(v1), pairs_by_member(v2)
        assert after[a] == (before[b] - {b}) | {a}
        assert after[b] == (before[a] - {a}) | {b}
        untouched = set(before) - before[a] - before[b]
        assert all(after[rid] == before[rid] for rid in untouched)
        assert sorted(p["locked"] for p in v2["pairs"]) == [False, False, False, True, True]

        # 3. publish the reviewed version
        stale = await http.post(f"{api}/meetings/{meeting_id}/pairs/publish", headers=coordinator, json={"version": 1})
        assert stale.status_code == 409
        published = await http.post(
            f"{api}/meetings/{meeting_id}/pairs/publish", headers=coordinator, json={"version": 2}
        )
        assert published.status_code == 202
        await eventually(lambda: plan_version(2, "published"))

        # 4. a late cancellation in an unlocked pair: the waiting resident takes the place and the pair
        unlocked = next(p for p in v2["pairs"] if not p["locked"])
        leaving = next(m["registration_id"] for m in unlocked["members"] if m["group"] == "resident")
        cancel = await http.delete(
            f"{api}/registrations/{leaving}", headers={"X-Manage-Token": registrations[leaving]["token"]}
        )
        assert cancel.status_code == 204
        v3 = await eventually(lambda: plan_version(3, "published"))
        after3 = pairs_by_member(v3)
        partner = next(m["registration_id"] for m in unlocked["members"] if m["group"] == "newcomer")
        assert after3[partner] == frozenset({partner, waiting[0]})
        assert leaving not in after3
        for rid, members in after.items():
            if rid not in (leaving, partner):
                assert after3[rid] == members
        assert sorted(v3["changed"]) == sorted([partner, waiting[0]])
        # least change at the table too: everyone else keeps their seat, and no seat is left empty
        seat2 = {m["registration_id"]: m["seat"] for p in v2["pairs"] for m in p["members"]}
        seat3 = {m["registration_id"]: m["seat"] for p in v3["pairs"] for m in p["members"]}
        assert all(seat3[rid] == seat2[rid] for rid in seat3 if rid not in (partner, waiting[0]))
        assert sorted(seat3.values()) == list(range(1, len(seat3) + 1))

        page = await http.get(f"{api}/meetings/{meeting_id}/seating?format=html", headers=coordinator)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Newcomer 0" in page.text and "publisert" in page.text
        assert "UTC" not in page.text  # the tenant's clock (issue 17, kind 7)
