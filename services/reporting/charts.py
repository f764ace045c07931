"""Server-rendered SVG bar charts. Pure: no I/O.

Every bar carries its number in ``data-value`` (and its series and category as fixed ids: ``data-series``,
``data-category`` such as "2027-03"), so a page can be read by machines as well as by eye, in any language; a
value the report hides is drawn as no bar with its marker instead. What a person reads (the title, the
series' names, the months) comes in the page's language from the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 28, 40
PALETTE = ("#1f6f8b", "#e3a33b", "#6a994e", "#9c4f96")

Point = float | int | str | None  # str: a suppression marker; None: nothing to show


@dataclass(frozen=True)
class Series:
    """One series: ``name`` its fixed id (``data-series``), ``values`` one per category, ``label`` the name a
    person reads (default: ``name``)."""

    name: str
    values: Sequence[Point]
    label: str = ""

    @property
    def shown(self) -> str:
        return self.label or self.name


def _label(value: float, percent: bool, decimal: str = ".") -> str:
    if percent:
        return f"{value * 100:.0f} %"
    return f"{value:g}".replace(".", decimal)


def bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    percent: bool = False,
    top: float | None = None,
    category_labels: Sequence[str] | None = None,
    decimal: str = ".",
    markers: Mapping[str, str] | None = None,
) -> Markup:
    """Grouped bars: per category one bar for each series. ``top`` fixes the scale (e.g. 5 for ratings);
    ``category_labels`` are the categories as a person reads them (default: the ids); ``decimal`` the
    decimal sign of the numbers a person reads ("," in Norwegian); ``markers`` the words a person reads for a
    value's marker (e.g. {"unknown": "ukjent"}; the marker itself stays in ``data-value``)."""
    markers = markers or {}
    shown = list(category_labels) if category_labels is not None else list(categories)
    numbers = [float(v) for s in series for v in s.values if isinstance(v, int | float)]
    top = top or (1.0 if percent else max([*numbers, 1.0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(categories), 1)
    bar_w = max(2.0, slot * 0.8 / max(len(series), 1))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(chart_id)}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" class="chart-title" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#444"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" font-size="10">{_label(top, percent, decimal)}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for i, category in enumerate(categories):
        x0 = LEFT + i * slot + slot * 0.1
        parts.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle"'
            f' font-size="10">{escape(shown[i])}</text>'
        )
        for j, s in enumerate(series):
            value = s.values[i]
            x = x0 + j * bar_w
            data = f'data-series="{escape(s.name)}" data-category="{escape(category)}"'
            if isinstance(value, int | float):
                h = plot_h * float(value) / top if top else 0.0
                parts.append(
                    f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w * 0.9:.1f}" height="{h:.1f}"'
                    f' fill="{PALETTE[j % len(PALETTE)]}" {data} data-value="{value}">'
                    f"<title>{escape(s.shown)}, {escape(shown[i])}:"
                    f" {_label(float(value), percent, decimal)}</title></rect>"
                )
            elif value is not None:
                parts.append(
                    f'<text x="{x + bar_w * 0.45:.1f}" y="{TOP + plot_h - 3}" text-anchor="middle" font-size="9"'
                    f' {data} data-value="{escape(value)}">{escape(markers.get(value, value))}</text>'
                )
    for j, s in enumerate(series):
        x = LEFT + j * 150
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="10">{escape(s.shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
