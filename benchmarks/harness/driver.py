"""Worker processes and the measurement of one workload: calibration, warm-up, interleaved rounds.

Each variant of a workload runs in its own persistent worker (``harness/worker.py``). Only one
worker runs at a time: the driver sends ``run N`` to one, waits for its answer, then goes on, in
a freshly shuffled variant order every round, so slow drifts of the machine spread over all
variants instead of landing on one.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional

from workloads import Workload

__all__ = [
    "VARIANTS",
    "Budget",
    "BenchError",
    "VariantResult",
    "WorkloadResult",
    "measure",
    "start_workers",
]

VARIANTS = ("bare", "floor", "bare+floor", "instrumentarium", "upstream", "peer")
# The floor workers that also time each SDK call: floor alone (tight loop) and beside the app.
DECOMPOSED = {"floor": "tight", "bare+floor": "in_app"}
WORKER = Path(__file__).resolve().parents[1] / "worker.py"
_READY_TIMEOUT = 180.0  # a first start compiles every module
_REPLY_TIMEOUT = 300.0


class BenchError(Exception):
    """The run cannot produce trustworthy numbers (a worker failed, versions differ, ...)."""


@dataclass(frozen=True)
class Budget:
    """How long to measure: ``rounds`` rounds of one batch per variant, each batch about
    ``batch_seconds`` long (or exactly ``iterations`` calls), after ``warmup_seconds``."""

    rounds: int
    batch_seconds: float
    warmup_seconds: float
    iterations: Optional[int] = None
    decomposition_rounds: Optional[int] = None  # default: a quarter of the rounds, at least 3

    @property
    def decomposition_batches(self) -> int:
        """Timed-floor batches per floor worker, after the rounds."""
        if self.decomposition_rounds is not None:
            return self.decomposition_rounds
        return max(3, self.rounds // 4)


class Worker:
    """One worker process and its side of the line protocol."""

    def __init__(self, python: Path, workload: str, variant: str, env: dict[str, str]) -> None:
        self.variant = variant
        # A file, not a pipe: nobody reads stderr while the worker runs; close() closes it.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [str(python), "-u", str(WORKER), workload, variant],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
            env=env,
        )

    def _read(self, timeout: float) -> tuple[str, str]:
        stdout = self._process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if ready else ""
        if not line:
            self._process.kill()
            self._process.wait()
            why = "timed out" if not ready else f"exited with {self._process.returncode}"
            raise BenchError(f"worker {self.variant} {why}\n{self.stderr_tail()}")
        kind, _, payload = line.rstrip("\n").partition(" ")
        if kind == "error":
            raise BenchError(f"worker {self.variant}: {json.loads(payload)}\n{self.stderr_tail()}")
        return kind, payload

    def _send(self, command: str) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()

    def wait_ready(self) -> dict[str, Any]:
        kind, payload = self._read(_READY_TIMEOUT)
        if kind != "ready":
            raise BenchError(f"worker {self.variant}: expected ready, got {kind!r}")
        info: dict[str, Any] = json.loads(payload)
        return info

    def run(self, count: int) -> int:
        """Wall-clock nanoseconds the worker took for ``count`` calls."""
        self._send(f"run {count}")
        kind, payload = self._read(_REPLY_TIMEOUT)
        if kind != "ok":
            raise BenchError(f"worker {self.variant}: expected ok, got {kind!r}")
        return int(payload)

    def decompose(self, count: int) -> dict[str, Any]:
        """µs per request of each SDK call of the floor, over ``count`` timed requests."""
        self._send(f"decompose {count}")
        kind, payload = self._read(_REPLY_TIMEOUT)
        if kind != "decomposition":
            raise BenchError(f"worker {self.variant}: expected decomposition, got {kind!r}")
        result: dict[str, Any] = json.loads(payload)
        return result

    def totals(self) -> dict[str, int]:
        self._send("stats")
        _, payload = self._read(_REPLY_TIMEOUT)
        totals: dict[str, int] = json.loads(payload)
        return totals

    def stderr_tail(self, limit: int = 4000) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return text[-limit:]

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._send("quit")
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._stderr.close()


@dataclass
class VariantResult:
    iterations: int
    per_call_us: list[float] = field(default_factory=list)  # one value per round
    ready: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)


@dataclass
class WorkloadResult:
    workload: Workload
    variants: dict[str, VariantResult]
    orders: list[list[str]]
    notes: list[str]
    # "tight" / "in_app": one {step: µs per request} per decomposition batch
    decomposition: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def worker_env(semconv: Optional[str]) -> dict[str, str]:
    """The caller's environment without ``OTEL_*`` settings (they would change what the
    instrumentors emit) and with a fixed hash seed; ``semconv`` sets the opt-in for all."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OTEL_") and key != "PYTHONPATH"
    }
    env["PYTHONHASHSEED"] = "0"
    if semconv:
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = semconv
    return env


