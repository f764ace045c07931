"""The figures a report shows, and how they add up. Pure: no I/O.

A report row (one meeting, one tenant, a month, the nation) is a flat mapping of counts. Counts add
up across rows; rates and means are worked out from the counts of the row, never averaged.

Definitions, per group (newcomer, resident) and for both together (total):

- ``signed_up``: every registration, whatever became of it.
- ``confirmed``: holds a place at the end: confirmed, attended or no-show.
- ``waitlisted``: still on the waiting list at the end.
- ``cancelled``: cancelled, from a place or from the waiting list.
  So ``signed_up = confirmed + waitlisted + cancelled``.
- ``promoted``: moved from the waiting list into a place at some point.
- ``attended`` / ``no_show``: as recorded by the coordinator; at most ``confirmed`` together.

And further: ``pairs`` and ``trios`` of the latest seating plan; ``feedback_*`` from the answers;
``reach_answered``: attending residents who answered whether it was their first time;
``reach_first_time``: those of them who said it was; so the reach share is first-timers of those who
answered, and when nobody answered it is unknown (``None``), never 0. Notifications sent and failed
per channel. A meeting is *held* when it is completed or attendance was recorded for it; a cancelled
meeting is never held, and nobody holds or waits for a place in it (their registrations count as
cancelled), and it seated no pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Final, Protocol

GROUPS: Final = ("newcomer", "resident")
GROUPS_AND_TOTAL: Final = (*GROUPS, "total")
STATUS_MEASURES: Final = ("signed_up", "confirmed", "waitlisted", "promoted", "cancelled", "attended", "no_show")
CHANNELS: Final = ("email", "sms")
OUTCOMES: Final = ("sent", "failed")

MEETING_COUNTS: Final = ("meetings", "meetings_held", "meetings_cancelled")
GROUP_COUNTS: Final = tuple(f"{g}_{m}" for g in GROUPS for m in STATUS_MEASURES)
FEEDBACK_COUNTS: Final = (
    "feedback_responses",
    "feedback_rating_sum",
    "feedback_new_connection",
    "feedback_would_recommend",
)
NOTIFICATION_COUNTS: Final = tuple(f"{c}_{o}" for c in CHANNELS for o in OUTCOMES)
# The counts the store delivers per row; everything else is derived from them.
BASE_COUNTS: Final = (
    *MEETING_COUNTS,
    *GROUP_COUNTS,
    "pairs",
    "trios",
    *FEEDBACK_COUNTS,
    "reach_answered",
    "reach_first_time",
    *NOTIFICATION_COUNTS,
)
TOTAL_COUNTS: Final = tuple(f"total_{m}" for m in STATUS_MEASURES)
# Every count a report shows, in the order of its columns.
SHOWN_COUNTS: Final = (
    *MEETING_COUNTS,
    *GROUP_COUNTS,
    *TOTAL_COUNTS,
    "pairs",
    "trios",
    "feedback_responses",
    "feedback_new_connection",
    "feedback_would_recommend",
    "reach_answered",
    "reach_first_time",
    *NOTIFICATION_COUNTS,
)
RATIOS: Final = ("attendance_rate", "mean_rating", "new_connection_share", "would_recommend_share", "reach_share")

# Counts of things other than people: never suppressed, and the rating sum is never shown.
NOT_PEOPLE: Final = frozenset({*MEETING_COUNTS, "feedback_rating_sum"})


class Row(Protocol):
    """A row of counts: a mapping, or a database record."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


Value = int | str  # a count, or a suppression marker in the national report
Ratio = float | str | None  # None: nothing to divide by; str: hidden because a count it needs is hidden


def counts(row: Row) -> dict[str, int]:
    """The base counts of one row with the group totals added; missing counts are 0."""
    present = set(row.keys())
    out = {name: int(row[name] or 0) if name in present else 0 for name in BASE_COUNTS}
    for m in STATUS_MEASURES:
        out[f"total_{m}"] = out[f"newcomer_{m}"] + out[f"resident_{m}"]
    return out


