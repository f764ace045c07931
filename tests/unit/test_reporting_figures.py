"""The pure parts of reporting: how figures add up, ratios, CSV and the SVG charts."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

from services.reporting import csv_export, figures, reports
from services.reporting.charts import Series, bar_chart


def meeting(**counts: int) -> dict[str, int]:
    return figures.counts({"meetings": 1, **counts})


def test_group_totals_and_sums() -> None:
    a = meeting(newcomer_attended=3, resident_attended=4, feedback_responses=2, feedback_rating_sum=9)
    b = meeting(newcomer_attended=1, resident_no_show=2)
    assert a["total_attended"] == 7
    total = figures.add([a, b])
    assert (total["meetings"], total["total_attended"], total["total_no_show"]) == (2, 8, 2)
    assert figures.ratios(total)["attendance_rate"] == 0.8
    assert figures.ratios(total)["mean_rating"] == 4.5


def test_ratios_without_a_denominator_are_none_and_hidden_counts_hide_them() -> None:
    empty = figures.ratios(meeting())
    assert set(empty.values()) == {None}
    cells: dict[str, figures.Value] = {**meeting(feedback_responses=9, feedback_rating_sum=30)}
    cells["feedback_new_connection"] = "<5"
    shown = figures.ratios(cells)
    assert shown["new_connection_share"] == ":"  # 9 answers and a share would give the small count away
    assert shown["mean_rating"] == 3.33


def tenant_report() -> reports.TenantReport:
    rows = [
        {
            "meeting_id": "m1",
            "starts_at": datetime(2027, 3, 2, 9, 0, tzinfo=UTC),
            "timezone": "Europe/Oslo",
            "month": "2027-03",
            "format": "standard",
            "status": "completed",
            "meetings": 1,
            "meetings_held": 1,
            "newcomer_signed_up": 10,
            "newcomer_attended": 8,
            "newcomer_no_show": 2,
            "feedback_responses": 4,
            "feedback_rating_sum": 17,
            "email_sent": 10,
        }
    ]
    loose = [{"email_sent": 2, "email_failed": 1, "sms_sent": 0, "sms_failed": 0}]
    return reports.tenant_report("arendal", date(2027, 1, 1), None, rows, loose)


def test_tenant_report_rows_and_totals() -> None:
    report = tenant_report()
    body = report.as_json()
    (row,) = body["meetings"]
    assert (row["date"], row["held"], row["attendance_rate"]) == ("2027-03-02", True, 0.8)
    assert row["feedback"]["mean_rating"] == 4.25
    assert body["totals"]["notifications"]["email"] == {"sent": 12, "failed": 1}  # with those about no meeting
    assert body["notifications_without_meeting"]["email"] == {"sent": 2, "failed": 1}
    assert body["from"] == "2027-01-01" and body["to"] is None


def test_csv_for_norwegian_excel_and_with_commas() -> None:
    report = tenant_report()
    text = csv_export.tenant_csv(report)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert [r["meeting_id"] for r in rows] == ["m1", "total"]
    assert (rows[0]["mean_rating"], rows[0]["attendance_rate"], rows[0]["date"]) == ("4,25", "0,8", "2027-03-02")
    assert rows[1]["email_sent"] == "12"
    assert rows[0]["reach_share"] == ""  # nothing to divide by
    plain = list(csv.DictReader(io.StringIO(csv_export.tenant_csv(report, "comma").removeprefix("\ufeff"))))
    assert plain[0]["mean_rating"] == "4.25"


def test_bars_carry_their_numbers_and_hidden_values_their_marker() -> None:
    svg = bar_chart(
        "participants",
        "Participants <by group>",
        ["2027-01", "2027-02"],
        [Series("newcomers", [12, "<5"]), Series("residents", [7, None])],
    )
    root = ET.fromstring(str(svg))
    assert root.attrib["data-chart"] == "participants"
    values = {(e.attrib["data-series"], e.attrib["data-category"]): e.attrib["data-value"] for e in root.iter()
              if "data-value" in e.attrib}  # fmt: skip
    assert values == {("newcomers", "2027-01"): "12", ("residents", "2027-01"): "7", ("newcomers", "2027-02"): "<5"}
    heights = {e.attrib["data-value"]: float(e.attrib["height"]) for e in root.iter("{http://www.w3.org/2000/svg}rect")
               if "data-value" in e.attrib}  # fmt: skip
    assert heights["12"] > heights["7"] > 0
    assert "Participants &lt;by group&gt;" in str(svg)


FORMULAS = ('=HYPERLINK("http://example.org";"Klikk")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\r=1+1")


def national_report_named(name: str) -> reports.NationalReport:
    tenant_id = "00000000-0000-0000-0000-000000000001"
    counts = {"meetings": 1, "newcomer_attended": -3}  # a negative number, only to see it stay a number
    grouped = [
        {"tenant_id": tenant_id, "month": None, "all_tenants": 0, "all_months": 1, **counts},
        {"tenant_id": None, "month": "2027-03", "all_tenants": 1, "all_months": 0, **counts},
        {"tenant_id": None, "month": None, "all_tenants": 1, "all_months": 1, **counts},
    ]
    known = [{"tenant_id": tenant_id, "slug": "x", "name": name, "municipality_number": "-1"}]
    return reports.national_report(None, None, grouped, known)


def test_no_text_cell_of_a_csv_runs_as_a_formula_and_numbers_stay_numbers() -> None:
    for sep, delimiter in (("semicolon", ";"), ("comma", ",")):
        for formula in FORMULAS:
            text = csv_export.national_csv(national_report_named(formula), sep)  # type: ignore[arg-type]
            rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=delimiter))
            tenant = next(r for r in rows if r["row"] == "tenant")
            assert tenant["name"] == "'" + formula.replace("|", "\\|")
            assert tenant["newcomer_attended"] == "-3"  # numbers, negative ones too, stay numbers
            assert tenant["municipality_number"] == "-1"
            for row in rows:
                for cell in row.values():
                    assert not cell or (cell[0] not in "=+@\t\r" and not (cell[0] == "-" and not cell[1:].isdigit()))
