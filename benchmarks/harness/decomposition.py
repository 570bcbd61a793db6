"""Where the floor's time goes: each SDK/API call's cost per request, alone and inside the app.

The floor workers time every call of their replay (``harness/floor.py``, ``decompose N``) in
batches: ``floor`` in its tight loop, ``bare+floor`` beside the bare library. ``summarize``
turns those batches into one row per step::

    step                      count  µs tight  µs in app  share
    start_span                    1      4.10       6.90  38%
    attach/detach                 2      0.60       1.10   6%
    ...

``share`` is the step's part of the sum of all steps (tight loop; ``share_in_app`` in the app).
In the tight loop the sum is a little below the floor measured in the rounds: the loop and the
generated function's frame belong to no step. In the app the measured floor (``bare+floor`` -
``bare``) is usually further above the sum: the SDK's calls also slow the library's own code
(shared caches), which no step sees.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Optional

__all__ = ["markdown_table", "summarize"]


def _median(values: Sequence[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def summarize(
    counts: Mapping[str, int],
    tight: Sequence[Mapping[str, float]],
    in_app: Sequence[Mapping[str, float]],
    floor_us: Optional[float] = None,
    floor_in_app_us: Optional[float] = None,
) -> dict[str, Any]:
    """One row per step (in ``counts``' order): its calls per request, the median over batches
    of its µs per request in the tight loop and in the app, and its share of each sum."""
    rows = []
    for name, count in counts.items():
        rows.append(
            {
                "call": name,
                "count": count,
                "tight_us": _median([batch[name] for batch in tight if name in batch]),
                "in_app_us": _median([batch[name] for batch in in_app if name in batch]),
            }
        )
    tight_sum = sum(row["tight_us"] or 0.0 for row in rows)
    in_app_sum = sum(row["in_app_us"] or 0.0 for row in rows)
    for row in rows:
        row["share"] = (row["tight_us"] or 0.0) / tight_sum if tight_sum > 0 else None
        row["share_in_app"] = (row["in_app_us"] or 0.0) / in_app_sum if in_app_sum > 0 else None
    return {
        "rows": rows,
        "sum_tight_us": tight_sum,
        "sum_in_app_us": in_app_sum,
        "floor_us": floor_us,
        "floor_in_app_us": floor_in_app_us,
        "batches": {"tight": len(tight), "in_app": len(in_app)},
    }


def _us(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _share(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def markdown_table(summary: Mapping[str, Any]) -> list[str]:
    """The decomposition as markdown lines: one row per step, then the sums against the floor
    measured in the rounds."""
    lines = [
        "| SDK/API call | per request | µs tight | µs in app | share of floor (tight / in app) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {row['call']} | {row['count']} | {_us(row['tight_us'])} "
        f"| {_us(row['in_app_us'])} | {_share(row['share'])} / {_share(row['share_in_app'])} |"
        for row in summary["rows"]
    )
    lines.append(
        f"| **sum of the calls** | | {_us(summary['sum_tight_us'])} "
        f"| {_us(summary['sum_in_app_us'])} | 100% |"
    )
    lines.append(
        f"| floor as measured (floor; bare+floor - bare) | | {_us(summary['floor_us'])} "
        f"| {_us(summary['floor_in_app_us'])} | |"
    )
    return lines
