"""The dashboards in the page's language: what a person reads goes through the catalogue's gettext and the
page's locale (months, dates, decimals); what a machine reads (data attributes) stays fixed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from services.reporting import figures, labels, pages


def test_titles_series_and_months_are_worded_and_the_data_attributes_stay_ids() -> None:
    months = {"2027-03": figures.counts({"meetings_held": 2, "newcomer_attended": 3, "resident_attended": 4})}
    shown = pages.charts(months, "nb", gettext=lambda text: f"«{text}»")
    svg = str(shown["participants"])
    root = ET.fromstring(svg)
    bars = {(e.attrib["data-series"], e.attrib["data-category"]) for e in root.iter() if "data-value" in e.attrib}
    assert bars == {("newcomers", "2027-03"), ("residents", "2027-03")}
    assert f"«{labels.CHART_TITLES['participants']}»" in svg and "«newcomers»" in svg
    assert f">{pages.month_name('2027-03', 'nb')}<" in svg and ">2027-03<" not in svg
    assert pages.month_name("2027-03", "nb").endswith(" 2027") and pages.month_name("2027-03", "en") == "Mar 2027"
    assert set(shown) == set(pages.CHARTS)


def test_dates_and_decimals_in_the_page_language() -> None:
    assert pages.long_date("2027-03-02", "nb") == "2. mars 2027"
    assert pages.long_date("2027-03-02", "en") == "March 2, 2027"
    assert pages.long_date("not a date", "nb") == "not a date"
    assert pages.month_name("2027-12", "nn").startswith("des")
    assert (pages.decimal(4.25, "nb"), pages.decimal(4.25, "en"), pages.decimal(3, "nb")) == ("4,25", "4.25", "3")


def test_every_chart_and_series_has_a_msgid() -> None:
    assert set(labels.CHART_TITLES) == set(pages.CHARTS)
    page = pages.charts({"2027-01": figures.counts({})}, "en")
    ids = {
        e.attrib["data-series"]
        for svg in page.values()
        for e in ET.fromstring(str(svg)).iter()
        if "data-series" in e.attrib
    }
    assert ids <= set(labels.SERIES)


def test_the_problem_pages_say_what_happened_in_the_language_asked() -> None:
    gone = pages.problem_page(401, "nn")
    assert '<html lang="nn" dir="ltr">' in gone and 'id="problem"' in gone and "<h1>" in gone
    assert 'id="problem"' in pages.problem_page(404, "en")
