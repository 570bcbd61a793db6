"""The results of one run: analysed once, printed as a markdown table or written as JSON."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Sequence
from typing import Any, Final, Optional

from . import decomposition
from .driver import Budget, WorkloadResult
from .envs import ROOT
from .stats import ratio, summarize

__all__ = ["analyse", "extra_metrics", "markdown", "rule_verdicts", "run_metadata"]

_OTEL = (
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-semantic-conventions",
    "opentelemetry-instrumentation",
)
_SDK_SETUP = (
    "TracerProvider + BatchSpanProcessor (no-op exporter), MeterProvider + InMemoryMetricReader, "
    "always-on sampling, propagators tracecontext+baggage"
)


def analyse(result: WorkloadResult) -> dict[str, Any]:
    """Medians, spreads, paired overheads and per-round ratios of one workload.

    Overheads and ratios are computed round by round (a round's batches ran within a fraction of
    a second of each other), then summarized: a slow spell of the machine that covers a round
    cancels out of that round's ratios.
    """
    variants = result.variants
    bare = variants["bare"].per_call_us
    out_variants: dict[str, Any] = {}
    for name, variant in variants.items():
        summary = summarize(variant.per_call_us)
        out_variants[name] = {
            "iterations": variant.iterations,
            "median_us": summary.median,
            "q1_us": summary.q1,
            "q3_us": summary.q3,
            "iqr_us": summary.iqr,
            "per_round_us": variant.per_call_us,
            **variant.totals,
        }
    ours = [v - b for v, b in zip(variants["instrumentarium"].per_call_us, bare)]
    theirs = [v - b for v, b in zip(variants["upstream"].per_call_us, bare)]
    overheads = {
        "instrumentarium": summarize(ours).as_dict(),
        "upstream": summarize(theirs).as_dict(),
    }
    ratios: dict[str, Any] = {"ours_over_upstream": _ratios(ours, theirs)}
    if "floor" not in variants:  # an instrumentor that emits nothing: no floor to compare with
        ratios["ours_over_floor"] = ratios["ours_over_floor_in_app"] = None
    else:
        floor = variants["floor"].per_call_us
        floor_in_app = [v - b for v, b in zip(variants["bare+floor"].per_call_us, bare)]
        overheads["floor_in_app"] = summarize(floor_in_app).as_dict()
        ratios["ours_over_floor"] = _ratios(ours, floor)
        ratios["ours_over_floor_in_app"] = _ratios(ours, floor_in_app)
    if "peer" in variants:
        peer = [v - b for v, b in zip(variants["peer"].per_call_us, bare)]
        overheads["peer"] = summarize(peer).as_dict()
        ratios["peer_over_ours"] = _ratios(peer, ours)
    floor_telemetry = variants["floor"].ready["telemetry"] if "floor" in variants else {}
    return {
        "description": result.workload.description,
        "variants": out_variants,
        "overhead_us": overheads,
        "ratios": ratios,
        "floor_calls": floor_telemetry.get("floor"),
        "decomposition": decomposition.summarize(
            floor_telemetry.get("floor_steps", {}),
            result.decomposition.get("tight", []),
            result.decomposition.get("in_app", []),
            floor_us=out_variants["floor"]["median_us"],
            floor_in_app_us=overheads["floor_in_app"]["median"],
        )
        if "floor" in variants
        else None,
        "telemetry": {name: variant.ready["telemetry"] for name, variant in variants.items()},
        "notes": result.notes,
        "round_orders": result.orders,
    }


def _ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Optional[dict[str, Any]]:
    """The per-round ratios, summarized; rounds whose denominator is lost in the noise
    (not positive) are left out, and None means no round had one."""
    values = [r for r in map(ratio, numerators, denominators) if r is not None]
    if not values:
        return None
    return {**summarize(values).as_dict(), "rounds": len(values)}


def _git_revision() -> str:
    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    revision = git("rev-parse", "--short", "HEAD")
    if revision is None:
        return "unknown"
    return revision + ("+dirty" if git("status", "--porcelain") else "")


def run_metadata(
    results: Sequence[WorkloadResult],
    budget: Budget,
    seed: int,
    semconv: Optional[str],
    quick: bool,
) -> dict[str, Any]:
    """What the header prints: versions as the workers reported them, machine, settings."""
    bench: dict[str, str] = {}
    upstream: dict[str, str] = {}
    library_names: set[str] = set()
    upstream_names: set[str] = set()
    python = ""
    peer: dict[str, str] = {}
    for result in results:
        bench.update(result.variants["instrumentarium"].ready["versions"])
        upstream.update(result.variants["upstream"].ready["versions"])
        if "peer" in result.variants:
            peer.update(result.variants["peer"].ready["versions"])
        library_names.update(result.workload.show_versions)
        upstream_names.update(name for name in upstream if name.startswith("opentelemetry-"))
        python = result.variants["bare"].ready["python"]
    upstream_names -= set(_OTEL) | {"opentelemetry-sdk"}
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "python": python,
        "instrumentarium": {
            "version": (ROOT / "VERSION").read_text().strip(),
            "git": _git_revision(),
            "distributions": {k: v for k, v in bench.items() if k.startswith("instrumentarium")},
        },
        "opentelemetry": {name: bench.get(name) for name in _OTEL},
        "libraries": {name: bench.get(name) for name in sorted(library_names)},
        "upstream": {name: upstream[name] for name in sorted(upstream_names)},
        "peer": {name: peer[name] for name in ("sentry-sdk",) if name in peer},
        "sdk_setup": _SDK_SETUP,
        "semconv_opt_in": semconv or "default",
        "rounds": budget.rounds,
        "batch_seconds": None if budget.iterations else budget.batch_seconds,
        "iterations": budget.iterations,
        "warmup_seconds": budget.warmup_seconds,
        "seed": seed,
        "quick": quick,
    }


def _versions(versions: dict[str, Optional[str]], strip: str = "") -> str:
    return ", ".join(f"{name.removeprefix(strip)} {version}" for name, version in versions.items())


def _us(analysis: dict[str, Any], variant: str) -> str:
    data = analysis["variants"].get(variant)
    if data is None:
        return "n/a"
    return f"{data['median_us']:.2f} ±{data['iqr_us'] / 2:.2f}"


def _with_overhead(analysis: dict[str, Any], variant: str) -> str:
    overhead = analysis["overhead_us"].get(variant)
    if overhead is None:
        return "n/a"
    return f"{_us(analysis, variant)} (+{overhead['median']:.2f})"


def _ratio(summary: Optional[dict[str, Any]]) -> str:
    if summary is None:
        return "n/a"
    return f"{summary['median']:.2f} ±{summary['iqr'] / 2:.2f}"


# The performance rule (DEVELOPERS.md): ours/upstream <= 1; ours/floor in app <= 1.15; ours/upstream
# <= 0.5 where the telemetry is upstream's and the floor allows it.
RULE_UPSTREAM: Final = 1.0
RULE_FLOOR: Final = 1.15
RULE_HALF: Final = 0.5


def _paired(analysis: dict[str, Any], variant: str) -> Optional[list[float]]:
    """The variant's per-round overhead (minus bare of the same round); None when absent."""
    variants = analysis["variants"]
    if variant not in variants:
        return None
    bare = variants["bare"]["per_round_us"]
    return [v - b for v, b in zip(variants[variant]["per_round_us"], bare)]


