"""Unit tests of audits.monitoring.charts: pure, no database."""

from __future__ import annotations

import gc
import re
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import weasyprint
from matplotlib.figure import Figure

from audits.monitoring import charts

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _days(values: list[float | None]) -> list[tuple[datetime, float | None]]:
    return [(T0 + timedelta(days=i), value) for i, value in enumerate(values)]


APPROVAL = {
    "<25": _days([0.55, 0.56, None, 0.58, 0.60]),
    "25-60": _days([0.72, 0.71, 0.73, 0.72, 0.74]),
}
AIR = {"<25": _days([0.76, 0.78, 0.81, None, 0.79]), "female": _days([0.95])}
PSI = {"amount": 0.19, "duration": 0.04, "purpose": 0.41, "age": None}
CALIBRATION = [
    {"decile": i + 1, "mean_predicted": 0.1 * i + 0.05, "observed_rate": 0.1 * i + 0.03}
    for i in range(10)
]

CHARTS: dict[str, Callable[[], str]] = {
    "approval": lambda: charts.approval_rate_chart(
        APPROVAL, baseline={"<25": 0.59, "25-60": 0.72}, title="Approval rate by age"
    ),
    "air": lambda: charts.air_chart(AIR, title="Adverse impact ratio by group"),
    "psi": lambda: charts.psi_chart(PSI, title="Feature drift (PSI)"),
    "calibration": lambda: charts.calibration_chart(
        CALIBRATION, title="Calibration by decile"
    ),
    "empty": lambda: charts.empty_chart("No data for this period.", title="Nothing"),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    """Each chart of CHARTS rendered once for the module."""
    return {name: render() for name, render in CHARTS.items()}


def _texts(svg: str) -> list[str]:
    """The text of every <text> element (fonttype "none" keeps text as text)."""
    return [
        re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text[^>]*>.*?</text>", svg)
    ]


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_is_a_bare_svg_element_with_an_accessible_title(
    name: str, rendered: dict[str, str]
) -> None:
    svg = rendered[name]
    assert svg.startswith("<svg ")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg
    opening, first_child = svg.split("\n", 2)[:2]
    assert 'role="img"' in opening
    assert first_child.strip().startswith("<title>")
    assert "font-family=\"'DejaVu Sans'\"" in svg
    assert "<metadata>" not in svg and "Matplotlib v" not in svg


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_is_deterministic(name: str, rendered: dict[str, str]) -> None:
    assert CHARTS[name]() == rendered[name]


def test_approval_rate_chart_shows_title_groups_and_baseline_band(
    rendered: dict[str, str],
) -> None:
    svg = rendered["approval"]
    texts = _texts(svg)
    assert "<title>Approval rate by age</title>" in svg
    assert {"Approval rate by age", "&lt;25", "25-60", "baseline (band ±15%)"} <= set(
        texts
    )
    # a dashed baseline per group, and a shaded band per group
    assert svg.count("stroke-dasharray") >= 2
    assert svg.count('opacity="0.1"') >= 2


def test_air_chart_labels_the_four_fifths_line(rendered: dict[str, str]) -> None:
    svg = rendered["air"]
    texts = _texts(svg)
    assert {"Adverse impact ratio by group", "&lt;25", "female"} <= set(texts)
    assert "four-fifths (0.8)" in texts
    assert "#d55e00" in svg.lower()  # the threshold line is vermillion (red)


def test_air_chart_names_another_threshold_by_its_value() -> None:
    svg = charts.air_chart(AIR, threshold=0.9, title="AIR")
    assert "threshold (0.9)" in _texts(svg)


def test_psi_chart_shows_features_values_and_threshold_labels(
    rendered: dict[str, str],
) -> None:
    texts = _texts(rendered["psi"])
    assert {"amount", "duration", "purpose", "age"} <= set(texts)
    assert {"0.190", "0.040", "0.410", "no data"} <= set(texts)
    assert " watch (0.1) " in texts
    assert " breach (0.25) " in texts


def test_psi_chart_orders_features_by_psi_and_colours_them_by_band(
    rendered: dict[str, str],
) -> None:
    svg = rendered["psi"]
    texts = _texts(svg)
    order = [t for t in texts if t in PSI]
    assert order == ["purpose", "amount", "duration", "age"]
    colours = re.findall(
        r'<path d="M [^"]+" clip-path="[^"]+" fill="(#[0-9a-f]+)"', svg
    )
    assert colours[:3] == [charts.THRESHOLD_RED.lower(), "#e69f00", "#009e73"]


def test_psi_chart_grows_with_many_features() -> None:
    many = {f"feature_{i:02d}": i / 100 for i in range(30)}
    svg = charts.psi_chart(many, title="Many")
    height = float(re.search(r'height="([\d.]+)pt"', svg).group(1))  # type: ignore[union-attr]
    assert height > 72 * charts.HEIGHT
    assert "feature_29" in _texts(svg)


def test_calibration_chart_shows_the_diagonal_and_deciles(
    rendered: dict[str, str],
) -> None:
    texts = _texts(rendered["calibration"])
    assert {"Calibration by decile", "perfect calibration", "score deciles"} <= set(
        texts
    )
    assert {str(i) for i in range(1, 11)} <= set(texts)


def test_empty_chart_shows_the_message(rendered: dict[str, str]) -> None:
    assert {"Nothing", "No data for this period."} <= set(_texts(rendered["empty"]))


@pytest.mark.parametrize(
    "render",
    [
        lambda: charts.approval_rate_chart({}, title="T"),
        lambda: charts.approval_rate_chart({"a": _days([None, None])}, title="T"),
        lambda: charts.air_chart({"a": []}, title="T"),
        lambda: charts.psi_chart({}, title="T"),
        lambda: charts.calibration_chart([], title="T"),
    ],
)
def test_chart_without_data_is_an_empty_chart(render: Callable[[], str]) -> None:
    svg = render()
    assert svg.startswith("<svg ")
    assert "T" in _texts(svg)
    assert any(t.startswith("No ") for t in _texts(svg))


def test_single_time_point_still_renders_a_marker_and_a_short_axis() -> None:
    # given one group with a single observation
    svg = charts.approval_rate_chart({"only": [(T0, 0.7)]}, title="One point")
    # then the marker is drawn and the time axis spans days, not years
    texts = _texts(svg)
    assert "only" in texts
    assert "<use xlink:href=" in svg
    assert not any(re.fullmatch(r"20\d\d", t) for t in texts)


def test_single_hourly_point_gets_an_axis_of_hours_not_days() -> None:
    # given one hourly observation at T0
    svg = charts.approval_rate_chart(
        {"only": [(T0, 0.7)]}, title="One hour", step=timedelta(hours=1)
    )
    texts = _texts(svg)
    # then the axis labels are hours of T0's day, and no other day is shown
    hours = [t for t in texts if re.fullmatch(r"\d\d:\d\d", t)]
    assert len(hours) >= 3
    assert not any(re.fullmatch(r"[A-Z][a-z]{2}-\d\d|\d\d", t) for t in texts)
    # and the step is part of the chart's identity (its salted ids)
    daily = charts.approval_rate_chart({"only": [(T0, 0.7)]}, title="One hour")
    assert daily != svg


def test_none_values_are_gaps_not_zeros() -> None:
    svg = charts.approval_rate_chart({"a": _days([0.6, None, 0.7])}, title="Gap")
    # the y axis stays near the values: a zero would pull it down to 0 %
    assert "0%" not in _texts(svg)


def test_names_with_dollar_signs_are_shown_literally() -> None:
    svg = charts.psi_chart({"income $k": 0.2}, title="Price in $ and $")
    assert "income $k" in _texts(svg)
    assert "Price in $ and $" in _texts(svg)


def test_two_charts_on_one_page_share_no_id() -> None:
    first = charts.approval_rate_chart(APPROVAL, title="First")
    second = charts.approval_rate_chart(APPROVAL, title="Second")
    ids = re.findall(r' id="([^"]+)"', first)
    assert ids  # clip paths and markers keep their (referenced) ids
    assert not set(ids) & set(re.findall(r' id="([^"]+)"', second))


def test_every_id_left_is_referenced(rendered: dict[str, str]) -> None:
    svg = rendered["approval"]
    for found in re.findall(r' id="([^"]+)"', svg):
        assert f"#{found}" in svg


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_charts_carry_no_css_only_presentation_attributes(
    rendered: dict[str, str], name: str
) -> None:
    # no <style> to restyle the page it is inlined in, no style="" for WeasyPrint
    # to parse as the page's CSS
    svg = rendered[name]
    assert 'class="modelgov-chart"' in svg
    assert "<style" not in svg
    assert "style=" not in svg
    # matplotlib's global rule became inherited attributes of the root
    root = svg[: svg.index(">")]
    assert 'stroke-linejoin="round" stroke-linecap="butt"' in root


def test_style_declarations_become_attributes() -> None:
    assert charts._attributes("fill: #ffffff; stroke-width: 0.8") == (
        ' fill="#ffffff" stroke-width="0.8"'
    )
    assert charts._attributes("font-family: 'DejaVu Sans'; ") == (
        " font-family=\"'DejaVu Sans'\""
    )
    with pytest.raises(ValueError, match="'filter'"):
        charts._attributes("filter: blur(2px)")


def test_charts_render_the_same_from_concurrent_threads(
    rendered: dict[str, str],
) -> None:
    # given every chart drawn alone, then all of them from threads at once
    results: list[tuple[str, str]] = []

    def work(name: str) -> None:
        results.append((name, CHARTS[name]()))

    threads = [threading.Thread(target=work, args=(n,)) for n in sorted(CHARTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every result is byte for byte the lone rendering
    assert len(results) == len(threads)
    for name, svg in results:
        assert svg == rendered[name], name


def test_chart_renders_as_text_in_a_weasyprint_pdf(tmp_path: Path) -> None:
    # given an HTML page with one chart inlined, as the evidence pack will have
    started = time.perf_counter()
    svg = charts.air_chart(AIR, title="Adverse impact ratio by group")
    html = f"<html><body><h1>Fairness</h1>{svg}</body></html>"
    # when WeasyPrint turns it into a PDF
    pdf = tmp_path / "chart.pdf"
    pdf.write_bytes(weasyprint.HTML(string=html).write_pdf())
    # then the group names and the threshold label are real text in the PDF
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "female" in text
    assert "four-fifths (0.8)" in text
    assert "Adverse impact ratio by group" in text
    assert time.perf_counter() - started < 10


def test_psi_chart_caps_an_extreme_value_and_says_so() -> None:
    texts = _texts(charts.psi_chart({"amount": 13.2, "age": 0.05}, title="Extreme"))
    assert "13.200 (off scale)" in texts
    assert "0.050" in texts
    # the axis stops near the cap instead of stretching to 13
    assert "1.2" in texts and "14" not in texts


def test_rendering_leaves_no_figure_alive() -> None:
    # given charts rendered many times (no pyplot registry holds them)
    for _ in range(2):
        charts.psi_chart(PSI, title="Leak check")
    gc.collect()
    # then no matplotlib figure survives
    # (type() rather than isinstance: a dead weak proxy in the heap raises on that)
    assert not [o for o in gc.get_objects() if type(o) is Figure]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_values_are_treated_as_missing(bad: float) -> None:
    svg = charts.approval_rate_chart({"a": _days([0.6, bad, 0.7])}, title="T")
    assert "a" in _texts(svg)
    psi = _texts(charts.psi_chart({"f": bad, "g": 0.2}, title="T"))
    assert "no data" in psi
    only_bad = charts.air_chart({"a": _days([bad])}, title="T")
    assert "No ratios in this period." in _texts(only_bad)
