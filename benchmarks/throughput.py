"""Throughput: the dice app under a real server, loaded on loopback: the Flask app of
``examples/dice/app.py`` under gunicorn, and the same app written for FastAPI under uvicorn.

    scripts/bench --throughput                          # both apps, 10 s per variant, 8 connections
    scripts/bench --throughput --app fastapi --seconds 5 --json benchmarks/results/tp.json

For each app and variant (bare, instrumentarium, upstream, peer) the driver starts the server in
the variant's benchmark venv on a free port of 127.0.0.1, with ``harness/dice_server.py`` giving
the application: the dice app, the benchmarks' SDK set-up installed globally, and the variant's
instrumentation. ``flask``: gunicorn, one worker process, ``gthread`` with as many threads as
connections, keep-alive. ``fastapi``: uvicorn, one process, its production set-up (uvloop and
httptools), no access log. Then ``--concurrency`` threads here each keep one HTTP/1.1 connection
open and send ``GET /rolldice?player=bench`` back to back: first a warm-up (``--warmup`` seconds,
not counted), then for ``--seconds`` or until ``--max-requests`` answers, whichever comes first.
The load stops by itself; the server is then terminated. Every answer must be ``200`` with a die
value.

Reported per variant: requests per second, p50 and p99 latency (per request, as the client saw
it), and requests per second relative to bare. Client and server share this machine's cores, so
the numbers are for comparing variants within one run, like every other benchmark here.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.driver import worker_env
from harness.envs import ROOT, EnvError, ensure_envs
from workloads import discover

VARIANTS = ("bare", "instrumentarium", "upstream", "peer")
APPS = ("flask", "fastapi")
PATH = "/rolldice?player=bench"
_HERE = Path(__file__).resolve().parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --throughput",
        description="Requests/s and latency of the dice app under a real server, per variant.",
    )
    parser.add_argument(
        "--app",
        action="append",
        choices=APPS,
        help="flask (gunicorn) or fastapi (uvicorn); repeatable, default both",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per variant")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=8, help="connections at once")
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="stop a variant after this many"
    )
    parser.add_argument(
        "--variant", action="append", choices=VARIANTS, help="only this variant (repeatable)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    return parser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(app: str, python: Path, port: int, threads: int) -> list[str]:
    """The command that serves ``app`` (``flask`` or ``fastapi``) on 127.0.0.1:``port``."""
    if app == "flask":
        return [
            str(python),
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(_HERE),
            "--log-level",
            "warning",
            "harness.dice_server:flask_app()",
        ]
    if app == "fastapi":
        return [
            str(python),
            "-m",
            "uvicorn",
            "--factory",
            "--app-dir",
            str(_HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "harness.dice_server:fastapi_app",
        ]
    raise ValueError(f"unknown app {app!r}")


class Server:
    """The app's server in one variant's venv, on loopback."""

    def __init__(
        self, app: str, python: Path, variant: str, threads: int, env: dict[str, str]
    ) -> None:
        self.app = app
        self.port = _free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        command = server_command(app, python, self.port, threads)
        self._process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=self._log,
            env={**env, "INSTRUMENTARIUM_BENCH_VARIANT": variant},
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise RuntimeError(f"the {self.app} server exited with {code}\n{self.log()}")
            try:
                status, body = _get_once(self.port)
            except OSError:
                time.sleep(0.1)
                continue
            if status != 200 or not body.strip().isdigit():
                raise RuntimeError(f"the dice app answered {status} {body!r}\n{self.log()}")
            return
        raise RuntimeError(
            f"the {self.app} server did not answer within {timeout:g} s\n{self.log()}"
        )

    def log(self, limit: int = 3000) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:]

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


def _get_once(port: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", PATH)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def load(port: int, concurrency: int, warmup: float, seconds: float, limit: int) -> dict[str, Any]:
    """Drive the server from ``concurrency`` keep-alive connections: ``warmup`` seconds unmeasured,
    then ``seconds`` or ``limit`` answers. Returns the measured latencies' summary."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    phase = {"measuring": False, "stop": False}
    budget = [limit]

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        perf_counter = time.perf_counter
        own: list[float] = []
        try:
            while not phase["stop"]:
                started = perf_counter()
                connection.request("GET", PATH)
                response = connection.getresponse()
                body = response.read()
                elapsed = perf_counter() - started
                if response.status != 200 or not body.strip().isdigit():
                    errors.append(f"{response.status} {body[:80]!r}")
                    return
                if phase["measuring"]:
                    own.append(elapsed)
                    if len(own) % 64 == 0:
                        with lock:
                            budget[0] -= 64
                            if budget[0] <= 0:
                                phase["stop"] = True
        except OSError as exc:
            errors.append(repr(exc))
        finally:
            connection.close()
            with lock:
                latencies.extend(own)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    phase["measuring"] = True
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline and not phase["stop"] and not errors:
        time.sleep(0.05)
    phase["stop"] = True
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise RuntimeError(f"the load failed: {errors[0]}")
    return summarize(latencies, elapsed)