def _calibrate(worker: Worker, budget: Budget) -> int:
    """Warm the worker up and pick the batch size that takes about ``budget.batch_seconds``."""
    minimum_ns = min(0.01, budget.batch_seconds / 2) * 1e9
    warmup_ns = budget.warmup_seconds * 1e9
    count, spent = 1, 0
    while True:
        elapsed = worker.run(count)
        spent += elapsed
        if elapsed >= minimum_ns and spent >= warmup_ns:
            break
        if elapsed < minimum_ns:
            count *= 8 if elapsed < minimum_ns / 10 else 2
    if budget.iterations is not None:
        return budget.iterations
    return max(1, round(budget.batch_seconds * 1e9 * count / max(elapsed, 1)))


def start_workers(
    workload: Workload, pythons: dict[str, Path], env: dict[str, str]
) -> dict[str, Worker]:
    """Start one worker per variant of ``workload``, together (nothing is timed yet); each
    checks one call before it says "ready"."""
    workers: dict[str, Worker] = {}
    try:
        for variant in variants_of(workload):
            workers[variant] = Worker(pythons[variant], workload.name, variant, env)
    except BaseException:
        for worker in workers.values():
            worker.close()
        raise
    return workers


def measure(
    workload: Workload,
    pythons: dict[str, Path],
    budget: Budget,
    rng: random.Random,
    env: dict[str, str],
    workers: Optional[dict[str, Worker]] = None,
) -> WorkloadResult:
    """Run every variant of ``workload`` in its worker, interleaved, and collect the timings.
    ``workers`` may have been started beforehand (``start_workers``); they are closed here."""
    decomposition: dict[str, list[dict[str, float]]] = {label: [] for label in DECOMPOSED.values()}
    begun = time.monotonic()
    workers = workers if workers is not None else {}
    try:
        if not workers:
            workers.update(start_workers(workload, pythons, env))
        results = {
            variant: VariantResult(iterations=0, ready=worker.wait_ready())
            for variant, worker in workers.items()
        }
        _check_versions(workload, results)
        _log(f"{workload.name}: {len(workers)} workers ready in {time.monotonic() - begun:.1f} s")
        for variant, worker in workers.items():
            results[variant].iterations = _calibrate(worker, budget)
            _log(f"{workload.name}: {variant} calibrated to {results[variant].iterations} calls")
        orders: list[list[str]] = []
        started = time.monotonic()
        for _ in range(budget.rounds):
            order = list(workers)
            rng.shuffle(order)
            orders.append(order)
            for variant in order:
                result = results[variant]
                elapsed = workers[variant].run(result.iterations)
                result.per_call_us.append(elapsed / result.iterations / 1000)
        _log(f"{workload.name}: {budget.rounds} rounds in {time.monotonic() - started:.1f} s")
        # Then each floor call timed on its own, in the floor's loop and beside the app,
        # alternating, in batches as long as a round's (the timing roughly doubles them).
        started = time.monotonic()
        for _ in range(budget.decomposition_batches):
            for variant, label in DECOMPOSED.items():
                if variant not in workers:
                    continue
                batch = workers[variant].decompose(results[variant].iterations)
                decomposition[label].append(batch["steps"])
        _log(f"{workload.name}: floor decomposition in {time.monotonic() - started:.1f} s")
        for variant, worker in workers.items():
            results[variant].totals = worker.totals()
    finally:
        for worker in workers.values():
            worker.close()
    notes = _telemetry_notes(results, workload)
    return WorkloadResult(workload, results, orders, notes, decomposition)


def variants_of(workload: Workload) -> tuple[str, ...]:
    """The variants a workload runs: every one, less the peer where it has no integration and
    the floor where the instrumentor emits nothing (``Workload.emits_telemetry``)."""
    return tuple(
        v
        for v in VARIANTS
        if (v != "peer" or workload.peer is not None)
        and (v not in DECOMPOSED or workload.emits_telemetry)
    )


