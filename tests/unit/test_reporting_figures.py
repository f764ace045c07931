"""The pure parts of reporting: how figures add up, ratios, CSV and the SVG charts."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

from services.reporting import csv_export, figures, labels, pages, reports
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
            "title": "Kaffe og prat i biblioteket",
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
    assert [r["møte-id"] for r in rows] == ["m1", "totalt"]  # Norwegian (Bokmål) headers by default
    assert rows[0]["tittel"] == "Kaffe og prat i biblioteket"
    text = csv_export.tenant_csv(report, lang="id")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert [r["meeting_id"] for r in rows] == ["m1", "total"]
    assert (rows[0]["mean_rating"], rows[0]["attendance_rate"], rows[0]["date"]) == ("4,25", "0,8", "2027-03-02")
    assert rows[1]["email_sent"] == "12"
    assert rows[0]["reach_share"] == ""  # nothing to divide by
    plain = list(csv.DictReader(io.StringIO(csv_export.tenant_csv(report, "comma", "id").removeprefix("\ufeff"))))
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
    counts = {
        "meetings": 1,
        "meetings_held": 1,
        "newcomer_attended": -3,
    }  # a negative number, only to see it stay a number
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
            text = csv_export.national_csv(national_report_named(formula), sep, "id")  # type: ignore[arg-type]
            rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=delimiter))
            tenant = next(r for r in rows if r["row"] == "tenant")
            assert tenant["name"] == "'" + formula.replace("|", "\\|")
            assert tenant["newcomer_attended"] == "-3"  # numbers, negative ones too, stay numbers
            assert tenant["municipality_number"] == "-1"
            for row in rows:
                for cell in row.values():
                    assert not cell or (cell[0] not in "=+@\t\r" and not (cell[0] == "-" and not cell[1:].isdigit()))


def test_csv_headers_in_nb_nn_and_en_and_ids_for_machines() -> None:
    report = tenant_report()
    first_line = {
        lang: csv_export.tenant_csv(report, "comma", lang).removeprefix("\ufeff").splitlines()[0].split(",")
        for lang in ("nb", "nn", "en", "id")
    }
    assert first_line["id"][:3] == ["meeting_id", "title", "date"]
    assert first_line["en"][:3] == ["meeting id", "title", "date"]
    assert "nykommere møtt" in first_line["nb"] and "nykomarar møtt" in first_line["nn"]
    assert "newcomers attended" in first_line["en"] and "newcomer_attended" in first_line["id"]
    assert all(len(set(line)) == len(line) == len(first_line["id"]) for line in first_line.values())
    national = csv_export.national_csv(national_report_named("Arendal"), lang="nn").removeprefix("\ufeff")
    assert national.splitlines()[0].startswith("rad;kommune (id);namn;kommunenummer;månad;")
    assert csv_export.national_csv(national_report_named("Arendal"), lang="id").startswith("\ufeffrow;tenant;name;")


def test_reach_is_unknown_when_nobody_answered_the_first_time_question() -> None:
    nobody_answered = meeting(resident_attended=6)
    assert figures.ratios(nobody_answered)["reach_share"] is None  # unknown, not 0 %
    assert figures.nested(nobody_answered)["reach"] == {
        "residents_attended": 6,
        "answered": 0,
        "first_time": None,
        "share": None,
    }
    some = meeting(resident_attended=6, reach_answered=4, reach_first_time=1)
    assert figures.ratios(some)["reach_share"] == 0.25  # of those who answered, not of all six
    report = reports.tenant_report("arendal", None, None, [{**tenant_report_row(), "resident_attended": 6}], [])
    (row, _) = csv.DictReader(io.StringIO(csv_export.tenant_csv(report, "comma", "id").removeprefix("\ufeff")))
    assert (row["reach_first_time"], row["reach_share"], row["reach_answered"]) == ("", "", "0")
    assert ">unknown<" in pages.tenant_page(report, "Arendal")
    reach_chart = chart_values(pages.tenant_page(report, "Arendal"), "reach")
    assert reach_chart == {("first-time share", "2027-03"): "unknown"}  # a marker, not an empty bar read as 0


def tenant_report_row(**changes: object) -> dict[str, object]:
    return {**tenant_report().meetings[0].__dict__["counts"], **tenant_report_source(), **changes}


def tenant_report_source() -> dict[str, object]:
    return {
        "meeting_id": "m1",
        "title": "Kaffe og prat i biblioteket",
        "starts_at": datetime(2027, 3, 2, 9, 0, tzinfo=UTC),
        "timezone": "Europe/Oslo",
        "month": "2027-03",
        "format": "standard",
        "status": "completed",
    }


def test_the_month_axis_skips_no_month() -> None:
    assert figures.month_axis(["2027-03", "2026-11"]) == ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]
    assert figures.month_axis(["2027-03"], date(2027, 1, 15), date(2027, 4, 1)) == [
        "2027-01", "2027-02", "2027-03", "2027-04"
    ]  # fmt: skip
    assert figures.month_axis([]) == []
    may = {**tenant_report_source(), "meeting_id": "m2", "month": "2027-05", "meetings": 1, "meetings_held": 1,
           "starts_at": datetime(2027, 5, 4, 9, 0, tzinfo=UTC)}  # fmt: skip
    report = reports.tenant_report("arendal", None, None, [tenant_report_row(), may], [])
    assert list(report.by_month()) == ["2027-03", "2027-04", "2027-05"]
    assert report.by_month()["2027-04"]["meetings_held"] == 0
    held = {
        category: value
        for (_, category), value in chart_values(pages.tenant_page(report, "A"), "meetings_held").items()
    }
    assert held == {"2027-03": "1", "2027-04": "0", "2027-05": "1"}


def chart_values(page: str, chart: str) -> dict[tuple[str, str], str]:
    start = page.index(f'data-chart="{chart}"')
    svg = page[page.rindex("<svg", 0, start) : page.index("</svg>", start) + 6]
    root = ET.fromstring(svg)
    return {(e.attrib["data-series"], e.attrib["data-category"]): e.attrib["data-value"] for e in root.iter()
            if "data-value" in e.attrib}  # fmt: skip


def test_counts_read_in_the_right_number_in_nb_nn_and_en() -> None:
    assert labels.counted(1, "meeting") == "1 meeting" and labels.counted(0, "meeting") == "0 meetings"
    assert labels.counted(1, "meeting", "nb") == "1 møte" and labels.counted(2, "meeting", "nb") == "2 møter"
    assert labels.counted(2, "person", "nn") == "2 personar" and labels.counted(1, "person", "en") == "1 person"
    assert labels.meetings_held(1, 1) == "1 meeting held"
    assert labels.meetings_held(1, 2) == "1 of 2 meetings held"
    assert labels.meetings_held(0, 1, "nb") == "0 av 1 møte holdt"
    page = pages.tenant_page(tenant_report(), "Arendal")
    assert "1 meeting held" in page and "1 meetings" not in page and "8 people took part" in page
    national = pages.national_page(national_report_named("Arendal"))
    assert "1 meeting held in 1 municipality" in national


def test_report_rows_carry_the_meetings_title() -> None:
    report = tenant_report()
    assert report.as_json()["meetings"][0]["title"] == "Kaffe og prat i biblioteket"
    assert ">Kaffe og prat i biblioteket</td>" in pages.tenant_page(report, "Arendal")
    (row, _) = csv.DictReader(io.StringIO(csv_export.tenant_csv(report, "comma", "id").removeprefix("\ufeff")))
    assert row["title"] == "Kaffe og prat i biblioteket"
    named = reports.tenant_report("a", None, None, [tenant_report_row(title="=1+1")], [])
    (row, _) = csv.DictReader(io.StringIO(csv_export.tenant_csv(named, "comma", "id").removeprefix("\ufeff")))
    assert row["title"] == "'=1+1"  # a title is text too: inert in the CSV
