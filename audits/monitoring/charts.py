"""Server-rendered SVG charts of monitoring reports, for web pages and PDF packs.

Every function returns one ``<svg>`` element (no XML prolog or doctype), ready to
inline into HTML or into the HTML that WeasyPrint turns into a PDF. The output is
deterministic: the same input gives the same bytes (no date, no creator, hashed ids
salted from the input). Text stays text (``svg.fonttype = "none"``), so labels are
searchable, selectable and small in PDFs; the font is DejaVu Sans. Colours follow
the Okabe-Ito palette, which stays distinguishable with colour-vision deficiency,
and every series also has its own marker.

Figures are built with the object API (``Figure`` and ``FigureCanvasSVG``, never
pyplot), so no figure is registered globally and nothing needs closing. rcParams
are process-global, so rendering holds a lock: the ``rc_context`` of one thread
cannot leak into a chart another thread is drawing.
"""

from __future__ import annotations

import hashlib
import html
import io
import math
import re
import textwrap
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

# Okabe & Ito (2008), without vermillion, which marks thresholds and breaches.
SERIES_COLOURS = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
THRESHOLD_RED = "#D55E00"  # Okabe-Ito vermillion
WATCH_ORANGE = "#E69F00"
OK_GREEN = "#009E73"
NO_DATA_GREY = "#999999"
REFERENCE_GREY = "#666666"
WIDTH, HEIGHT = 7.5, 3.2  # inches
PSI_SCALE_CAP = 1.0

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays <text>; "svg.hashsalt" is set per chart
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,  # grid lines behind bars
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "timezone": "UTC",
    # datetime64 x values get the concise date ticks ("Mar", "05", "12:00").
    "date.converter": "concise",
    "date.epoch": "1970-01-01T00:00:00",
}
_EPOCH = np.datetime64("1970-01-01T00:00:00", "us")
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
# Matplotlib's <style> holds one global "*" rule, which would restyle every SVG of
# the page once inlined; its two properties are inherited, so they move to the root
# <svg> as presentation attributes and the <style> element goes.
_STYLE_ELEMENT = re.compile(r"\s*<defs>\s*<style[^>]*>\*\{([^}]*)\}</style>\s*</defs>")
_STYLE_ATTRIBUTE = re.compile(r' style="([^"]*)"')
# Properties matplotlib writes in style="" that are SVG presentation attributes.
_PRESENTATION = frozenset(
    {
        "clip-path",
        "fill",
        "fill-opacity",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "opacity",
        "stroke",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-opacity",
        "stroke-width",
        "text-anchor",
    }
)
_LOCK = threading.Lock()

Series = Mapping[str, Sequence[tuple[datetime, float | None]]]


def _text(value: Any) -> str:
    # A "$" in a group or feature name would start mathtext.
    return str(value).replace("$", r"\$")


def _salt(kind: str, title: str, payload: Any) -> str:
    # Ids are hashes salted per chart: two charts on one page never share an id
    # (a <use> resolving into another, hidden, chart draws nothing), and the same
    # input still gives the same bytes.
    digest = hashlib.sha256(repr((kind, title, payload)).encode()).hexdigest()
    return f"modelgov-{digest[:16]}"


def _unreferenced_ids_removed(svg: str) -> str:
    referenced = set(re.findall(r'url\(#([^)"\']+)\)', svg))
    referenced |= set(re.findall(r'href="#([^"]+)"', svg))
    return re.sub(
        r' id="([^"]+)"',
        lambda m: m.group(0) if m.group(1) in referenced else "",
        svg,
    )


def _attributes(declarations: str) -> str:
    """CSS declarations (``fill: #fff; stroke: none``) as SVG presentation
    attributes (`` fill="#fff" stroke="none"``)."""
    out = []
    for declaration in declarations.split(";"):
        name, sep, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            continue
        if name not in _PRESENTATION:
            raise ValueError(f"chart style property {name!r} has no SVG attribute")
        out.append(f' {name}="{html.escape(value, quote=False)}"')
    return "".join(out)


def _presentation_attributes(svg: str) -> str:
    """Styles as presentation attributes, with no CSS left in the chart.

    WeasyPrint parses every ``style`` attribute and ``<style>`` element of the
    HTML it renders as the page's own CSS, where SVG properties are unknown (one
    warning per declaration: tens of thousands per pack), and a browser applies a
    chart's ``<style>`` to the whole page. Presentation attributes mean the same
    to an SVG renderer and are CSS to nobody.
    """
    found = _STYLE_ELEMENT.search(svg)
    root = _attributes(found.group(1)) if found else ""
    if found:
        svg = svg[: found.start()] + svg[found.end() :]
    svg = _STYLE_ATTRIBUTE.sub(lambda m: _attributes(m.group(1)), svg)
    end = svg.index(">")
    return svg[:end] + root + svg[end:]


