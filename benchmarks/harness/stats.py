"""Summaries of per-round timings: medians and quartiles, overheads and their ratios."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Optional

__all__ = ["Summary", "ratio", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Median and quartiles of one series (µs per call, one value per round)."""

    median: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "iqr": self.iqr}


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("no values")
    if len(values) == 1:
        return Summary(values[0], values[0], values[0])
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Summary(median, q1, q3)


def ratio(numerator: float, denominator: float) -> Optional[float]:
    """``numerator / denominator``, or None when the denominator is not a positive number
    (an overhead lost in the noise has no meaningful ratio)."""
    return numerator / denominator if denominator > 0 else None
