"""The coordinator's and the national report, assembled from the store's rows. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from services.reporting import figures, national
from services.reporting.suppression import HIDDEN, SMALL, THRESHOLD


@dataclass(frozen=True)
class MeetingRow:
    meeting_id: str
    title: str  # from the meeting events; '' when no event said it
    date: str  # local date of the start
    month: str
    format: str
    status: str
    counts: dict[str, int]


@dataclass(frozen=True)
class TenantReport:
    slug: str
    first: date | None
    last: date | None
    meetings: list[MeetingRow]
    other_notifications: dict[str, int]  # sent in the period about no meeting
    totals: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        totals = figures.add(m.counts for m in self.meetings)
        for name, value in self.other_notifications.items():
            totals[name] += value
        object.__setattr__(self, "totals", totals)

    def by_month(self) -> dict[str, dict[str, int]]:
        """Every month of the period (or from the first meeting to the last), empty ones with zeros."""
        months: dict[str, list[dict[str, int]]] = {}
        for m in self.meetings:
            months.setdefault(m.month, []).append(m.counts)
        axis = figures.month_axis(months, self.first, self.last)
        return {month: figures.add(months.get(month, [])) for month in axis}

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.slug,
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
            "meetings": [
                {
                    "meeting_id": m.meeting_id,
                    "title": m.title,
                    "date": m.date,
                    "format": m.format,
                    "status": m.status,
                    "held": bool(m.counts["meetings_held"]),
                    **figures.nested(m.counts, meetings=False),
                }
                for m in self.meetings
            ],
            "notifications_without_meeting": {
                c: {o: self.other_notifications.get(f"{c}_{o}", 0) for o in figures.OUTCOMES} for c in figures.CHANNELS
            },
            "totals": figures.nested(self.totals),
        }


def meeting_row(record: figures.Row) -> MeetingRow:
    local = record["starts_at"].astimezone(ZoneInfo(record["timezone"]))
    return MeetingRow(
        meeting_id=str(record["meeting_id"]),
        title=str(record["title"] or ""),
        date=local.date().isoformat(),
        month=record["month"],
        format=record["format"],
        status=record["status"],
        counts=figures.counts(record),
    )


def tenant_report(
    slug: str,
    first: date | None,
    last: date | None,
    meeting_records: Sequence[figures.Row],
    loose_records: Sequence[figures.Row],
) -> TenantReport:
    other = dict.fromkeys(figures.NOTIFICATION_COUNTS, 0)
    for record in loose_records:
        for name in figures.NOTIFICATION_COUNTS:
            other[name] += int(record[name] or 0)
    return TenantReport(slug, first, last, [meeting_row(r) for r in meeting_records], other)


@dataclass(frozen=True)
class Tenant:
    slug: str
    name: str
    municipality_number: str


@dataclass(frozen=True)
class NationalReport:
    first: date | None
    last: date | None
    tenants: dict[str, dict[str, figures.Value]]  # by slug, suppressed
    months: dict[str, dict[str, figures.Value]]
    nation: dict[str, figures.Value]
    names: dict[str, Tenant]

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
            "suppression": {
                "threshold": THRESHOLD,
                SMALL: f"fewer than {THRESHOLD} people",
                HIDDEN: f"hidden so that a count of fewer than {THRESHOLD} cannot be worked out from the totals",
            },
            "nation": figures.nested(self.nation),
            "tenants": [
                {
                    "tenant": slug,
                    "name": self.names[slug].name,
                    "municipality_number": self.names[slug].municipality_number,
                    **figures.nested(cells),
                }
                for slug, cells in self.tenants.items()
            ],
            "months": [{"month": month, **figures.nested(cells)} for month, cells in self.months.items()],
        }


def national_report(
    first: date | None,
    last: date | None,
    grouped: Sequence[figures.Row],
    known: Sequence[figures.Row],
) -> NationalReport:
    """Totals per tenant, per month and for the nation from the store's grouping sets, then suppressed."""
    names = {str(t["tenant_id"]): Tenant(t["slug"], t["name"], t["municipality_number"]) for t in known}
    tenants: dict[str, dict[str, int]] = {}
    months: dict[str, dict[str, int]] = {}
    nation = figures.counts({})
    by_slug: dict[str, Tenant] = {}
    for record in grouped:
        counts = figures.counts(record)
        if record["all_tenants"] and record["all_months"]:
            nation = counts
        elif not record["all_tenants"]:
            tenant = names.get(str(record["tenant_id"]), Tenant(str(record["tenant_id"]), "", ""))
            tenants[tenant.slug] = counts
            by_slug[tenant.slug] = tenant
        else:
            months[record["month"]] = counts
    tenants = dict(sorted(tenants.items()))
    months = dict(sorted(months.items()))
    shown_tenants, shown_months, shown_nation = national.suppress_report(tenants, months, nation)
    return NationalReport(first, last, shown_tenants, shown_months, shown_nation, by_slug)