def _finish(svg: str, title: str) -> str:
    """The bare <svg> element, styled by attributes, with a role and a title."""
    svg = svg[svg.index("<svg") :]
    svg = _unreferenced_ids_removed(svg)
    svg = _presentation_attributes(svg)
    end = svg.index(">")
    opening = svg[:end] + ' class="modelgov-chart" role="img">'
    return f"{opening}\n <title>{html.escape(title)}</title>{svg[end + 1 :]}"


def _render(
    kind: str,
    title: str,
    payload: Any,
    draw: Callable[[Figure], None],
    *,
    height: float = HEIGHT,
) -> str:
    """Run ``draw`` on a fresh figure under the house rcParams; return its <svg>."""
    rc: dict[RcKeyType, Any] = {**_RC, "svg.hashsalt": _salt(kind, title, payload)}
    buffer = io.StringIO()
    with _LOCK, matplotlib.rc_context(rc):
        figure = Figure(figsize=(WIDTH, height), layout="constrained")
        FigureCanvasSVG(figure)
        draw(figure)
        figure.savefig(buffer, format="svg", metadata=_METADATA)
    return _finish(buffer.getvalue(), title)


def _style(index: int) -> tuple[str, str]:
    return SERIES_COLOURS[index % len(SERIES_COLOURS)], MARKERS[index % len(MARKERS)]


def _points(
    points: Sequence[tuple[datetime, float | None]],
) -> tuple[np.ndarray, list[float]]:
    """Times as UTC datetime64 (naive times are taken as UTC) and values, in order."""
    ordered = sorted(points, key=lambda point: _utc(point[0]))
    x = np.array([_utc(when) for when, _ in ordered], dtype="datetime64[us]")
    # NaN breaks the line: a None is a gap, not a zero.
    y = [_number(value) for _, value in ordered]
    return x, y


def _number(value: float | None) -> float:
    """The value as a float; NaN (a gap) for None and non-finite values."""
    if value is None or not math.isfinite(value):
        return math.nan
    return float(value)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when
    return when.astimezone(UTC).replace(tzinfo=None)


def _has_values(series: Series) -> bool:
    return any(
        math.isfinite(_number(value))
        for points in series.values()
        for _, value in points
    )


def _legend_outside(axes: Axes, handles: list[Any], labels: list[str]) -> None:
    # Explicit handles and labels: no label is dropped for starting with "_".
    axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _time_lines(
    axes: Axes, series: Series, step: timedelta
) -> tuple[list[Any], list[str], list[float]]:
    """One line with markers per group; returns legend handles, labels, values.
    A series at one time only gets an axis of one ``step`` either side."""
    handles: list[Any] = []
    labels: list[str] = []
    seen: list[float] = []
    times: list[np.datetime64] = []
    for index, (group, points) in enumerate(series.items()):
        colour, marker = _style(index)
        x, y = _points(points)
        times += list(x)
        (line,) = axes.plot(
            x, y, color=colour, marker=marker, markersize=4.5, linewidth=1.6
        )
        handles.append(line)
        labels.append(_text(group))
        seen += _finite(y)
    if times and min(times) == max(times):
        # One time only: show a period either side, not matplotlib's default of
        # years. Date axes count days since "date.epoch", pinned in _RC.
        day = float((times[0] - _EPOCH) / np.timedelta64(1, "D"))
        half = step / timedelta(days=1)
        axes.set_xlim(day - half, day + half)
    return handles, labels, seen


