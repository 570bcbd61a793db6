"""Child processes for the start-up, zero-code and release tests: a clean environment, and Python
run under ``opentelemetry-instrument`` (the zero-code agent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

__all__ = ["BIN", "clean_environ", "run_under_agent"]

BIN = Path(sys.executable).parent  # the venv running the tests: python, opentelemetry-instrument


def clean_environ(*drop: str, **extra: str) -> dict[str, str]:
    """The test process's environment without any ``OTEL_*`` variable (the developer's shell
    must not change a child's telemetry) and without the variables named in ``drop``; then
    ``extra``."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OTEL_") and key not in drop
    }
    environ.update(extra)
    return environ


def run_under_agent(
    code: str, *, cwd: Optional[Path] = None, **variables: str
) -> subprocess.CompletedProcess[str]:
    """``opentelemetry-instrument python -c code`` in this venv, without ``PYTHONPATH`` and with
    no exporter unless ``variables`` set one; its output captured, two minutes at most."""
    environ = clean_environ(
        "PYTHONPATH",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        **variables,
    )
    return subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=environ,
        cwd=cwd,
    )
