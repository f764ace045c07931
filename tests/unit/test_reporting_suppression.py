"""The small-cell rule of the national report, checked against an independent linear-algebra oracle."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting import figures, national
from services.reporting.suppression import HIDDEN, SMALL, Relation, Suppressed, suppress


def exposed_by_oracle(result: Suppressed, relations: list[Relation]) -> list[Hashable]:
    """Small cells (shown or implied) that some combination of the relations computes exactly.

    A cell is computable when its unit vector is a combination of the relations' rows over the unknown
    cells: solve ``A^T y = e`` by least squares and look at the residual (every small cell's ``e`` in one
    solve: one factorisation of ``A^T`` for all of them).
    """
    unknown = sorted(
        {k for r in relations for k in r.cells if k not in result.published or k in result.hidden}, key=repr
    )
    index = {k: i for i, k in enumerate(unknown)}
    matrix = np.zeros((len(relations), len(unknown)))
    for row, relation in enumerate(relations):
        for k in relation.cells:
            if k in index:
                matrix[row, index[k]] = -1 if k == relation.total else 1
    small = [(key, i) for key, i in index.items() if 0 < result.values[key] < 5]
    if not small:
        return []
    targets = np.zeros((len(unknown), len(small)))
    for column, (_, i) in enumerate(small):
        targets[i, column] = 1.0
    y, *_ = np.linalg.lstsq(matrix.T, targets, rcond=None)
    residuals = np.linalg.norm(matrix.T @ y - targets, axis=0)
    return [key for (key, _), residual in zip(small, residuals, strict=True) if residual < 1e-7]


def check(result: Suppressed, relations: list[Relation]) -> None:
    for key in result.published:
        value, shown = result.values[key], result.shown(key)
        if 0 < value < 5:
            assert shown == SMALL, (key, value, shown)
        elif shown == HIDDEN:
            assert value >= 5, (key, value)
        else:
            assert shown == value  # shown numbers, totals included, are the true counts
    for relation in relations:
        unknown = [k for k in relation.cells if k not in result.published or k in result.hidden]
        hidden = [k for k in unknown if k in result.hidden]
        assert not (len(unknown) == 1 and hidden), f"{hidden[0]} is alone in {relation}"
    assert exposed_by_oracle(result, relations) == []


def counts_strategy(small: int) -> st.SearchStrategy[dict[str, int]]:
    """One tenant-month of figures that obey the definitions (signed_up = confirmed + waitlisted + ...)."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, int]:
        n = st.integers(0, small)
        row: dict[str, int] = {name: 0 for name in figures.BASE_COUNTS}
        for g in figures.GROUPS:
            confirmed, waitlisted, cancelled = draw(n), draw(n), draw(n)
            attended = draw(st.integers(0, confirmed))
            no_show = draw(st.integers(0, confirmed - attended))
            row |= {
                f"{g}_signed_up": confirmed + waitlisted + cancelled,
                f"{g}_confirmed": confirmed,
                f"{g}_waitlisted": waitlisted,
                f"{g}_cancelled": cancelled,
                f"{g}_promoted": draw(st.integers(0, confirmed)),
                f"{g}_attended": attended,
                f"{g}_no_show": no_show,
            }
        responses = draw(st.integers(0, row["newcomer_attended"] + row["resident_attended"]))
        answered = draw(st.integers(0, row["resident_attended"]))
        row |= {
            "meetings": 1,
            "pairs": draw(n),
            "trios": draw(st.integers(0, 2)),
            "feedback_responses": responses,
            "feedback_rating_sum": 4 * responses,
            "feedback_new_connection": draw(st.integers(0, responses)),
            "feedback_would_recommend": draw(st.integers(0, responses)),
            "reach_answered": answered,
            "reach_first_time": draw(st.integers(0, answered)),
            "email_sent": draw(n),
            "email_failed": draw(st.integers(0, 3)),
        }
        return figures.counts(row)

    return build()


