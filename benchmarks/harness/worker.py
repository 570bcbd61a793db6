"""One benchmark worker: one workload, one variant, in a persistent process.

The driver starts ``python benchmarks/worker.py WORKLOAD VARIANT`` in the variant's venv and
talks to it one line at a time (driver → worker, then worker → driver)::

    (start)   → ready {"versions": ..., "telemetry": ...}    set up, one checked call done
    run N     → ok ELAPSED_NS                                 N calls, timed as one batch
    stats     → stats {"calls": ..., "spans": ...}            totals, after a flush
    quit      → (exits)

Anything that fails is reported as ``error MESSAGE`` before the worker exits non-zero. The
protocol owns the real stdout; whatever the libraries print goes to stderr.

With ``--profile N`` the worker instead runs N calls under cProfile and prints the statistics.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import sys
import time
from importlib import metadata
from typing import Any, Callable, Optional, TextIO

from workloads import Call, Workload, discover

from .floor import (
    capture_isolated,
    compile_replay,
    decompose,
    describe,
    replay,
    step_counts,
    timed_replay,
)
from .sdk import BenchSdk, set_default_propagator, span_summary

VARIANTS = ("bare", "floor", "bare+floor", "instrumentarium", "upstream", "peer")


class WorkerError(Exception):
    """A check failed: the variant would measure something other than what it claims."""


Decomposer = Callable[[int], dict[str, Any]]


def build(
    workload: Workload, variant: str, sdk: BenchSdk
) -> tuple[Call, Optional[dict[str, Any]], Optional[Decomposer]]:
    """The variant's call; for the floor variants also a line describing the SDK calls it
    replays with each step's count per request, and what times each step (``decompose N``)."""
    if variant in ("floor", "bare+floor"):
        recipe = capture_isolated(workload)
        carrier = workload.carrier()
        floor = replay(recipe, sdk.providers, carrier)
        timed, empty, steps = timed_replay(recipe, sdk.providers, carrier)
        bare = workload.bare(sdk.providers) if variant == "bare+floor" else None
        info = {
            "floor": describe(recipe),
            "floor_steps": step_counts(recipe),
            "floor_source": compile_replay(recipe, carrier),
        }
        return _floor_call(floor, bare), info, _decomposer(timed, empty, steps, bare)
    setup = {
        "bare": workload.bare,
        "instrumentarium": workload.instrumentarium,
        "upstream": workload.upstream,
        "peer": workload.peer,
    }[variant]
    if setup is None:
        raise WorkerError(f"{workload.name} has no {variant} variant")
    return setup(sdk.providers), None, None


def _floor_call(floor: Call, bare: Optional[Call]) -> Call:
    if bare is None:
        return floor

    # The floor's SDK calls next to the bare library, in one loop: the same calls cost more
    # beside a real app (caches are shared) than in the floor's tight loop.
    def bare_then_floor() -> object:
        result = bare()
        floor()
        return result

    return bare_then_floor


def _decomposer(
    timed: Callable[[list[int]], None],
    empty: Callable[[list[int]], None],
    steps: list[str],
    bare: Optional[Call],
) -> Decomposer:
    """``count`` requests with each SDK call timed (beside the bare call for ``bare+floor``),
    then as many runs of the same timed intervals left empty: µs per request of each step."""

    def decompose_batch(count: int) -> dict[str, Any]:
        spent = [0] * len(steps)
        timer = [0] * len(steps)
        gc.collect()
        if bare is None:
            for _ in range(count):
                timed(spent)
        else:
            for _ in range(count):
                bare()
                timed(spent)
        for _ in range(count):
            empty(timer)
        return {"steps": decompose(steps, spent, timer, count), "calls": count}

    return decompose_batch


def check_first_call(workload: Workload, variant: str, call: Call, sdk: BenchSdk) -> dict[str, Any]:
    """Make one call and check that it worked and produced (or, bare, did not produce) telemetry.

    A broken instrumentor that emits nothing must not get a fast number.
    """
    result = call()
    if variant != "floor" and result != workload.expect:  # bare+floor returns bare's result
        raise WorkerError(f"one call returned {result!r}, expected {workload.expect!r}")
    sdk.flush()
    metrics = sdk.metric_points()
    spans = sdk.exporter.exported
    if variant == "bare" or not workload.emits_telemetry:
        if spans or metrics:
            raise WorkerError(
                f"{variant} emitted telemetry: {spans} span(s), metrics {list(metrics)}"
            )
        return {"span": None, "metrics": {}}
    last = sdk.exporter.last  # with several spans per call (client + server): the last ended
    expected = workload.emitted_per_call(variant)  # 0 for a sampled-out request
    if spans != expected or (expected and last is None):
        raise WorkerError(f"one call exported {spans} spans through the SDK, expected {expected}")
    if last is not None and last.end_time is None:
        raise WorkerError("the exported span was not ended")
    # The floor replays what the capture saw (a Kafka record read from the buffer records no
    # receive duration); our own variant's check covers our metrics.
    floors = ("floor", "bare+floor")
    needs_duration = (
        workload.records_metrics
        and variant not in floors
        and (variant != "upstream" or workload.upstream_records_duration)
    )
    if needs_duration and not any(name.endswith("duration") for name in metrics):
        raise WorkerError(f"no duration histogram was recorded; metrics: {list(metrics)}")
    return {"span": span_summary(last) if last is not None else None, "metrics": metrics}


