"""The three benchmark virtual environments, created on demand with uv and cached.

``.venv-bench-upstream``  the upstream contrib instrumentors from PyPI, the SDK, the libraries.
``.venv-bench``           our distributions (editable), the SDK, the libraries; every distribution
                          it shares with the upstream venv is constrained to the version resolved
                          there (upstream pins its semantic-conventions release, which picks the
                          SDK), so all variants run the same OpenTelemetry and library code.
``.venv-bench-peer``      sentry-sdk (the peer), the SDK and the libraries it has integrations
                          for, constrained the same way.

Each venv keeps a stamp of what it was built from; a changed workload requirement, pyproject.toml
or interpreter rebuilds it, anything else reuses it (our code is installed editable).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from workloads import PEER_REQUIREMENT, Workload

__all__ = [
    "BENCH_VENV",
    "PEER_VENV",
    "ROOT",
    "UPSTREAM_VENV",
    "EnvError",
    "ensure_envs",
    "venv_python",
]

ROOT = Path(__file__).resolve().parents[2]
BENCH_VENV = ROOT / ".venv-bench"
UPSTREAM_VENV = ROOT / ".venv-bench-upstream"
PEER_VENV = ROOT / ".venv-bench-peer"
_STAMP = ".bench-stamp"
_FORMAT = 1  # bump to rebuild every bench venv after a change to this file

# Installed in both venvs; the versions are whatever the upstream venv resolves.
_SDK = ("opentelemetry-api", "opentelemetry-sdk")
# In every venv: the servers and apps of the throughput view (benchmarks/throughput.py).
_TOOLS = ("gunicorn", "uvicorn", "uvloop", "httptools", "flask", "fastapi")


class EnvError(Exception):
    """A benchmark venv could not be built."""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise EnvError("uv not found: run scripts/setup (it installs uv into .venv)")
    return found


def _local_distributions() -> list[Path]:
    return sorted(
        path.parent
        for pattern in ("util/*/pyproject.toml", "instrumentation/*/pyproject.toml")
        for path in ROOT.glob(pattern)
    )


def _digest(parts: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _fresh(venv: Path, digest: str) -> bool:
    stamp = venv / _STAMP
    return venv_python(venv).exists() and stamp.exists() and stamp.read_text() == digest


def _run(command: list[str], what: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise EnvError(f"{what} failed ({result.returncode}):\n{result.stderr or result.stdout}")
    return result.stdout


def _create(uv: str, venv: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], f"creating {venv.name}")


def _install(uv: str, venv: Path, arguments: Iterable[str], what: str) -> None:
    _run(
        [uv, "pip", "install", "--quiet", "--python", str(venv_python(venv)), *arguments],
        what,
    )


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One process builds the venvs at a time (a second run waits, then finds them fresh)."""
    lock_dir = ROOT / ".cache"
    lock_dir.mkdir(exist_ok=True)
    with (lock_dir / "bench-envs.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_envs(workloads: Iterable[Workload], refresh: bool = False) -> dict[str, Path]:
    """Build (or reuse) the venvs for ``workloads``; returns the python of each variant."""
    workloads = list(workloads)
    packages = sorted({p for w in workloads for p in w.packages})
    upstream_packages = sorted({p for w in workloads for p in w.upstream_packages})
    interpreter = f"{platform.python_implementation()} {platform.python_version()}"
    uv = _uv()
    with _locked():
        upstream_digest = _digest(
            {
                "format": _FORMAT,
                "python": interpreter,
                "requirements": [*_SDK, *_TOOLS, *packages, *upstream_packages],
            }
        )
        if refresh or not _fresh(UPSTREAM_VENV, upstream_digest):
            _log(f"building {UPSTREAM_VENV.name} (upstream instrumentors from PyPI)")
            _create(uv, UPSTREAM_VENV)
            _install(
                uv,
                UPSTREAM_VENV,
                [*_SDK, *_TOOLS, *packages, *upstream_packages],
                f"installing into {UPSTREAM_VENV.name}",
            )
            (UPSTREAM_VENV / _STAMP).write_text(upstream_digest)

        frozen = _run(
            [uv, "pip", "freeze", "--python", str(venv_python(UPSTREAM_VENV))],
            f"listing {UPSTREAM_VENV.name}",
        )
        local = _local_distributions()
        bench_digest = _digest(
            {
                "format": _FORMAT,
                "python": interpreter,
                "requirements": [*_SDK, *_TOOLS, *packages],
                "constraints": frozen,
                "local": {
                    str(path.relative_to(ROOT)): (path / "pyproject.toml").read_text()
                    for path in local
                },
            }
        )
        if refresh or not _fresh(BENCH_VENV, bench_digest):
            _log(f"building {BENCH_VENV.name} (instrumentarium, editable)")
            _create(uv, BENCH_VENV)
            constraints = BENCH_VENV / "upstream-constraints.txt"
            constraints.write_text(frozen)
            editables = [arg for path in local for arg in ("-e", str(path))]
            _install(
                uv,
                BENCH_VENV,
                ["-c", str(constraints), *_SDK, *_TOOLS, *packages, *editables],
                f"installing into {BENCH_VENV.name}",
            )
            (BENCH_VENV / _STAMP).write_text(bench_digest)

        # The peer: sentry-sdk beside the same SDK and libraries (its workers still report
        # through the OpenTelemetry SDK set-up, which stays idle there).
        peer_packages = sorted({p for w in workloads if w.peer is not None for p in w.packages})
        peer_digest = _digest(
            {
                "format": _FORMAT,
                "python": interpreter,
                "requirements": [*_SDK, *_TOOLS, PEER_REQUIREMENT, *peer_packages],
                "constraints": frozen,
            }
        )
        if refresh or not _fresh(PEER_VENV, peer_digest):
            _log(f"building {PEER_VENV.name} ({PEER_REQUIREMENT})")
            _create(uv, PEER_VENV)
            constraints = PEER_VENV / "upstream-constraints.txt"
            constraints.write_text(frozen)
            _install(
                uv,
                PEER_VENV,
                ["-c", str(constraints), *_SDK, *_TOOLS, PEER_REQUIREMENT, *peer_packages],
                f"installing into {PEER_VENV.name}",
            )
            (PEER_VENV / _STAMP).write_text(peer_digest)

    bench, upstream = venv_python(BENCH_VENV), venv_python(UPSTREAM_VENV)
    return {
        "bare": bench,
        "floor": bench,
        "bare+floor": bench,
        "instrumentarium": bench,
        "upstream": upstream,
        "peer": venv_python(PEER_VENV),
    }


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