@st.composite
def reports(draw: st.DrawFn) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], dict[str, int]]:
    """Tenant-by-month figures, added up the way the store adds them: per tenant, per month, the nation."""
    tenant_names = [f"t{i}" for i in range(draw(st.integers(1, 4)))]
    month_names = [f"2027-0{i + 1}" for i in range(draw(st.integers(1, 3)))]
    small = draw(st.sampled_from([3, 8, 20]))
    grid = {(t, m): draw(counts_strategy(small)) for t in tenant_names for m in month_names}
    tenants = {t: figures.add(grid[(t, m)] for m in month_names) for t in tenant_names}
    months = {m: figures.add(grid[(t, m)] for t in tenant_names) for m in month_names}
    return tenants, months, figures.add(tenants.values())


@settings(max_examples=60, deadline=None)
@given(reports())
def test_no_small_count_is_shown_or_computable_and_totals_are_true(report: tuple) -> None:
    values, relations, published = national.table(*report)
    check(suppress(values, relations, published), relations)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 12), min_size=2, max_size=4), min_size=2, max_size=5).filter(
        lambda rows: len({len(r) for r in rows}) == 1
    )
)
def test_a_plain_table_with_row_and_column_totals(grid: list[list[int]]) -> None:
    """The textbook case: a grid with its row totals, column totals and grand total all shown."""
    values: dict[tuple[str, str], int] = {}
    relations = []
    rows, columns = [f"r{i}" for i in range(len(grid))], [f"c{j}" for j in range(len(grid[0]))]
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            values[(r, c)] = grid[i][j]
        values[(r, "all")] = sum(grid[i])
        relations.append(Relation((r, "all"), tuple((r, c) for c in columns)))
    for j, c in enumerate(columns):
        values[("all", c)] = sum(row[j] for row in grid)
        relations.append(Relation(("all", c), tuple((r, c) for r in rows)))
    values[("all", "all")] = sum(map(sum, grid))
    relations.append(Relation(("all", "all"), tuple(("all", c) for c in columns)))
    relations.append(Relation(("all", "all"), tuple((r, "all") for r in rows)))
    result = suppress(values, relations)
    check(result, relations)


def test_nothing_is_hidden_without_small_cells() -> None:
    values = {("a", "x"): 0, ("a", "y"): 7, ("a", "all"): 7}
    result = suppress(values, [Relation(("a", "all"), (("a", "x"), ("a", "y")))])
    assert result.hidden == frozenset()
    assert [result.shown(k) for k in values] == [0, 7, 7]


def test_a_total_does_not_give_away_its_one_small_part() -> None:
    values = {("a", "newcomer"): 3, ("a", "resident"): 12, ("a", "total"): 15}
    result = suppress(values, [Relation(("a", "total"), (("a", "newcomer"), ("a", "resident")))])
    assert result.shown(("a", "newcomer")) == SMALL
    assert result.shown(("a", "resident")) == HIDDEN  # the smaller of the two shown cells
    assert result.shown(("a", "total")) == 15  # the total stays true


def test_two_small_cells_pinned_by_their_total_are_protected() -> None:
    """4 + 4 = 8: both '<5' cells would be 4 for sure; one more cell is hidden."""
    values = {("a", "x"): 4, ("a", "y"): 4, ("a", "z"): 9, ("a", "all"): 17}
    result = suppress(values, [Relation(("a", "all"), (("a", "x"), ("a", "y"), ("a", "z")))])
    assert result.shown(("a", "z")) == HIDDEN
    assert result.shown(("a", "all")) == 17


def test_an_implied_small_count_is_protected() -> None:
    """7 answers, 5 made a new connection: the 2 who did not would follow by subtraction."""
    tenant: Mapping[str, int] = figures.counts(
        {"feedback_responses": 7, "feedback_new_connection": 5, "feedback_would_recommend": 7}
    )
    tenants, _, _ = national.suppress_report({"t": tenant}, {"2027-01": tenant}, tenant)
    shown = tenants["t"]
    assert HIDDEN in (shown["feedback_responses"], shown["feedback_new_connection"])
