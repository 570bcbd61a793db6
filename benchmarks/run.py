"""Overhead of instrumentarium against the bare library, the SDK floor and upstream, in one run.

    .venv/bin/python benchmarks/run.py                      # every workload, a few minutes
    .venv/bin/python benchmarks/run.py --quick              # CI smoke, under 3 minutes
    .venv/bin/python benchmarks/run.py --workload wsgi --json benchmarks/results/wsgi.json
    .venv/bin/python benchmarks/run.py --workload flask-wsgi --profile instrumentarium
    .venv/bin/python benchmarks/run.py --rounds 10 --plot benchmarks/chart.svg
    .venv/bin/python benchmarks/run.py --from-json results.json --plot chart.svg
    .venv/bin/python benchmarks/run.py --throughput       # the dice app under gunicorn

Progress goes to stderr, the markdown report to stdout. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.driver import (
    VARIANTS,
    WORKER,
    BenchError,
    Budget,
    Worker,
    WorkloadResult,
    measure,
    start_workers,
    worker_env,
)
from harness.envs import EnvError, ensure_envs
from harness.plot import svg
from harness.report import analyse, markdown, run_metadata
from workloads import Workload, discover
from workloads._http_server import URL_VARIABLE, serve

# Many short rounds: noise from neighbours on a shared machine comes in bursts, and a burst that
# covers a whole round cancels out of that round's ratios.
DEFAULT = Budget(rounds=40, batch_seconds=0.1, warmup_seconds=0.5)
QUICK = Budget(rounds=8, batch_seconds=0.025, warmup_seconds=0.1, decomposition_rounds=2)


def _parser(names: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Per-call overhead of instrumentarium, upstream and the SDK floor.",
    )
    parser.add_argument(
        "--workload",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this workload (repeatable): {', '.join(names)}",
    )
    parser.add_argument("--quick", action="store_true", help="a short run for CI smoke tests")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per workload")
    parser.add_argument(
        "--iterations", type=int, help="calls per batch, for every variant (default: calibrated)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument("--seed", type=int, help="seed of the round order (default: random)")
    parser.add_argument(
        "--semconv",
        metavar="OPT_IN",
        help="OTEL_SEMCONV_STABILITY_OPT_IN for every worker, e.g. http or http/dup",
    )
    parser.add_argument(
        "--refresh-envs", action="store_true", help="rebuild both benchmark venvs first"
    )
    parser.add_argument(
        "--profile",
        choices=VARIANTS,
        metavar="VARIANT",
        help="instead of benchmarking, cProfile this variant of each selected workload",
    )
    parser.add_argument("--profile-calls", type=int, default=20000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.svg", help="also draw the results as an SVG bar chart"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="PATH",
        help="run nothing: print the report of a --json file (and --plot it)",
    )
    parser.add_argument(
        "--throughput",
        action="store_true",
        help="instead: requests/s and p50/p99 latency of the dice app under gunicorn "
        "(benchmarks/throughput.py; its own flags follow, see --throughput --help)",
    )
    return parser


def main() -> int:
    if "--throughput" in sys.argv[1:]:
        import throughput

        return throughput.main([arg for arg in sys.argv[1:] if arg != "--throughput"])
    workloads = discover()
    args = _parser(list(workloads)).parse_args()
    if args.from_json:
        document = json.loads(args.from_json.read_text())
        print(markdown(document["meta"], document["workloads"]), end="")
        if args.plot:
            _plot(args.plot, document)
        return 0
    selected = [workloads[name] for name in args.workload or workloads]
    budget = QUICK if args.quick else DEFAULT
    budget = Budget(
        rounds=args.rounds or budget.rounds,
        batch_seconds=budget.batch_seconds,
        warmup_seconds=budget.warmup_seconds,
        iterations=args.iterations,
        decomposition_rounds=budget.decomposition_rounds,
    )
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    env = worker_env(args.semconv)
    # One HTTP server for the client workloads, here in the driver: it outlives every worker.
    env[URL_VARIABLE] = serve()
    try:
        # The venvs cover every workload, so selecting one does not rebuild them.
        pythons = ensure_envs(workloads.values(), refresh=args.refresh_envs)
        if args.profile:
            return _profile(args.profile, selected, pythons, env, args.profile_calls)
        rng = random.Random(seed)
        results = _measure_all(selected, pythons, budget, rng, env, overlap=args.quick)
    except (BenchError, EnvError) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    meta = run_metadata(results, budget, seed, args.semconv, args.quick)
    analyses = {result.workload.name: analyse(result) for result in results}
    print(markdown(meta, analyses), end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"schema": 1, "meta": meta, "workloads": analyses}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"bench: wrote {args.json}", file=sys.stderr)
    if args.plot:
        _plot(args.plot, {"schema": 1, "meta": meta, "workloads": analyses})
    return 0


def _plot(path: Path, document: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg(document))
    print(f"bench: wrote {path}", file=sys.stderr)


def _measure_all(
    selected: list[Workload],
    pythons: dict[str, Path],
    budget: Budget,
    rng: random.Random,
    env: dict[str, str],
    overlap: bool,
) -> list[WorkloadResult]:
    """Measure each workload in turn. With ``overlap`` (``--quick``, a smoke test), the next
    workload's workers start while this one is measured: their start-up (imports, connections)
    then costs no wall time, at the price of noisier numbers."""
    results: list[WorkloadResult] = []
    upcoming: Optional[dict[str, Worker]] = None
    try:
        for index, workload in enumerate(selected):
            workers, upcoming = upcoming, None
            if workers is None:
                workers = start_workers(workload, pythons, env)
            if overlap and index + 1 < len(selected):
                upcoming = start_workers(selected[index + 1], pythons, env)
            results.append(measure(workload, pythons, budget, rng, env, workers))
    finally:
        for worker in (upcoming or {}).values():
            worker.close()
    return results


def _profile(
    variant: str,
    selected: list[Workload],
    pythons: dict[str, Path],
    env: dict[str, str],
    calls: int,
) -> int:
    """cProfile ``calls`` calls of ``variant`` of each workload, in the variant's venv."""
    for workload in selected:
        print(f"## {workload.name} / {variant}: cProfile of {calls} calls", flush=True)
        command = [str(pythons[variant]), str(WORKER), workload.name, variant]
        done = subprocess.run([*command, "--profile", str(calls)], env=env, check=False)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
