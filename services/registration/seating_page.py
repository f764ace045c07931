"""The seating plan with names as a printable HTML page."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.registration.views import SeatingView

_templates = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape())


def render(seating: SeatingView) -> str:
    """The page of ``seating``: times in the tenant's clock, not UTC."""
    return _templates.get_template("seating.html").render(
        meeting=seating.meeting, seating=seating.plan, starts=seating.meeting.local_starts
    )
