"""The seating plan with names, as JSON and as a printable HTML page."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from jinja2 import Environment, FileSystemLoader, select_autoescape

_templates = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape())


def plan(meeting: asyncpg.Record, row: asyncpg.Record, names: dict[uuid.UUID, str | None]) -> dict[str, Any]:
    proposal = row["proposal"]

    def named(member: dict[str, Any]) -> dict[str, Any]:
        return {**member, "name": names.get(uuid.UUID(member["participant_id"]))}

    return {
        "meeting_id": str(meeting["id"]),
        "version": row["version"],
        "status": proposal.get("status", "proposed"),
        "total_score": proposal.get("total_score", 0.0),
        "changed": proposal.get("changed", []),
        "pairs": [{**p, "members": [named(m) for m in p["members"]]} for p in proposal["pairs"]],
        "unpaired": [named(u) for u in proposal.get("unpaired", [])],
    }


def render(meeting: asyncpg.Record, seating: dict[str, Any]) -> str:
    starts = meeting["starts_at"].astimezone(ZoneInfo(meeting["timezone"]))  # the tenant's clock, not UTC
    return _templates.get_template("seating.html").render(meeting=meeting, seating=seating, starts=starts)
