"""Reports as CSV. Pure: no I/O.

UTF-8 with a byte-order mark, so that Excel recognises the encoding (æ, ø, å survive). With the
semicolon separator, which Norwegian Excel expects, decimals are written with a comma as well
(``0,75``); with the comma separator they use a point.

Every text cell is made inert for spreadsheets (OWASP's CSV-injection rule,
https://owasp.org/www-community/attacks/CSV_Injection): a cell that starts with ``=``, ``+``, ``-``,
``@``, TAB or CR (and ``|`` or ``%``) gets a leading apostrophe, so that a tenant called
``=HYPERLINK(...)`` is shown as text. ``defusedcsv`` does this for all but TAB and CR, which
``inert`` adds; numbers, negative ones and decimal commas included, stay numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from defusedcsv import csv

from services.reporting import figures, labels
from services.reporting.reports import NationalReport, TenantReport

Separator = Literal["semicolon", "comma"]
_CHARACTER = {"semicolon": ";", "comma": ","}
BOM = "\ufeff"
COLUMNS = (*figures.SHOWN_COUNTS, *figures.RATIOS)


def _cell(value: figures.Value | figures.Ratio | None, separator: Separator) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text.replace(".", ",") if separator == "semicolon" else text
    return str(value)


def _figures(cells: Mapping[str, figures.Value], separator: Separator) -> list[str]:
    """The row's counts (empty where unknown) and ratios (empty where there is nothing to divide by)."""
    ratios = figures.ratios(cells)
    return [_cell(figures.known(cells, name), separator) for name in figures.SHOWN_COUNTS] + [
        _cell(ratios[name], separator) for name in figures.RATIOS
    ]


def inert(text: str) -> str:
    """The cell as text a spreadsheet will not run: TAB and CR first get the apostrophe ``defusedcsv``
    gives ``= + - @ | %``."""
    return "'" + text if text[:1] in ("\t", "\r") else text


def _write(header: Sequence[str], rows: Iterable[Sequence[str]], separator: Separator) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=_CHARACTER[separator], lineterminator="\r\n")
    writer.writerow([inert(cell) for cell in header])
    writer.writerows([inert(cell) for cell in row] for row in rows)
    return BOM + out.getvalue()


_TOTAL: dict[labels.HeaderLanguage, str] = {"nb": "totalt", "nn": "totalt", "en": "total", "id": "total"}


def tenant_csv(report: TenantReport, separator: Separator = "semicolon", lang: labels.HeaderLanguage = "nb") -> str:
    """A row per meeting (named by its title), then a row of totals (which also counts notifications
    about no meeting). Headers in ``lang`` (nb, nn, en), or the column ids (``id``)."""
    header = labels.header(["meeting_id", "title", "date", "format", "status", *COLUMNS], lang)
    rows = [
        [m.meeting_id, m.title, m.date, m.format, m.status, *_figures(m.counts, separator)] for m in report.meetings
    ]
    rows.append([_TOTAL[lang], "", "", "", "", *_figures(report.totals, separator)])
    return _write(header, rows, separator)


def national_csv(report: NationalReport, separator: Separator = "semicolon", lang: labels.HeaderLanguage = "nb") -> str:
    """The nation, then a row per tenant, then a row per month; suppressed cells read '<5' or ':'.
    Headers in ``lang`` (nb, nn, en), or the column ids (``id``)."""
    header = labels.header(["row", "tenant", "name", "municipality_number", "month", *COLUMNS], lang)
    rows = [["nation", "", "", "", "", *_figures(report.nation, separator)]]
    for slug, cells in report.tenants.items():
        tenant = report.names[slug]
        rows.append(["tenant", slug, tenant.name, tenant.municipality_number, "", *_figures(cells, separator)])
    for month, cells in report.months.items():
        rows.append(["month", "", "", "", month, *_figures(cells, separator)])
    return _write(header, rows, separator)
