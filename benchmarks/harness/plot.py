"""The results as a picture: one small bar chart per workload, written as plain SVG text.

``svg(document)`` takes the JSON document ``run.py --json`` writes (``{"meta": ..., "workloads":
...}``) and returns the SVG: for each workload, one horizontal bar per variant (bare, bare + the
SDK floor, instrumentarium, upstream, peer) at its median µs per call, with a whisker of ± half
the interquartile range. Each workload has its own scale (a Redis call and a gRPC stream differ
a hundredfold); the value is printed beside each bar. A caption names the machine, Python,
OpenTelemetry, the libraries, the compared versions and the date.

No plotting library: the output is deterministic text, so a regenerated chart diffs line by line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional
from xml.sax.saxutils import escape

__all__ = ["BARS", "svg"]

# (variant in the JSON, label, colour)
BARS = (
    ("bare", "bare library", "#9e9e9e"),
    ("bare+floor", "bare + SDK floor", "#8ecae6"),
    ("instrumentarium", "instrumentarium", "#2a9d8f"),
    ("upstream", "upstream contrib", "#e76f51"),
    ("peer", "peer (sentry-sdk)", "#7b6cd9"),
)

_WIDTH = 1000
_COLUMNS = 2
_MARGIN = 20
_LABEL = 118  # width of the variant labels
_VALUE = 92  # room for the printed value right of the longest bar
_ROW = 15
_BAR = 11
_HEADER = 20
_GAP = 16
_FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


def _fmt(value: float) -> str:
    """A coordinate: one decimal, no trailing zeros, stable across runs of the same data."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _us(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    if value >= 100:
        return f"{value:.0f} µs"
    return f"{value:.1f} µs"


def _spread(data: Mapping[str, Any]) -> tuple[float, float]:
    """Median and half the interquartile range of one variant."""
    median = float(data["median_us"])
    half = float(data.get("iqr_us", 0.0)) / 2
    return median, half


def _panel(name: str, analysis: Mapping[str, Any], x: float, y: float, width: float) -> list[str]:
    variants = analysis["variants"]
    shown = [(key, label, colour, variants.get(key)) for key, label, colour in BARS]
    extent = max((sum(_spread(data)) for *_, data in shown if data), default=0.0) or 1.0
    bar_left = x + _LABEL
    scale = (width - _LABEL - _VALUE) / extent
    parts = [
        f'<text x="{_fmt(x)}" y="{_fmt(y + 13)}" font-size="13" font-weight="bold">'
        f"{escape(name)}</text>"
    ]
    row_y = y + _HEADER
    for _key, label, colour, data in shown:
        text_y = _fmt(row_y + _BAR - 1)
        parts.append(
            f'<text x="{_fmt(bar_left - 6)}" y="{text_y}" font-size="11" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        if data is None:
            parts.append(
                f'<text x="{_fmt(bar_left)}" y="{text_y}" font-size="11" fill="#777">'
                "no integration</text>"
            )
            row_y += _ROW
            continue
        median, half = _spread(data)
        length = max(median * scale, 0.5)
        low = bar_left + max(median - half, 0.0) * scale
        high = bar_left + (median + half) * scale
        mid = row_y + _BAR / 2
        parts += [
            f'<rect x="{_fmt(bar_left)}" y="{_fmt(row_y)}" width="{_fmt(length)}" '
            f'height="{_BAR}" fill="{colour}"><title>{escape(label)}: {_us(median)} '
            f"± {_us(half)}</title></rect>",
            f'<path d="M{_fmt(low)} {_fmt(mid)}H{_fmt(high)}M{_fmt(low)} {_fmt(mid - 3)}'
            f'V{_fmt(mid + 3)}M{_fmt(high)} {_fmt(mid - 3)}V{_fmt(mid + 3)}" stroke="#222" '
            'stroke-width="1" fill="none"/>',
            f'<text x="{_fmt(max(high, bar_left + length) + 5)}" y="{text_y}" font-size="11">'
            f"{_us(median)}</text>",
        ]
        row_y += _ROW
    return parts


def _panel_height() -> int:
    return _HEADER + _ROW * len(BARS) + _GAP


def _versions(versions: Optional[Mapping[str, Optional[str]]], strip: str = "") -> str:
    return ", ".join(
        f"{name.removeprefix(strip)} {version}" for name, version in (versions or {}).items()
    )


def caption(meta: Mapping[str, Any]) -> list[str]:
    """The lines under the title: what ran where, and how to read the bars."""
    upstream = sorted(set((meta.get("upstream") or {}).values()))
    ours = meta.get("instrumentarium", {})
    return [
        f"{meta.get('machine', '?')}; {meta.get('python', '?')}; "
        f"instrumentarium {ours.get('version', '?')} (git {ours.get('git', '?')}); "
        f"{meta.get('date', '?')}",
        f"OpenTelemetry {_versions(meta.get('opentelemetry'), 'opentelemetry-')}; "
        f"upstream contrib {', '.join(upstream) or '?'}; "
        f"peer {_versions(meta.get('peer')) or 'none'}",
        f"libraries: {_versions(meta.get('libraries'))}",
        f"{meta.get('rounds', '?')} interleaved rounds. Bars: median µs per call; whiskers: ± half "
        "the interquartile range. Each workload has its own scale.",
    ]


def svg(document: Mapping[str, Any], title: str = "instrumentarium: time per call") -> str:
    """The chart of one results document, as SVG text."""
    meta = document["meta"]
    workloads = document["workloads"]
    captions = caption(meta)
    top = _MARGIN + 22 + 15 * len(captions) + 10
    column_width = (_WIDTH - _MARGIN * (_COLUMNS + 1)) / _COLUMNS
    rows = (len(workloads) + _COLUMNS - 1) // _COLUMNS
    height = top + rows * _panel_height() + _MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" {_FONT}>',
        f'<rect width="{_WIDTH}" height="{height}" fill="#fff"/>',
        f'<text x="{_MARGIN}" y="{_MARGIN + 14}" font-size="17" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    for index, line in enumerate(captions):
        parts.append(
            f'<text x="{_MARGIN}" y="{_MARGIN + 34 + 15 * index}" font-size="11" fill="#444">'
            f"{escape(line)}</text>"
        )
    for index, (name, analysis) in enumerate(workloads.items()):
        column, row = index % _COLUMNS, index // _COLUMNS
        x = _MARGIN + column * (column_width + _MARGIN)
        y = top + row * _panel_height()
        parts += _panel(name, analysis, x, y, column_width)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