def approval_rate_chart(
    series: Series,
    *,
    baseline: Mapping[str, float] | None = None,
    band: float = 0.15,
    title: str,
    step: timedelta = timedelta(days=1),
) -> str:
    """Approval rate per group over time, against each group's baseline.

    ``series`` maps a group to its (time, rate) points; a None rate is a gap. Each
    group with a ``baseline`` rate gets a dashed line in its colour and a shaded
    band of baseline x (1 +/- ``band``). ``step`` is the series' period (the axis
    of a single time spans one step either side). An empty series gives
    ``empty_chart``.
    """
    if not _has_values(series):
        return empty_chart("No decisions in this period.", title=title)
    payload = (_plain(series), _plain(baseline or {}), band, step)

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        handles, labels, seen = _time_lines(axes, series, step)
        for index, group in enumerate(series):
            rate = (baseline or {}).get(group)
            if rate is None:
                continue
            colour, _ = _style(index)
            low, high = rate * (1 - band), rate * (1 + band)
            axes.axhspan(low, high, color=colour, alpha=0.10, linewidth=0)
            axes.axhline(rate, color=colour, linestyle="--", linewidth=1.0)
            seen += [low, high]
        if baseline and any(group in baseline for group in series):
            handles.append(Line2D([], [], color=REFERENCE_GREY, linestyle="--"))
            labels.append(f"baseline (band ±{band:.0%})")
        low, high = min(seen), max(seen)
        axes.set_ylim(max(0.0, low - 0.05), min(1.0, high + 0.05))
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        axes.set_ylabel("Approval rate")
        axes.set_title(_text(title))
        _legend_outside(axes, handles, labels)

    return _render("approval_rate", title, payload, draw)


def air_chart(
    series: Series,
    *,
    threshold: float = 0.8,
    title: str,
    step: timedelta = timedelta(days=1),
) -> str:
    """Adverse impact ratio per group over time, with the four-fifths line.

    ``series`` maps a group to its (time, AIR) points; a None is a gap. A red line
    marks ``threshold``, labelled "four-fifths (0.8)" at the default, and a grey
    dotted line parity (1.0). ``step`` is the series' period.
    """
    if not _has_values(series):
        return empty_chart("No ratios in this period.", title=title)
    label = "four-fifths (0.8)" if threshold == 0.8 else f"threshold ({threshold:g})"

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        handles, labels, seen = _time_lines(axes, series, step)
        axes.axhline(threshold, color=THRESHOLD_RED, linewidth=1.6)
        axes.text(
            0.995,
            threshold,
            label,
            transform=axes.get_yaxis_transform(),
            ha="right",
            va="bottom",
            color=THRESHOLD_RED,
            fontsize=8,
        )
        axes.axhline(1.0, color=REFERENCE_GREY, linestyle=":", linewidth=1.0)
        low = min([*seen, threshold])
        high = max([*seen, 1.0])
        axes.set_ylim(max(0.0, low - 0.05), high + 0.05)
        axes.set_ylabel("Adverse impact ratio")
        axes.set_title(_text(title))
        _legend_outside(axes, handles, labels)

    return _render("air", title, (_plain(series), threshold, step), draw)


def psi_chart(
    values: Mapping[str, float | None],
    *,
    watch: float = 0.1,
    breach: float = 0.25,
    title: str,
) -> str:
    """PSI per feature as horizontal bars coloured by band, highest first.

    Green below ``watch``, orange from ``watch``, vermillion from ``breach``;
    dashed vertical lines mark both thresholds. A None (too few values) shows as
    "no data". Bars stop at ``PSI_SCALE_CAP`` (hatched, "off scale") so that one
    extreme feature does not flatten the others. The figure grows taller with more
    than about eight features.
    """
    if not values:
        return empty_chart("No baselined features.", title=title)
    finite = {
        name: None if math.isnan(_number(value)) else value
        for name, value in values.items()
    }
    # Highest PSI on top; features without a value last, then by name.
    ordered = sorted(
        finite.items(),
        key=lambda item: (item[1] is None, -(item[1] or 0.0), item[0]),
    )
    height = max(HEIGHT, 0.28 * len(ordered) + 1.2)

    def colour(value: float | None) -> str:
        if value is None:
            return NO_DATA_GREY
        if value >= breach:
            return THRESHOLD_RED
        return WATCH_ORANGE if value >= watch else OK_GREEN

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        positions = list(range(len(ordered)))
        # Past PSI_SCALE_CAP a shift is extreme whatever its size; capping the
        # axis keeps the small bars readable. Capped bars are hatched.
        cap = max(PSI_SCALE_CAP, breach)
        widths = [min(value or 0.0, cap) for _, value in ordered]
        bars = axes.barh(
            positions,
            widths,
            color=[colour(value) for _, value in ordered],
            height=0.6,
        )
        for bar, (_, value) in zip(bars, ordered, strict=True):
            if value is not None and value > cap:
                bar.set_hatch("///")
                bar.set_edgecolor("#FFFFFF")
        top = max([*widths, breach]) * 1.25
        for position, width, (_, value) in zip(positions, widths, ordered, strict=True):
            if value is None:
                shown = "no data"
            else:
                shown = f"{value:.3f}" + (" (off scale)" if value > cap else "")
            axes.text(
                width + top * 0.01,
                position,
                shown,
                va="center",
                fontsize=8,
                color=REFERENCE_GREY if value is None else "#000000",
            )
        # The watch label ends at its line and the breach label starts at its
        # line, so they never overlap however close the lines are drawn.
        for level, name, line_colour, align in (
            (watch, "watch", WATCH_ORANGE, "right"),
            (breach, "breach", THRESHOLD_RED, "left"),
        ):
            axes.axvline(level, color=line_colour, linestyle="--", linewidth=1.2)
            axes.text(
                level,
                1.0,
                f" {name} ({level:g}) ",
                transform=axes.get_xaxis_transform(),
                ha=align,
                va="bottom",
                color=line_colour,
                fontsize=8,
            )
        axes.set_yticks(positions, [_text(name) for name, _ in ordered])
        axes.invert_yaxis()
        axes.set_xlim(0.0, top)
        axes.set_xlabel("Population stability index")
        axes.grid(axis="y", visible=False)
        axes.set_title(_text(title), pad=14)
        _legend_outside(
            axes,
            [Patch(color=c) for c in (OK_GREEN, WATCH_ORANGE, THRESHOLD_RED)],
            [f"< {watch:g}", f"{watch:g} – {breach:g}", f"≥ {breach:g}"],
        )

    return _render("psi", title, (tuple(ordered), watch, breach), draw, height=height)


