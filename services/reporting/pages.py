"""The dashboards: one page per tenant and one for the nation, HTML with SVG charts, rendered here in the
page's language (nb, nn, en) with the platform's catalogues (``shared/i18n.py``, the same as registration's
pages): titles, series, months, table headers, statuses and the notes on hidden counts. The charts' data
attributes keep fixed ids, so that a machine reads any language's page alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from services.reporting import figures, labels
from services.reporting.charts import Series, bar_chart
from services.reporting.reports import NationalReport, TenantReport
from services.reporting.suppression import HIDDEN, SMALL, THRESHOLD
from shared import i18n

TEMPLATES = Path(__file__).with_name("templates")
CHARTS = ("meetings_held", "participants", "attendance_rate", "feedback", "reach", "new_connections")
# The switch's names of the languages, each in itself.
LANGUAGE_NAMES = {"nb": "Bokmål", "nn": "Nynorsk", "en": "English"}


@lru_cache
def environment(language: str) -> Environment:
    """The dashboards' templates with ``language``'s translations installed (``jinja2.ext.i18n``, new-style
    gettext), made once per language."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    lang = labels.language_of(language)
    env.globals.update(
        counted=lambda n, noun: labels.counted(n, noun, lang),
        meetings_held=lambda held, total: labels.meetings_held(held, total, lang),
        known=figures.known,
        day=lambda text: long_date(text, language),
        decimal=lambda value: decimal(value, language),
        statuses=labels.MEETING_STATUS,
        formats=labels.FORMATS,
    )
    return env


def month_name(month: str, language: str) -> str:
    """A month id ("2027-03") as a person reads it: «mar. 2027», "Mar 2027"."""
    return format_date(date(int(month[:4]), int(month[5:7]), 1), "MMM y", locale=language)


def long_date(text: str, language: str) -> str:
    """A local date ("2027-03-02") in words: «2. mars 2027», "March 2, 2027"; as given when it is none."""
    try:
        return format_date(date.fromisoformat(text), "long", locale=language)
    except ValueError:
        return text


def decimal(value: Any, language: str) -> str:
    """A number with the language's decimal sign ("4,25" in Norwegian); anything else as it is."""
    if isinstance(value, float):
        return f"{value:g}".replace(".", "," if language in ("nb", "nn") else ".")
    return str(value)


def charts(
    months: Mapping[str, Mapping[str, figures.Value]], language: str = "en", gettext: Callable[[str], str] | None = None
) -> dict[str, Markup]:
    """The six charts, one bar group per month, every month between the first and the last included
    (a month without meetings shows zeros, and no bar for a ratio it has nothing to divide by). Titles,
    series names and months in ``language`` through ``gettext`` (default: that language's catalogue)."""
    _ = gettext or i18n.translations(language).gettext
    empty = figures.counts({})
    categories = figures.month_axis(months)
    shown = [month_name(m, language) for m in categories]
    sign = "," if language in ("nb", "nn") else "."
    markers = {figures.UNKNOWN: _(labels.UNKNOWN)}
    cells = [months.get(month, empty) for month in categories]
    ratios = [figures.ratios(c) for c in cells]

    def column(name: str) -> list[figures.Value]:
        return [c[name] for c in cells]

    def ratio(name: str) -> list[figures.Ratio]:
        return [r[name] for r in ratios]

    def series(name: str, values: Any) -> Series:
        return Series(name, values, _(labels.SERIES[name]))

    def chart(chart_id: str, lines: list[Series], **options: Any) -> Markup:
        title = _(labels.CHART_TITLES[chart_id])
        return bar_chart(
            chart_id, title, categories, lines, category_labels=shown, decimal=sign, markers=markers, **options
        )

    return {
        "meetings_held": chart("meetings_held", [series("held", column("meetings_held"))]),
        "participants": chart(
            "participants",
            [series("newcomers", column("newcomer_attended")), series("residents", column("resident_attended"))],
        ),
        "attendance_rate": chart(
            "attendance_rate", [series("attendance rate", ratio("attendance_rate"))], percent=True
        ),
        "feedback": chart("feedback", [series("mean rating", ratio("mean_rating"))], top=5),
        "reach": chart(
            "reach", [series("first-time share", [figures.reach_share_shown(c) for c in cells])], percent=True
        ),
        "new_connections": chart("new_connections", [series("new connections", column("feedback_new_connection"))]),
    }


def _axis(report: NationalReport) -> list[str]:
    return figures.month_axis(report.months, report.first, report.last)


def _common(language: str, switch: Mapping[str, str] | None) -> dict[str, Any]:
    return {
        "lang": language,
        "dir": i18n.direction(language),
        "switch": [(code, LANGUAGE_NAMES.get(code, code), href) for code, href in (switch or {}).items()],
    }


def tenant_page(report: TenantReport, name: str, language: str = "en", switch: Mapping[str, str] | None = None) -> str:
    """The tenant's dashboard in ``language``; ``switch``: {language: the same page's address in it}."""
    return (
        environment(language)
        .get_template("tenant.html")
        .render(
            report=report,
            name=name,
            charts=charts(report.by_month(), language),
            totals=figures.nested(report.totals),
            rows=[(m, figures.ratios(m.counts)) for m in report.meetings],
            **_common(language, switch),
        )
    )


def national_page(report: NationalReport, language: str = "en", switch: Mapping[str, str] | None = None) -> str:
    """The nation's dashboard in ``language``; ``switch`` as for ``tenant_page``."""
    return (
        environment(language)
        .get_template("national.html")
        .render(
            report=report,
            charts=charts({month: report.months.get(month, figures.counts({})) for month in _axis(report)}, language),
            nation=figures.nested(report.nation),
            # municipalities that held a meeting, not every one with a row (a cancelled meeting or a message)
            holding=sum(1 for cells in report.tenants.values() if cells["meetings_held"] not in (0, "0")),
            tenants=[
                (slug, report.names[slug], cells, figures.ratios(cells)) for slug, cells in report.tenants.items()
            ],
            small=SMALL,
            hidden=HIDDEN,
            threshold=THRESHOLD,
            **_common(language, switch),
        )
    )


def problem_page(status: int, language: str = "en") -> str:
    """The page a browser gets for a dashboard it may not open: 401 (a grant expired or used, no sign-in) or
    404 (not this person's, or absent)."""
    return environment(language).get_template("problem.html").render(status=status, **_common(language, None))