def _check_versions(workload: Workload, results: dict[str, VariantResult]) -> None:
    """Every distribution the two venvs share must have the same version in both."""
    ours = results["instrumentarium"].ready["versions"]
    theirs = results["upstream"].ready["versions"]
    differing = [
        f"{name} {ours[name]} (bench) vs {theirs[name]} (upstream)"
        for name in sorted(ours.keys() & theirs.keys())
        if ours[name] != theirs[name]
    ]
    if differing:
        raise BenchError(
            f"{workload.name}: the venvs differ, numbers would not compare: "
            + "; ".join(differing)
            + "\n(rebuild them with --refresh-envs)"
        )
    pythons = {result.ready["python"] for result in results.values()}
    if len(pythons) != 1:
        raise BenchError(f"{workload.name}: workers run different Pythons: {sorted(pythons)}")


def _telemetry_notes(results: dict[str, VariantResult], workload: Workload) -> list[str]:
    """Differences in what the variants emitted, and spans lost or missing during the run."""
    notes: list[str] = []
    ours = results["instrumentarium"].ready["telemetry"]
    if workload.emits_telemetry:
        notes.extend(_compare_telemetry("floor", results["floor"].ready["telemetry"], ours))
        notes.extend(_compare_telemetry("upstream", results["upstream"].ready["telemetry"], ours))
    if "peer" in results:
        notes.extend(_peer_notes(results["peer"].ready["telemetry"], ours))
    for variant, result in results.items():
        totals = result.totals
        per_call = workload.emitted_per_call(variant)
        if variant != "bare" and totals and totals["spans"] != totals["calls"] * per_call:
            notes.append(f"{variant} exported {totals['spans']} spans for {totals['calls']} calls")
    return notes


def _peer_notes(peer: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """What the peer (sentry-sdk) sends instead of our span and metrics, in words."""
    notes = []
    for transaction in peer["span"]["transactions"]:
        spans = "; ".join(
            f"{span['op']} {span['description']!r} (data: {', '.join(span['data']) or 'none'})"
            for span in transaction["spans"]
        )
        notes.append(
            f"peer sends a transaction {transaction['name']!r} (op {transaction['op']}, status "
            f"{transaction['status']}, tags: {', '.join(transaction['tags']) or 'none'}, "
            f"trace data: {', '.join(transaction['data']) or 'none'})"
            + (f" with spans: {spans}" if spans else ", no child span")
        )
    if ours["metrics"]:
        notes.append(f"peer records no metrics; ours records {', '.join(sorted(ours['metrics']))}")
    return notes


def _compare_telemetry(label: str, other: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    span, our_span = other["span"], ours["span"]
    if span is None or our_span is None:  # a sampled-out request exports no span
        notes = [] if span is our_span else [f"{label} span {span!r}, ours {our_span!r}"]
        return notes + _compare_metrics(label, other, ours)
    notes = [
        f"{label} span {key} is {span[key]!r}, ours {our_span[key]!r}"
        for key in ("name", "kind", "status")
        if span[key] != our_span[key]
    ]
    attrs, our_attrs = span["attributes"], our_span["attributes"]
    only_theirs = sorted(attrs.keys() - our_attrs.keys())
    only_ours = sorted(our_attrs.keys() - attrs.keys())
    if only_theirs:
        notes.append(f"{label} span attributes ours lacks: {', '.join(only_theirs)}")
    if only_ours:
        notes.append(f"span attributes only ours sets (not {label}): {', '.join(only_ours)}")
    notes.extend(
        f"{label} span {key} = {attrs[key]!r}, ours {our_attrs[key]!r}"
        for key in sorted(attrs.keys() & our_attrs.keys())
        if attrs[key] != our_attrs[key]
    )
    return notes + _compare_metrics(label, other, ours)


def _compare_metrics(label: str, other: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    metrics, our_metrics = other["metrics"], ours["metrics"]
    if sorted(metrics) != sorted(our_metrics):
        notes.append(f"{label} metrics {sorted(metrics)}, ours {sorted(our_metrics)}")
    notes.extend(
        f"{label} {name} attributes {metrics[name]}, ours {our_metrics[name]}"
        for name in sorted(metrics.keys() & our_metrics.keys())
        if metrics[name] != our_metrics[name]
    )
    return notes


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
