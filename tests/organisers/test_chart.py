"""The registrations chart: figures in, SVG text out (festival.organisers.chart), read
back with an XML parser, without HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

import pytest

from festival.organisers import chart

SVG = "{http://www.w3.org/2000/svg}"
TEXTS = chart.ChartTexts(title="Registrations per day: <Netherlands> & co",
                         description="Seats per day \"quoted\" <b>not bold</b>",
                         confirmed="Confirmed seats", waiting="Seats on the waitlist",
                         x_axis="Day registered (UTC)", y_axis="Seats",
                         day="%(day)s: %(confirmed)s confirmed, %(waiting)s on the waitlist")
DAYS = [chart.Day(date(2099, 11, 30), 4, 0), chart.Day(date(2099, 12, 1), 0, 0),
        chart.Day(date(2099, 12, 2), 6, 3)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output)


def bars(root: ET.Element, kind: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect")
            if f"chart__bar--{kind}" in (r.get("class") or "")]


def test_the_svg_is_well_formed_with_one_group_per_day_and_a_bar_per_figure() -> None:
    root = parse(chart.registrations_svg(DAYS, TEXTS, locale="en_GB"))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    days = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart__day"]
    assert [g.get("data-day") for g in days] == ["2099-11-30", "2099-12-01", "2099-12-02"]
    assert len(bars(root, "confirmed")) == 2  # the empty day draws nothing
    assert len(bars(root, "waiting")) == 1
    # Each day says its figures to a pointer (its <title>).
    assert days[2].find(f"{SVG}title").text == "2 Dec: 6 confirmed, 3 on the waitlist"


def test_the_bars_are_stacked_and_scaled_to_the_axis() -> None:
    root = parse(chart.registrations_svg(DAYS, TEXTS, locale="en_GB"))
    (confirmed_4, confirmed_6), (waiting_3,) = bars(root, "confirmed"), bars(root, "waiting")
    height = chart.HEIGHT - chart.TOP - chart.BOTTOM
    top, _step = chart.nice_ceiling(9)  # 6 + 3 on the busiest day: axis to 10
    assert top == 10
    assert float(confirmed_6.get("height")) == pytest.approx(height * 6 / 10, abs=0.1)
    assert float(confirmed_4.get("height")) == pytest.approx(height * 4 / 10, abs=0.1)
    assert float(waiting_3.get("height")) == pytest.approx(height * 3 / 10, abs=0.1)
    # The waitlist sits on top of the confirmed seats of its day.
    assert float(waiting_3.get("y")) + float(waiting_3.get("height")) == pytest.approx(
        float(confirmed_6.get("y")), abs=0.1)


def test_the_title_and_description_name_the_picture_escaped() -> None:
    svg = chart.registrations_svg(DAYS, TEXTS, locale="en_GB", id_prefix="c1")
    assert "<b>" not in svg and "&lt;Netherlands&gt; &amp; co" in svg
    root = parse(svg)
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").get("id") == "c1-title"
    assert root.find(f"{SVG}title").text == TEXTS.title
    assert root.find(f"{SVG}desc").text == TEXTS.description
    assert "style=" not in svg  # the CSP forbids inline styles


def test_axis_labels_are_babel_dates_and_numbers_in_the_locale() -> None:
    many = [chart.Day(date(2099, 11, 1 + n), 1000 + n, 0) for n in range(30)]
    labels = [t.text for t in parse(chart.registrations_svg(many, TEXTS, locale="fr_FR")).iter(
        f"{SVG}text")]
    assert "1 nov." in labels
    assert "1\u202f000" in labels  # French groups thousands with a narrow space
    dates = [t for t in parse(chart.registrations_svg(many, TEXTS, locale="en_GB")).iter(
        f"{SVG}text") if t.get("class") == "chart__date"]
    assert 1 < len(dates) <= chart.MAX_DATE_LABELS  # thinned out, never crowded


@pytest.mark.parametrize(("value", "expected"), [(0, (1, 1)), (1, (1, 1)), (7, (8, 2)),
                                                 (10, (10, 2)), (134, (150, 50)),
                                                 (1001, (1500, 500))])
def test_the_axis_top_is_a_round_number(value: int, expected: tuple[int, int]) -> None:
    assert chart.nice_ceiling(value) == expected
