"""The workload registry: every module in this package that defines ``WORKLOADS`` is a workload.

A workload is one kind of call to an instrumented library (a Flask request, a Redis ``GET``, ...)
built three ways, each by a *setup* function that returns a zero-argument callable doing one call:

* ``bare(providers)``: the library alone (``providers`` is ignored);
* ``instrumentarium(providers)``: instrumented with our instrumentor;
* ``upstream(providers)``: instrumented with the upstream contrib instrumentor.

The fourth variant, ``floor``, is built by the harness from the workload's ``carrier`` and from the
telemetry that one ``instrumentarium`` call emits (see ``harness/floor.py``).

Setup functions run inside a worker process, in a virtual environment where only one of the two
instrumentors is installed: import the library and the instrumentor *inside* them, never at module
level (the driver imports this package without any of them). Modules whose name starts with ``_``
are helpers, not workloads.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

# Workloads that talk to a server read its address from tests/support/services.py, the module the
# tests and the examples read too: the repository root goes on the path, last, so that it never
# shadows an installed module.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

__all__ = [
    "PEER_REQUIREMENT",
    "UPSTREAM_CONTRIB_VERSION",
    "Call",
    "Providers",
    "Setup",
    "Workload",
    "discover",
    "upstream_requirement",
]

# The upstream contrib release we compare against. Every contrib distribution shares this
# version; bump it here (one line) to benchmark a newer upstream.
UPSTREAM_CONTRIB_VERSION = "0.66b1"

# The peer: another tracer Python teams pick, in its own venv (never a dependency of ours).
PEER_REQUIREMENT = "sentry-sdk[grpcio]==2.76.0"  # the extra brings protobuf


def upstream_requirement(distribution: str) -> str:
    """The requirement pinning ``distribution`` to the compared upstream release."""
    return f"{distribution}=={UPSTREAM_CONTRIB_VERSION}"


@dataclass(frozen=True)
class Providers:
    """The SDK providers a setup function passes to the instrumentor (same set-up everywhere)."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider


Call = Callable[[], object]
Setup = Callable[[Providers], Call]


@dataclass(frozen=True)
class Workload:
    """One workload, as its module declares it.

    Attributes:
        name: the name on the command line and in the report (``--workload NAME``).
        description: one line for the report.
        bare, instrumentarium, upstream: setup functions (see the module docstring).
        carrier: builds the request's propagation carrier (a WSGI environ for a server workload);
            the floor extracts the parent context from it on every call.
        expect: what one call returns when it worked (the response body); checked once in each
            worker, outside the timed loop.
        packages: requirements of the library under test, installed in both benchmark venvs at
            the same versions (e.g. ``"flask"``).
        upstream_packages: requirements installed only in the upstream venv (the contrib
            instrumentor, usually via ``upstream_requirement``).
        show_versions: distributions whose versions the report header prints.
        upstream_records_duration: False when the upstream instrumentor records no duration
            metric (Redis): its first-call check then asks for the span only.
        records_metrics: False when the library's instrumentors record no metric at all
            (Jinja2, upstream's and ours): every variant's first-call check asks for the span
            only.
        spans_per_call: spans one call makes (2 when a client and its server are both
            instrumented in the worker, as for gRPC); the floor replays each of them. For the
            peer: the transactions one call sends.
        peer: setup function of the peer variant (sentry-sdk, ``workloads/_sentry.py``), or
            None where the peer has no integration for the library.
        peer_transactions: transactions the peer sends per call, when not ``spans_per_call``.
        emits_telemetry: False for an instrumentor that emits no span and no metric of its own
            (log correlation): the floor variants are not run (there is nothing for the SDK to
            do), every variant's first call must export nothing, and the setup functions check
            the instrumentor's effect themselves.
        sampled: False when the request arrives with a ``traceparent`` whose sampled flag is
            off: the ``spans_per_call`` spans are started but not recording (the default
            parent-based sampler drops them), nothing is exported, the metrics are recorded;
            the floor replays the same non-recording starts.
    """

    name: str
    description: str
    bare: Setup
    instrumentarium: Setup
    upstream: Setup
    carrier: Callable[[], dict[str, Any]]
    expect: object
    packages: tuple[str, ...]
    upstream_packages: tuple[str, ...]
    show_versions: tuple[str, ...] = ()
    upstream_records_duration: bool = True
    records_metrics: bool = True
    spans_per_call: int = 1
    peer: Optional[Setup] = None
    peer_transactions: Optional[int] = None
    emits_telemetry: bool = True
    sampled: bool = True

    def emitted_per_call(self, variant: str) -> int:
        """Spans one call exports (for the peer: transactions it sends)."""
        if not self.emits_telemetry or not self.sampled:
            return 0
        if variant == "peer" and self.peer_transactions is not None:
            return self.peer_transactions
        return self.spans_per_call


def discover() -> dict[str, Workload]:
    """Every workload of every module in this package, in module then declaration order."""
    found: dict[str, Workload] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for workload in getattr(module, "WORKLOADS", ()):
            if workload.name in found:
                raise ValueError(f"workload {workload.name!r} is defined twice")
            found[workload.name] = workload
    return found
