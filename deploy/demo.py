"""``fmf demo``: one whole meeting through the running platform, printed step by step."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

INTERESTS = ["football", "cooking", "hiking", "music", "reading", "gardening", "technology", "crafts"]


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json() if response.content else None


def run_demo(api: httpx.Client, slug: str, people: int, echo: Callable[[str], None]) -> dict[str, Any]:
    created = api.post(
        "/tenants", json={"slug": slug, "name": f"{slug.title()} kommune", "municipality_number": "9999"}
    )
    if created.status_code not in (201, 409):
        created.raise_for_status()
    # A token for this run only, revoked when it ends however it ends: a demo run must not leave one
    # more valid coordinator token behind each time (issue 17, kind 4).
    issued = _ok(api.post(f"/tenants/{slug}/tokens"))
    try:
        return _run(api, slug, {"Authorization": f"Bearer {issued['token']}"}, people, echo)
    finally:
        api.delete(f"/tenants/{slug}/tokens/{issued['token_id']}")


def _run(
    api: httpx.Client, slug: str, coordinator: dict[str, str], people: int, echo: Callable[[str], None]
) -> dict[str, Any]:
    starts = (datetime.now(ZoneInfo("Europe/Oslo")) + timedelta(days=14)).replace(
        hour=11, minute=0, second=0, microsecond=0
    )
    meeting = _ok(
        api.post(
            f"/tenants/{slug}/meetings",
            headers=coordinator,
            json={
                "title": "Folk møter folk på biblioteket",
                "format": "standard",
                "starts_at": starts.isoformat(),
                "venue": {"name": "Biblioteket", "address": "Torvet 6", "kind": "library"},
                "capacity": {"newcomer": people, "resident": people},
            },
        )
    )
    meeting_id = meeting["id"]
    echo(f"meeting {meeting_id} on {starts:%d.%m.%Y %H:%M}")
    _ok(api.post(f"/meetings/{meeting_id}/publish", headers=coordinator))
    run = int(time.time())
    # The coordinator signs everyone up: the demo is about the meeting, not about public sign-up (whose
    # places wait for each person to open the link in their confirmation message).
    for i in range(people):
        for group in ("newcomer", "resident"):
            signed_up = _ok(
                api.post(
                    f"/meetings/{meeting_id}/registrations",
                    headers=coordinator,
                    json={
                        "group": group,
                        "name": f"{group.title()} {i + 1}",
                        "email": f"{group}{i}.{run}@demo.example.no",
                        "language": "nb",
                        "consent": True,
                        "norwegian_level": "B1" if group == "newcomer" else None,
                        "interests": [INTERESTS[i % 8], INTERESTS[(i * 3 + 1) % 8]],
                        "languages": ["nb", "en"],
                    },
                )
            )
            if signed_up["status"] != "confirmed":
                raise RuntimeError(f"{group} {i + 1} was not given a place: {signed_up}")
    echo(f"{people} newcomers and {people} residents signed up")
    _ok(api.post(f"/meetings/{meeting_id}/close", headers=coordinator))
    plan: dict[str, Any] | None = None
    for _ in range(120):
        r = api.get(f"/meetings/{meeting_id}/seating", headers=coordinator)
        if r.status_code == 200:
            plan = r.json()
            break
        time.sleep(0.5)
    if plan is None:
        raise RuntimeError("no pairs were proposed within a minute; is matching running?")
    _ok(api.post(f"/meetings/{meeting_id}/pairs/publish", headers=coordinator, json={"version": plan["version"]}))
    for pair in plan["pairs"]:
        names = " + ".join(f"{m['name']} (seat {m['seat']})" for m in pair["members"])
        echo(f"pair {pair['number']:>2}: {names}  — {'; '.join(pair['reasons']) or 'no shared interests'}")
    echo(f"seating plan: {seating_url(api, meeting_id)}")
    return plan


def seating_url(api: httpx.Client, meeting_id: str) -> str:
    """The printable seating plan's address, joined as the client joins its requests: ``api.base_url``
    ends in '/', so pasting a path after it gave '//meetings/...', which answers 404 (issue 17, kind 8)."""
    return str(api.build_request("GET", f"/meetings/{meeting_id}/seating", params={"format": "html"}).url)
