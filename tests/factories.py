"""Builders of valid request bodies for tests and benchmarks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")


def daytime_start(days_ahead: int = 10, hour: int = 10) -> datetime:
    day = datetime.now(OSLO) + timedelta(days=days_ahead)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def meeting_body(title: str = "Kaffe og prat på biblioteket", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title,
        "format": "standard",
        "starts_at": daytime_start().isoformat(),
        "venue": {"name": "Arendal bibliotek", "address": "Torvet 6, 4836 Arendal", "kind": "library"},
    }
    body.update(overrides)
    return body


INTERESTS = ["football", "cooking", "hiking", "music", "reading", "gardening", "technology", "crafts"]


def person_body(group: str, i: int, domain: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "group": group,
        "name": f"{group.title()} {i}",
        "email": f"{group}{i}@{domain}",
        "language": ["nb", "nn", "en"][i % 3],
        "consent": True,
        "interests": [INTERESTS[i % len(INTERESTS)], INTERESTS[(i * 3 + 1) % len(INTERESTS)]],
        "occupation_field": "health_care" if i % 2 else "education",
        "languages": ["nb", "en"],
        "age_band": "35-44",
        "first_time": i % 2 == 0,
    }
    if group == "newcomer":
        body["norwegian_level"] = "A2"
    body.update(overrides)
    return body
