"""``instrumentarium-bootstrap``: the instrumentors this environment's libraries need.

Usage::

    instrumentarium-bootstrap                      # requirement lines, e.g. for requirements.txt
    instrumentarium-bootstrap -a install           # install them (pip, or uv where pip is absent)
    instrumentarium-bootstrap --only flask,redis --format json
    instrumentarium-bootstrap -a install -- --index-url https://mirror.example/simple

It reads installed distribution metadata only (nothing is imported), proposes an instrumentor
only when the installed library is inside its supported range, and says on stderr why any
installed library is skipped. Exit status: 0 done, 1 the install failed or no installer was
found, 2 bad usage (an unknown name in ``--only``/``--exclude``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Optional

from . import _install
from ._plan import (
    Environment,
    Instrumentor,
    Plan,
    Proposal,
    Skip,
    UnknownNameError,
    instrumentors,
    make_plan,
)
from .version import __version__

__all__ = [
    "Environment",
    "Instrumentor",
    "Plan",
    "Proposal",
    "Skip",
    "UnknownNameError",
    "__version__",
    "instrumentors",
    "main",
    "make_plan",
]

PROG = "instrumentarium-bootstrap"


def _names(values: Optional[list[str]]) -> list[str]:
    return [item.strip() for value in values or () for item in value.split(",") if item.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Find the installed libraries that instrumentarium instruments and print or"
        " install their instrumentors (pinned to this version). Arguments after `--` go to the"
        " installer.",
    )
    parser.add_argument(
        "-a",
        "--action",
        choices=("requirements", "install"),
        default="requirements",
        help="requirements: print requirement lines (default); install: install them in one call",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAMES",
        help="consider only these (comma list of libraries, entry points or distributions)",
    )
    parser.add_argument(
        "--exclude", action="append", metavar="NAMES", help="leave these out (comma list)"
    )
    parser.add_argument(
        "--include-dependencies",
        action="store_true",
        help="also instrument libraries present only as dependencies of instrumented libraries"
        " or of OpenTelemetry packages (urllib3 under requests)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: requirement lines on stdout, reasons on stderr; json: one document on stdout",
    )
    parser.add_argument(
        "--installer",
        choices=_install.INSTALLERS,
        default="auto",
        help="auto (default): pip if this interpreter has it, else uv",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser


def _explain(plan: Plan) -> None:
    for proposal in plan.proposals:
        upgrade = f", upgrading {proposal.upgrade_from}" if proposal.upgrade_from else ""
        print(f"# {proposal.requirement}: {proposal.reason}{upgrade}", file=sys.stderr)
    for skip in plan.skipped:
        print(f"# skipped ({skip.code}) {skip.message}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_list:
        cut = args_list.index("--")
        args_list, extra = args_list[:cut], args_list[cut + 1 :]
    parser = _parser()
    args = parser.parse_args(args_list)
    try:
        plan = make_plan(
            Environment.read(),
            only=_names(args.only),
            exclude=_names(args.exclude),
            include_dependencies=args.include_dependencies,
        )
    except UnknownNameError as exc:
        parser.error(str(exc))  # exits with status 2

    document = plan.as_dict()
    status = 0
    if args.format == "text":
        _explain(plan)
    if args.action == "requirements":
        if args.format == "text":
            for requirement in plan.requirements:
                print(requirement)
    elif not plan.proposals:
        if args.format == "text":
            print(f"{PROG}: nothing to install", file=sys.stderr)
        document["install"] = None
    else:
        try:
            installer, command, returncode = _install.run(plan, args.installer, extra)
        except _install.InstallerNotFoundError as exc:
            print(f"{PROG}: cannot install: {exc}. Install these yourself:", file=sys.stderr)
            for requirement in plan.requirements:
                print(f"  {requirement}", file=sys.stderr)
            document["install"] = {"error": str(exc)}
            status = 1
        else:
            document["install"] = {
                "installer": installer,
                "command": command,
                "returncode": returncode,
            }
            if returncode != 0:
                print(f"{PROG}: {installer} failed (exit status {returncode})", file=sys.stderr)
                status = 1
    if args.format == "json":
        print(json.dumps(document, indent=2))
    return status
