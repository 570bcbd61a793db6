"""The performance rule's verdicts in the benchmark report (``benchmarks/harness/report.py``):
built from fixed per-round values; no timing is measured."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))

from harness.report import markdown, rule_verdicts  # noqa: E402
from harness.stats import summarize  # noqa: E402


def _analysis(
    ours: float,
    upstream: float,
    floor_in_app: Optional[float],
    extra_record_us: Optional[float] = None,
) -> dict[str, Any]:
    """Three rounds with bare at 10 µs and the given overheads (the same in every round);
    with ``extra_record_us``, ours records a histogram upstream does not, at that cost."""
    bare = [10.0, 10.0, 10.0]
    variants: dict[str, Any] = {
        "bare": {"per_round_us": bare},
        "instrumentarium": {"per_round_us": [b + ours for b in bare]},
        "upstream": {"per_round_us": [b + upstream for b in bare]},
    }
    ratios: dict[str, Any] = {
        "ours_over_upstream": {**summarize([ours / upstream] * 3).as_dict(), "rounds": 3},
        "ours_over_floor_in_app": None,
    }
    if floor_in_app is not None:
        variants["bare+floor"] = {"per_round_us": [b + floor_in_app for b in bare]}
        ratios["ours_over_floor_in_app"] = {
            **summarize([ours / floor_in_app] * 3).as_dict(),
            "rounds": 3,
        }
    telemetry: dict[str, Any] = {
        "instrumentarium": {"metrics": {"http.client.duration": []}},
        "upstream": {"metrics": {"http.client.duration": []}},
    }
    rows = [{"call": "start_span", "in_app_us": 10.0}]
    if extra_record_us is not None:
        telemetry["instrumentarium"]["metrics"]["db.client.operation.duration"] = []
        rows.append({"call": "db.client.operation.duration.record", "in_app_us": extra_record_us})
    return {
        "variants": variants,
        "ratios": ratios,
        "telemetry": telemetry,
        "decomposition": {"rows": rows},
    }


def test_every_part_met() -> None:
    verdicts = rule_verdicts(_analysis(ours=44.0, upstream=100.0, floor_in_app=40.0))
    assert verdicts is not None
    assert verdicts["floor_over_upstream"]["median"] == 0.4
    assert verdicts["rule1"] == "met (0.44)"
    assert verdicts["rule2"] == "met (1.10)"
    assert verdicts["rule3"] == "met (0.44)"


def test_above_the_floor_is_ours_to_remove() -> None:
    """A floor at 0.3 of upstream leaves every part reachable: each miss is 'not met'."""
    verdicts = rule_verdicts(_analysis(ours=60.0, upstream=100.0, floor_in_app=30.0))
    assert verdicts is not None
    assert verdicts["rule1"] == "met (0.60)"
    assert verdicts["rule2"] == "not met (2.00)"
    assert verdicts["rule3"] == "not met (0.60)"


def test_a_floor_above_half_of_upstream_puts_rule_3_out_of_reach() -> None:
    verdicts = rule_verdicts(_analysis(ours=70.0, upstream=100.0, floor_in_app=60.0))
    assert verdicts is not None
    assert verdicts["rule3"] == "out of reach (0.70; the floor alone is 0.60)"
    assert verdicts["rule1"] == "met (0.70)"


def test_a_floor_above_upstream_puts_rule_1_out_of_reach() -> None:
    """The SDK calls of our telemetry alone cost more than all of upstream's overhead."""
    verdicts = rule_verdicts(_analysis(ours=115.0, upstream=100.0, floor_in_app=110.0))
    assert verdicts is not None
    assert verdicts["rule1"] == "out of reach (1.15; the floor alone is 1.10)"
    assert verdicts["rule2"] == "met (1.05)"


def test_an_excess_below_the_cost_of_the_metrics_upstream_lacks_is_out_of_reach() -> None:
    """Ours records a histogram upstream does not: 12 µs over upstream, the record costs 15."""
    verdicts = rule_verdicts(
        _analysis(ours=112.0, upstream=100.0, floor_in_app=80.0, extra_record_us=15.0)
    )
    assert verdicts is not None
    assert verdicts["extra_metrics"] == ["db.client.operation.duration"]
    assert verdicts["rule1"] == (
        "out of reach (1.12; +12.0 µs over upstream, less than the 15.0 µs the SDK takes to "
        "record db.client.operation.duration)"
    )
    assert verdicts["rule3"] == "does not apply (1.12; metrics upstream lacks)"


def test_an_excess_above_the_cost_of_the_extra_metrics_is_not_met() -> None:
    verdicts = rule_verdicts(
        _analysis(ours=130.0, upstream=100.0, floor_in_app=80.0, extra_record_us=15.0)
    )
    assert verdicts is not None
    assert verdicts["rule1"] == "not met (1.30)"


def test_no_floor_no_verdicts_and_the_report_still_judges_rule_1() -> None:
    analysis = _analysis(ours=0.5, upstream=1.0, floor_in_app=None)
    assert rule_verdicts(analysis) is None
    meta = {
        "instrumentarium": {"version": "0.1.0", "git": "abc1234"},
        "iterations": 100,
        "date": "2026-12-06",
        "quick": False,
        "python": "CPython 3.11.7",
        "machine": "Linux x86_64, 2 CPUs",
        "opentelemetry": {},
        "libraries": {},
        "upstream": {},
        "sdk_setup": "",
        "semconv_opt_in": "default",
        "rounds": 3,
        "seed": 0,
        "warmup_seconds": 0.5,
    }
    document = {
        "logging": {
            **analysis,
            "overhead_us": {},
            "floor_calls": None,
            "decomposition": None,
            "notes": [],
            "variants": {
                name: {**value, "median_us": 1.0, "iqr_us": 0.0}
                for name, value in analysis["variants"].items()
            },
        }
    }
    document["logging"]["ratios"].update(ours_over_floor=None)
    report = markdown(meta, document)
    assert "| logging | n/a | met (0.50 ±0.00) | n/a | n/a |" in report