def calibration_chart(points: Sequence[Mapping[str, float]], *, title: str) -> str:
    """Observed favourable rate against mean predicted score, one point per decile.

    ``points`` are the ``calibration`` rows of ``drift.performance`` (keys
    ``mean_predicted``, ``observed_rate`` and optionally ``decile``); the dashed
    diagonal is perfect calibration. Points with a missing value are skipped.
    """
    usable = [
        p
        for p in points
        if math.isfinite(_number(p.get("mean_predicted")))
        and math.isfinite(_number(p.get("observed_rate")))
    ]
    if not usable:
        return empty_chart("No matured outcomes in this period.", title=title)
    usable.sort(key=lambda p: float(p["mean_predicted"]))
    x = [float(p["mean_predicted"]) for p in usable]
    y = [float(p["observed_rate"]) for p in usable]

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        (diagonal,) = axes.plot(
            [0, 1], [0, 1], color=REFERENCE_GREY, linestyle="--", linewidth=1.0
        )
        (line,) = axes.plot(
            x, y, color=SERIES_COLOURS[0], marker="o", markersize=5, linewidth=1.6
        )
        for point, px, py in zip(usable, x, y, strict=True):
            if "decile" in point:
                axes.annotate(
                    f"{int(point['decile'])}",
                    (px, py),
                    xytext=(4, -9),
                    textcoords="offset points",
                    fontsize=7,
                    color=REFERENCE_GREY,
                )
        axes.set_xlim(0.0, 1.0)
        axes.set_ylim(0.0, 1.0)
        axes.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        axes.set_xlabel("Mean predicted score")
        axes.set_ylabel("Observed favourable rate")
        axes.set_title(_text(title))
        _legend_outside(
            axes, [line, diagonal], ["score deciles", "perfect calibration"]
        )

    payload = tuple(tuple(sorted(p.items())) for p in usable)
    return _render("calibration", title, payload, draw)


EMPTY_WRAP = 95  # characters per line of an empty chart's message at 10 pt


def empty_chart(message: str, *, title: str) -> str:
    """A short panel with the title and ``message`` (wrapped to the chart's
    width), for a period or group without data: as wide as a chart, only as
    tall as its text."""
    lines = textwrap.wrap(message, EMPTY_WRAP) or [""]

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        axes.axis("off")
        axes.set_title(_text(title))
        axes.text(
            0.0,
            0.5,
            _text("\n".join(lines)),
            transform=axes.transAxes,
            ha="left",
            va="center",
            color=REFERENCE_GREY,
            fontsize=10,
            linespacing=1.4,
        )

    height = 0.6 + 0.22 * len(lines)
    return _render("empty", title, message, draw, height=height)


def _plain(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` as plain dicts and lists, whose repr is stable (for salts)."""
    return {
        key: list(value)
        if isinstance(value, Sequence) and not isinstance(value, str)
        else value
        for key, value in mapping.items()
    }