def check_peer_call(workload: Workload, call: Call) -> dict[str, Any]:
    """The peer (sentry-sdk) variant's check: one call returned the expected result and handed
    its transport the events one request makes (transactions; nothing leaves the process)."""
    from workloads import _sentry

    result = call()
    if result != workload.expect:
        raise WorkerError(f"one call returned {result!r}, expected {workload.expect!r}")
    transport = _sentry.transport()
    deadline = time.monotonic() + 5  # a gRPC server's transaction ends in its own thread
    expected = workload.emitted_per_call("peer")
    while transport.sent_count() < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # one more would be too many
    sent = transport.sent_count()
    if sent != expected:
        raise WorkerError(
            f"one call sent {sent} transaction(s) to the peer's transport, expected {expected}"
        )
    return {"span": transport.summary(), "metrics": {}}


def _versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions[name.lower().replace("_", "-").replace(".", "-")] = dist.version
    return dict(sorted(versions.items()))


def timed(call: Call, count: int) -> int:
    """Wall-clock nanoseconds for ``count`` calls; garbage from earlier batches is collected
    first, outside the timing."""
    gc.collect()
    perf_counter_ns = time.perf_counter_ns
    start = perf_counter_ns()
    for _ in range(count):
        call()
    return perf_counter_ns() - start


def serve(
    call: Call,
    sdk: BenchSdk,
    out: TextIO,
    decomposer: Optional[Decomposer] = None,
    exported: Optional[Callable[[], int]] = None,
) -> None:
    calls = 1  # the checked first call
    exported = exported or (lambda: sdk.exporter.exported)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "decompose" and decomposer is not None:
            count = int(argument)
            result = decomposer(count)
            calls += count
            sdk.flush()
            reply = "decomposition " + json.dumps(result)
        elif command == "run":
            count = int(argument)
            elapsed = timed(call, count)
            calls += count
            # Export the batch's spans now, so no background work spills into another
            # worker's batch (one worker runs at a time).
            sdk.flush()
            reply = f"ok {elapsed}"
        elif command == "stats":
            sdk.flush()
            reply = "stats " + json.dumps({"calls": calls, "spans": exported()})
        elif command == "quit":
            return
        else:
            reply = "error " + json.dumps(f"unknown command {line.strip()!r}")
        out.write(reply + "\n")
        out.flush()


def profile(call: Call, count: int, sort: str) -> None:
    timed(call, max(count // 10, 1))  # warm up
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        call()
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.strip_dirs().sort_stats(sort).print_stats(40)
    print(buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--profile", type=int, metavar="N", help="profile N calls and exit")
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    args = parser.parse_args(argv)

    # The protocol gets a private copy of stdout; fd 1 then points at stderr, so a stray print
    # from a library cannot corrupt a reply.
    out = sys.stdout
    if args.profile is None:
        out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
        sys.stdout.flush()
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    try:
        workloads = discover()
        if args.workload not in workloads:
            raise WorkerError(f"unknown workload {args.workload!r}")
        workload = workloads[args.workload]
        set_default_propagator()
        sdk = BenchSdk()
        call, floor, decomposer = build(workload, args.variant, sdk)
        if args.variant == "peer":
            telemetry = check_peer_call(workload, call)
        else:
            telemetry = check_first_call(workload, args.variant, call, sdk)
        if floor is not None:
            telemetry.update(floor)
    except Exception as exc:
        out.write("error " + json.dumps(f"{type(exc).__name__}: {exc}") + "\n")
        out.flush()
        raise

    if args.profile is not None:
        profile(call, args.profile, args.sort)
        return 0

    ready = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "versions": _versions(),
        "telemetry": telemetry,
    }
    out.write("ready " + json.dumps(ready) + "\n")
    out.flush()
    exported = None
    if args.variant == "peer":
        from workloads import _sentry

        exported = _sentry.transport().sent_count
    serve(call, sdk, out, decomposer, exported)
    return 0
