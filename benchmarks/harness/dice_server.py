"""The WSGI application gunicorn serves for ``benchmarks/throughput.py``: the dice app of
``examples/dice/app.py``, instrumented as ``INSTRUMENTARIUM_BENCH_VARIANT`` says.

The benchmarks' SDK set-up (``sdk.BenchSdk``) is installed as the global tracer and meter
provider, since the dice app takes its own tracer and meter from the globals; then:

* ``bare``: nothing more (the app's own ``roll`` span and counter still go to the SDK);
* ``instrumentarium`` / ``upstream``: that ``FlaskInstrumentor.instrument_app``;
* ``peer``: ``sentry_sdk.init`` with the FlaskIntegration (``workloads/_sentry.py``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from opentelemetry import metrics, trace

from .sdk import BenchSdk, set_default_propagator

_DICE = Path(__file__).resolve().parents[2] / "examples" / "dice" / "app.py"

VARIANT = os.environ.get("INSTRUMENTARIUM_BENCH_VARIANT", "bare")

set_default_propagator()
_sdk = BenchSdk()
trace.set_tracer_provider(_sdk.tracer_provider)
metrics.set_meter_provider(_sdk.meter_provider)

if VARIANT == "peer":
    from sentry_sdk.integrations.flask import FlaskIntegration
    from workloads import _sentry

    _sentry.init(FlaskIntegration())

_spec = importlib.util.spec_from_file_location("dice_app", _DICE)
if _spec is None or _spec.loader is None:
    raise RuntimeError(f"cannot load {_DICE}")
_dice = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dice)
app = _dice.app

if VARIANT == "instrumentarium":
    from instrumentarium.flask import FlaskInstrumentor

    FlaskInstrumentor.instrument_app(
        app, tracer_provider=_sdk.tracer_provider, meter_provider=_sdk.meter_provider
    )
elif VARIANT == "upstream":
    from opentelemetry.instrumentation.flask import FlaskInstrumentor as UpstreamFlaskInstrumentor

    UpstreamFlaskInstrumentor.instrument_app(
        app, tracer_provider=_sdk.tracer_provider, meter_provider=_sdk.meter_provider
    )
elif VARIANT not in ("bare", "peer"):
    raise RuntimeError(f"unknown variant {VARIANT!r}")
