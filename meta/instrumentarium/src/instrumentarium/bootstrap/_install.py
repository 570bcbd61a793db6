"""Installing a plan: one resolver call, with pip or, where pip is absent, with ``uv pip``.

The installed libraries the plan instruments are passed as constraints (``flask==3.1.2``), so the
resolver may add or upgrade OpenTelemetry packages but never changes the user's libraries.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Optional

from ._plan import Plan

__all__ = ["INSTALLERS", "InstallerNotFoundError", "find_installer", "install_command", "run"]

INSTALLERS: Final = ("auto", "pip", "uv")


class InstallerNotFoundError(RuntimeError):
    """Neither pip (in this interpreter) nor uv (on PATH, or as a package) is available."""


def _uv_binary() -> Optional[str]:
    found = shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def _has_pip() -> bool:
    return importlib.util.find_spec("pip") is not None


def find_installer(choice: str) -> tuple[str, list[str]]:
    """``(name, command prefix)`` of the installer to use for ``choice`` (auto, pip or uv)."""
    if choice in ("auto", "pip") and _has_pip():
        return "pip", [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    if choice == "pip":
        raise InstallerNotFoundError(f"pip is not installed in {sys.executable}")
    uv = _uv_binary()
    if uv is not None:
        return "uv", [uv, "pip", "install", "--python", sys.executable]
    if choice == "uv":
        raise InstallerNotFoundError("uv was not found on PATH")
    raise InstallerNotFoundError(f"neither pip (in {sys.executable}) nor uv (on PATH) is available")


def install_command(
    prefix: Sequence[str], plan: Plan, constraints: Optional[Path], extra: Sequence[str]
) -> list[str]:
    command = list(prefix)
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    return [*command, *plan.requirements, *extra]


def run(plan: Plan, installer: str, extra: Sequence[str]) -> tuple[str, list[str], int]:
    """Install ``plan`` in one call; returns (installer, command, exit status)."""
    name, prefix = find_installer(installer)
    # The installed libraries stay at their versions (nothing to pin for the standard library).
    pins = sorted(
        {f"{p.library}=={p.library_version}" for p in plan.proposals if p.library_version}
    )
    with tempfile.TemporaryDirectory(prefix="instrumentarium-bootstrap-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{pin}\n" for pin in pins))
        command = install_command(prefix, plan, constraints if pins else None, extra)
        print(f"instrumentarium-bootstrap: running {' '.join(command)}", file=sys.stderr)
        sys.stderr.flush()
        completed = subprocess.run(command, check=False)
    return name, command, completed.returncode
