"""The dashboards: one page per tenant and one for the nation, HTML with SVG charts, rendered here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from services.reporting import figures, labels
from services.reporting.charts import Series, bar_chart
from services.reporting.reports import NationalReport, TenantReport
from services.reporting.suppression import HIDDEN, SMALL, THRESHOLD

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals.update(counted=labels.counted, meetings_held=labels.meetings_held, known=figures.known)

CHARTS = ("meetings_held", "participants", "attendance_rate", "feedback", "reach", "new_connections")


def charts(months: Mapping[str, Mapping[str, figures.Value]]) -> dict[str, Markup]:
    """The six charts, one bar group per month, every month between the first and the last included
    (a month without meetings shows zeros, and no bar for a ratio it has nothing to divide by)."""
    empty = figures.counts({})
    categories = figures.month_axis(months)
    cells = [months.get(month, empty) for month in categories]
    ratios = [figures.ratios(c) for c in cells]

    def column(name: str) -> list[figures.Value]:
        return [c[name] for c in cells]

    def ratio(name: str) -> list[figures.Ratio]:
        return [r[name] for r in ratios]

    return {
        "meetings_held": bar_chart(
            "meetings_held", "Meetings held per month", categories, [Series("held", column("meetings_held"))]
        ),
        "participants": bar_chart(
            "participants",
            "Participants by group (attended)",
            categories,
            [Series("newcomers", column("newcomer_attended")), Series("residents", column("resident_attended"))],
        ),
        "attendance_rate": bar_chart(
            "attendance_rate",
            "Attendance rate (attended of those recorded)",
            categories,
            [Series("attendance rate", ratio("attendance_rate"))],
            percent=True,
        ),
        "feedback": bar_chart(
            "feedback",
            "Feedback: mean rating (1-5)",
            categories,
            [Series("mean rating", ratio("mean_rating"))],
            top=5,
        ),
        "reach": bar_chart(
            "reach",
            "Reach: attending residents here for the first time",
            categories,
            [Series("first-time share", [figures.reach_share_shown(c) for c in cells])],
            percent=True,
        ),
        "new_connections": bar_chart(
            "new_connections",
            "New connections (people who made one)",
            categories,
            [Series("new connections", column("feedback_new_connection"))],
        ),
    }


def _axis(report: NationalReport) -> list[str]:
    return figures.month_axis(report.months, report.first, report.last)


def tenant_page(report: TenantReport, name: str) -> str:
    return _templates.get_template("tenant.html").render(
        report=report,
        name=name,
        charts=charts(report.by_month()),
        totals=figures.nested(report.totals),
        rows=[(m, figures.ratios(m.counts)) for m in report.meetings],
    )


def national_page(report: NationalReport) -> str:
    return _templates.get_template("national.html").render(
        report=report,
        charts=charts({month: report.months.get(month, figures.counts({})) for month in _axis(report)}),
        nation=figures.nested(report.nation),
        # municipalities that held a meeting, not every one with a row (a cancelled meeting or a message)
        holding=sum(1 for cells in report.tenants.values() if cells["meetings_held"] not in (0, "0")),
        tenants=[(slug, report.names[slug], cells, figures.ratios(cells)) for slug, cells in report.tenants.items()],
        small=SMALL,
        hidden=HIDDEN,
        threshold=THRESHOLD,
    )