def summarize(latencies: list[float], elapsed: float) -> dict[str, Any]:
    """Requests, requests per second and latency percentiles (ms) of one measured spell."""
    if not latencies:
        raise RuntimeError("no request was answered in the measured time")
    ordered = sorted(latencies)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else None

    def percentile(p: int) -> float:
        return (cuts[p - 1] if cuts else ordered[0]) * 1000

    return {
        "requests": len(ordered),
        "seconds": elapsed,
        "rps": len(ordered) / elapsed,
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


_SERVERS = {
    "flask": "gunicorn {gunicorn} (1 worker, gthread, {concurrency} threads), Flask {flask}",
    "fastapi": "uvicorn {uvicorn} (1 process, uvloop {uvloop}, httptools {httptools}), "
    "FastAPI {fastapi}",
}
_PEERS = {
    "flask": "sentry-sdk's FlaskIntegration",
    "fastapi": "sentry-sdk's StarletteIntegration and FastApiIntegration",
}


def markdown(app: str, meta: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The table of one app's variants."""
    bare = results.get("bare")
    server = _SERVERS[app].format(concurrency=meta["concurrency"], **meta["versions"])
    lines = [
        f"## throughput: the {app} dice app ({meta['date']})",
        "",
        f"- {meta['python']} on {meta['machine']}; {server}",
        f"- {meta['concurrency']} keep-alive connections from this process on 127.0.0.1, "
        f"GET {PATH}, {meta['warmup']:g} s warm-up then {meta['seconds']:g} s "
        f"(at most {meta['max_requests']} requests) per variant",
        "",
        "| variant | requests | req/s | vs bare | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant, result in results.items():
        ratio = f"{result['rps'] / bare['rps']:.2f}" if bare else "n/a"
        lines.append(
            f"| {variant} | {result['requests']} | {result['rps']:.0f} | {ratio} "
            f"| {result['p50_ms']:.2f} | {result['p99_ms']:.2f} |"
        )
    lines += [
        "",
        "Every variant runs the same SDK set-up as the per-call benchmarks (batch span "
        "processor to a no-op exporter, in-memory metric reader); the app's own `roll` span, "
        "counter and warning log line are there in every variant. peer: "
        f"{_PEERS[app]} with traces_sample_rate=1.0, events dropped in the process.",
    ]
    return "\n".join(lines) + "\n"


def _version(python: Path, distribution: str) -> str:
    done = subprocess.run(
        [
            str(python),
            "-c",
            f"from importlib.metadata import version; print(version({distribution!r}))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    apps = args.app or list(APPS)
    variants = args.variant or list(VARIANTS)
    try:
        pythons = ensure_envs(discover().values())
    except EnvError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    env = worker_env(None)
    env["PYTHONPATH"] = str(ROOT / "benchmarks")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for app in apps:
        results[app] = {}
        for variant in variants:
            server = Server(app, pythons[variant], variant, args.concurrency, env)
            try:
                server.wait_ready()
                print(f"bench: throughput: {app} {variant} on port {server.port}", file=sys.stderr)
                results[app][variant] = load(
                    server.port, args.concurrency, args.warmup, args.seconds, args.max_requests
                )
            except RuntimeError as exc:
                print(f"bench: error: {app} {variant}: {exc}", file=sys.stderr)
                return 1
            finally:
                server.stop()
    import datetime
    import platform

    bench_python = pythons["bare"]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": {
            name: _version(bench_python, name)
            for name in ("gunicorn", "flask", "uvicorn", "uvloop", "httptools", "fastapi")
        },
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "max_requests": args.max_requests,
    }
    print("\n".join(markdown(app, meta, results[app]) for app in apps), end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "apps": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