def add(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total = dict.fromkeys((*BASE_COUNTS, *TOTAL_COUNTS), 0)
    for row in rows:
        for name in total:
            total[name] += row[name]
    return total


def month_axis(present: Iterable[str], first: date | None = None, last: date | None = None) -> list[str]:
    """Every month ('YYYY-MM') from ``first`` (else the earliest present) to ``last`` (else the latest
    present), so that a chart's axis skips no month: an empty month is a month with nothing in it."""
    months = sorted(present)
    start = f"{first:%Y-%m}" if first else (months[0] if months else None)
    end = f"{last:%Y-%m}" if last else (months[-1] if months else None)
    if start is None or end is None:
        return months
    year, month = int(start[:4]), int(start[5:7])
    axis: list[str] = []
    while f"{year:04d}-{month:02d}" <= end:
        axis.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return axis


def _share(numerator: Value, denominator: Value) -> Ratio:
    if isinstance(numerator, str) or isinstance(denominator, str):
        return ":"
    return round(numerator / denominator, 4) if denominator else None


def ratios(cells: Mapping[str, Value]) -> dict[str, Ratio]:
    """Rates and means of one row. A ratio whose count is hidden is hidden too, or it would give it away."""
    attended, no_show = cells["total_attended"], cells["total_no_show"]
    recorded: Value = ":" if isinstance(attended, str) or isinstance(no_show, str) else attended + no_show
    responses = cells["feedback_responses"]
    mean = _share(cells["feedback_rating_sum"], responses)
    return {
        "attendance_rate": _share(attended, recorded),
        "mean_rating": round(mean, 2) if isinstance(mean, float) else mean,
        "new_connection_share": _share(cells["feedback_new_connection"], responses),
        "would_recommend_share": _share(cells["feedback_would_recommend"], responses),
        "reach_share": _share(cells["reach_first_time"], cells["reach_answered"]),
    }


# A count that means nothing when the count it is part of is 0: nobody was asked, so it is unknown.
UNKNOWN_WITHOUT: Final = {"reach_first_time": "reach_answered"}


def known(cells: Mapping[str, Value], name: str) -> Value | None:
    """The cell, or ``None`` (unknown) when it counts answers to a question nobody answered."""
    of = UNKNOWN_WITHOUT.get(name)
    return None if of is not None and cells[of] == 0 else cells[name]


UNKNOWN: Final = "unknown"


def reach_share_shown(cells: Mapping[str, Value]) -> Ratio:
    """The reach share as a chart shows it: ``"unknown"`` when residents attended but none of them
    answered the first-time question (not an empty bar that reads as 0), else the share itself."""
    share = ratios(cells)["reach_share"]
    attended = cells["resident_attended"]
    if share is None and isinstance(attended, int) and attended > 0:
        return UNKNOWN
    return share


def nested(cells: Mapping[str, Value], *, meetings: bool = True) -> dict[str, object]:
    """The JSON shape of one row's figures."""
    r = ratios(cells)
    out: dict[str, object] = {}
    if meetings:
        out["meetings"] = {
            "total": cells["meetings"],
            "held": cells["meetings_held"],
            "cancelled": cells["meetings_cancelled"],
        }
    out["registrations"] = {g: {m: cells[f"{g}_{m}"] for m in STATUS_MEASURES} for g in GROUPS_AND_TOTAL}
    out["pairs"] = cells["pairs"]
    out["trios"] = cells["trios"]
    out["attendance_rate"] = r["attendance_rate"]
    out["feedback"] = {
        "responses": cells["feedback_responses"],
        "mean_rating": r["mean_rating"],
        "new_connection": cells["feedback_new_connection"],
        "new_connection_share": r["new_connection_share"],
        "would_recommend": cells["feedback_would_recommend"],
        "would_recommend_share": r["would_recommend_share"],
    }
    out["reach"] = {
        "residents_attended": cells["resident_attended"],
        "answered": cells["reach_answered"],
        "first_time": known(cells, "reach_first_time"),
        "share": r["reach_share"],
    }
    out["notifications"] = {c: {o: cells[f"{c}_{o}"] for o in OUTCOMES} for c in CHANNELS}
    return out
