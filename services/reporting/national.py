"""The national report's table: tenants, the nation and the months, with small cells suppressed. Pure.

The table's rows are each tenant, the nation and each month; its cells are the counts of
``figures``. The additive relations the suppression rule must respect:

- within every row: a group total is newcomers plus residents; ``signed_up = confirmed +
  waitlisted + cancelled``; ``confirmed = attended + no_show + not recorded``; feedback answers
  split into yes and no; attending residents split into those who answered the first-time question
  and those who did not, and those who answered into first-timers and the rest;
- across rows: the nation is the sum of the tenants, and the sum of the months.

"Not recorded", "no" answers and residents who have been before are not published but implied,
so they are protected too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from services.reporting import figures
from services.reporting.suppression import Relation, suppress

NATION: Final = ("nation",)

# Implied cells: not shown, but each is the difference of shown ones.
_IMPLIED: Final = {
    **{f"{g}_not_recorded": (f"{g}_confirmed", f"{g}_attended", f"{g}_no_show") for g in figures.GROUPS_AND_TOTAL},
    "feedback_no_new_connection": ("feedback_responses", "feedback_new_connection"),
    "feedback_not_recommend": ("feedback_responses", "feedback_would_recommend"),
    "reach_unanswered": ("resident_attended", "reach_answered"),
    "reach_returning": ("reach_answered", "reach_first_time"),
}
PROTECTED: Final = tuple(c for c in figures.SHOWN_COUNTS if c not in figures.NOT_PEOPLE)


def _row_relations(row: tuple[str, ...]) -> list[Relation]:
    def cell(name: str) -> tuple[tuple[str, ...], str]:
        return (row, name)

    relations = [
        Relation(cell(f"total_{m}"), (cell(f"newcomer_{m}"), cell(f"resident_{m}")))
        for m in (*figures.STATUS_MEASURES, "not_recorded")
    ]
    for g in figures.GROUPS_AND_TOTAL:
        relations.append(
            Relation(cell(f"{g}_signed_up"), (cell(f"{g}_confirmed"), cell(f"{g}_waitlisted"), cell(f"{g}_cancelled")))
        )
        relations.append(
            Relation(cell(f"{g}_confirmed"), (cell(f"{g}_attended"), cell(f"{g}_no_show"), cell(f"{g}_not_recorded")))
        )
    relations += [
        Relation(cell("feedback_responses"), (cell("feedback_new_connection"), cell("feedback_no_new_connection"))),
        Relation(cell("feedback_responses"), (cell("feedback_would_recommend"), cell("feedback_not_recommend"))),
        Relation(cell("resident_attended"), (cell("reach_answered"), cell("reach_unanswered"))),
        Relation(cell("reach_answered"), (cell("reach_first_time"), cell("reach_returning"))),
    ]
    return relations


def _with_implied(counts: Mapping[str, int]) -> dict[str, int]:
    out = {name: counts[name] for name in PROTECTED}
    for name, (whole, *parts) in _IMPLIED.items():
        out[name] = counts[whole] - sum(counts[p] for p in parts)
    return out


Cell = tuple[tuple[str, ...], str]


def table(
    tenants: Mapping[str, Mapping[str, int]],
    months: Mapping[str, Mapping[str, int]],
    nation: Mapping[str, int],
) -> tuple[dict[Cell, int], list[Relation], list[Cell]]:
    """The report as the suppression rule sees it: every cell's true count, the relations, the shown cells."""
    rows: dict[tuple[str, ...], Mapping[str, int]] = {("tenant", t): c for t, c in tenants.items()}
    rows.update({("month", m): c for m, c in months.items()})
    rows[NATION] = nation
    values: dict[Cell, int] = {}
    relations: list[Relation] = []
    for row, counts in rows.items():
        for name, value in _with_implied(counts).items():
            values[(row, name)] = value
        relations += _row_relations(row)
    for name in PROTECTED:
        for kind, names in (("tenant", tenants), ("month", months)):
            if names:
                relations.append(Relation((NATION, name), tuple(((kind, n), name) for n in names)))
    return values, relations, [(row, name) for row in rows for name in PROTECTED]


def suppress_report(
    tenants: Mapping[str, Mapping[str, int]],
    months: Mapping[str, Mapping[str, int]],
    nation: Mapping[str, int],
) -> tuple[dict[str, dict[str, figures.Value]], dict[str, dict[str, figures.Value]], dict[str, figures.Value]]:
    """The shown cells of every tenant, month and the nation (counts, ``"<5"`` or ``":"``)."""
    result = suppress(*table(tenants, months, nation))

    def shown(row: tuple[str, ...], counts: Mapping[str, int]) -> dict[str, figures.Value]:
        out: dict[str, figures.Value] = {name: counts[name] for name in counts}
        for name in PROTECTED:
            out[name] = result.shown((row, name))
        return out

    return (
        {t: shown(("tenant", t), c) for t, c in tenants.items()},
        {m: shown(("month", m), c) for m, c in months.items()},
        shown(NATION, nation),
    )