def extra_metrics(analysis: dict[str, Any]) -> list[str]:
    """The metrics our variant recorded and upstream's did not (from the captured telemetry)."""
    telemetry = analysis.get("telemetry") or {}
    ours = set((telemetry.get("instrumentarium") or {}).get("metrics") or {})
    theirs = set((telemetry.get("upstream") or {}).get("metrics") or {})
    return sorted(ours - theirs)


def extra_metrics_cost(analysis: dict[str, Any], names: Sequence[str]) -> float:
    """What recording ``names`` costs per call in the app, from the floor's decomposition (an
    observable counter has no per-call step, so it costs nothing there)."""
    rows = (analysis.get("decomposition") or {}).get("rows") or []
    wanted = {f"{name}.record" for name in names}
    return float(sum(row["in_app_us"] for row in rows if row["call"] in wanted))


def rule_verdicts(analysis: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The three parts of the performance rule for one workload (None without a floor).

    A part that is not met is *out of reach* when the SDK's own cost settles it: rule 1 when
    the in-app floor alone is above upstream's whole overhead, or when our excess over upstream
    is less than what the SDK charges for the metrics upstream does not record (decomposition,
    in app); rule 3 when the floor alone is above half of upstream's. Rule 3 applies only where
    the telemetry is upstream's: with metrics upstream lacks, it is marked as not applying.
    """
    floor = _paired(analysis, "bare+floor")
    ours = _paired(analysis, "instrumentarium")
    theirs = _paired(analysis, "upstream")
    if floor is None or ours is None or theirs is None:
        return None
    floor_share = _ratios(floor, theirs)
    ours_up = analysis["ratios"]["ours_over_upstream"]
    ours_floor = analysis["ratios"]["ours_over_floor_in_app"]
    if floor_share is None or ours_up is None or ours_floor is None:
        return None
    share = floor_share["median"]
    ratio_up = ours_up["median"]
    extra = extra_metrics(analysis)
    extra_cost = extra_metrics_cost(analysis, extra)
    excess = summarize([o - t for o, t in zip(ours, theirs)]).median

    if ratio_up <= RULE_UPSTREAM:
        rule1 = f"met ({ratio_up:.2f})"
    elif share >= RULE_UPSTREAM:
        rule1 = f"out of reach ({ratio_up:.2f}; the floor alone is {share:.2f})"
    elif extra_cost > 0 and excess <= extra_cost:
        rule1 = (
            f"out of reach ({ratio_up:.2f}; +{excess:.1f} µs over upstream, less than the "
            f"{extra_cost:.1f} µs the SDK takes to record {', '.join(extra)})"
        )
    else:
        rule1 = f"not met ({ratio_up:.2f})"
    ratio_floor = ours_floor["median"]
    rule2 = f"{'met' if ratio_floor <= RULE_FLOOR else 'not met'} ({ratio_floor:.2f})"
    if extra:
        rule3 = f"does not apply ({ratio_up:.2f}; metrics upstream lacks)"
    elif ratio_up <= RULE_HALF:
        rule3 = f"met ({ratio_up:.2f})"
    elif share >= RULE_HALF:
        rule3 = f"out of reach ({ratio_up:.2f}; the floor alone is {share:.2f})"
    else:
        rule3 = f"not met ({ratio_up:.2f})"
    return {
        "floor_over_upstream": floor_share,
        "extra_metrics": extra,
        "extra_metrics_us": extra_cost,
        "excess_us": excess,
        "rule1": rule1,
        "rule2": rule2,
        "rule3": rule3,
    }


def markdown(meta: dict[str, Any], analyses: dict[str, dict[str, Any]]) -> str:
    ours = meta["instrumentarium"]
    batch = (
        f"{meta['iterations']} calls per batch"
        if meta["iterations"]
        else f"batches of ~{meta['batch_seconds'] * 1000:.0f} ms"
    )
    lines = [
        f"## instrumentarium benchmarks ({meta['date']}{', quick' if meta['quick'] else ''})",
        "",
        f"- {meta['python']} on {meta['machine']}",
        f"- instrumentarium {ours['version']} (git {ours['git']})",
        f"- OpenTelemetry: {_versions(meta['opentelemetry'], 'opentelemetry-')}",
        f"- libraries: {_versions(meta['libraries'])}",
        f"- upstream: {_versions(meta['upstream'])}",
        f"- peer: {_versions(meta.get('peer') or {}) or 'none'} (traces_sample_rate=1.0, "
        "events to a transport that drops them)",
        f"- SDK set-up, every variant: {meta['sdk_setup']}; "
        f"semconv opt-in: {meta['semconv_opt_in']}",
        f"- {meta['rounds']} interleaved rounds (shuffled, seed {meta['seed']}), {batch}, "
        f"{meta['warmup_seconds']:g} s warm-up per variant",
        "",
        "| workload | bare µs | floor µs | instrumentarium µs (overhead) "
        "| upstream µs (overhead) | peer µs (overhead) | ours/upstream | peer/ours "
        "| ours/floor | ours/floor in app |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, analysis in analyses.items():
        ratios = analysis["ratios"]
        lines.append(
            f"| {name} | {_us(analysis, 'bare')} | {_us(analysis, 'floor')} "
            f"| {_with_overhead(analysis, 'instrumentarium')} "
            f"| {_with_overhead(analysis, 'upstream')} | {_with_overhead(analysis, 'peer')} "
            f"| {_ratio(ratios['ours_over_upstream'])} | {_ratio(ratios.get('peer_over_ours'))} "
            f"| {_ratio(ratios['ours_over_floor'])} "
            f"| {_ratio(ratios['ours_over_floor_in_app'])} |"
        )
    lines += [
        "",
        "Medians over the rounds, ± half the interquartile range. µs: time per call. "
        "Overhead: variant minus bare of the same round. "
        "ours/upstream: our overhead ÷ upstream's in the same round (lower is better). "
        "ours/floor: our overhead ÷ the floor of the same round; the floor is the SDK's own "
        "cost for the same span and metrics (1.00 = nothing on top of the SDK). "
        "ours/floor in app: the same, with the floor's SDK calls timed next to the bare "
        "library in one loop (bare+floor minus bare): inside an app they cost more than in the "
        "floor's tight loop, so this is the fairer yardstick for framework workloads. "
        "peer: sentry-sdk with the workload's integration, tracing every request; peer/ours: "
        "its overhead ÷ ours (above 1: the peer costs more); for client workloads (Redis, "
        "HTTP clients, gRPC) each call runs in a transaction of its own, since sentry sends "
        "client spans only inside one.",
    ]
    lines += [
        "",
        "### The performance rule",
        "",
        "Rule 1: our overhead at most upstream's (ours/upstream ≤ 1, our extra metrics "
        "included). Rule 2: at most 1.15 times the in-app floor. Rule 3: at most half of "
        "upstream's, where the telemetry is upstream's and the floor allows it. "
        "floor ÷ upstream: the in-app floor over upstream's overhead, round by round: above 1, "
        "the SDK calls of our telemetry alone cost more than all of upstream's overhead, so "
        "rule 1 is out of reach; above 0.5, rule 3 is. Rule 1 is also out of reach when our "
        "excess over upstream is less than what the SDK takes (decomposition, in app) to record "
        "the metrics upstream does not emit; rule 3 does not apply to those workloads.",
        "",
        "| workload | floor ÷ upstream | rule 1 (≤ 1) | rule 2 (≤ 1.15) | rule 3 (≤ 0.5) |",
        "|---|---:|---|---|---|",
    ]
    for name, analysis in analyses.items():
        verdicts = rule_verdicts(analysis)
        if verdicts is None:  # no telemetry, no floor: only rule 1 applies
            ours_up = analysis["ratios"]["ours_over_upstream"]
            met = ours_up is not None and ours_up["median"] <= RULE_UPSTREAM
            rule1 = f"{'met' if met else 'not met'} ({_ratio(ours_up)})"
            lines.append(f"| {name} | n/a | {rule1} | n/a | n/a |")
            continue
        lines.append(
            f"| {name} | {_ratio(verdicts['floor_over_upstream'])} | {verdicts['rule1']} "
            f"| {verdicts['rule2']} | {verdicts['rule3']} |"
        )
    lines += ["", "Floor, per call (captured from one instrumentarium call, in order):", ""]
    lines += [
        f"- {name}: {analysis['floor_calls'] or 'none (the instrumentor emits no telemetry)'}"
        for name, analysis in analyses.items()
    ]
    lines += ["", "### Where the floor's time goes", ""]
    lines.append(
        "Each SDK/API call of the floor timed on its own (perf_counter_ns around it, less the "
        "cost of an empty timed interval), per request: tight = the floor's own loop, in app = "
        "beside the bare library call in one loop (bare+floor). Medians over the "
        "decomposition batches."
    )
    for name, analysis in analyses.items():
        if analysis.get("decomposition"):  # absent from JSON files of older runs
            table = decomposition.markdown_table(analysis["decomposition"])
            lines += ["", f"**{name}**", "", *table]
    notes = [
        f"- {name}: {note}" for name, analysis in analyses.items() for note in analysis["notes"]
    ]
    if notes:
        lines += ["", "Telemetry differences and checks:", "", *notes]
    return "\n".join(lines) + "\n"
