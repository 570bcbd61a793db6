"""The applications ``benchmarks/throughput.py`` serves: the dice app of ``examples/dice/app.py``,
instrumented as ``INSTRUMENTARIUM_BENCH_VARIANT`` says.

* ``flask_app()``: the example itself, for gunicorn (``harness.dice_server:flask_app()``);
* ``fastapi_app()``: the same app written for FastAPI (``GET /rolldice?player=NAME``, an ``async``
  endpoint, the same ``roll`` span, counter and warning line), for uvicorn (``--factory``).

The benchmarks' SDK set-up (``sdk.BenchSdk``) is installed as the global tracer and meter
provider on import, since the dice app takes its own tracer and meter from the globals; then:

* ``bare``: nothing more (the app's own ``roll`` span and counter still go to the SDK);
* ``instrumentarium`` / ``upstream``: that ``FlaskInstrumentor.instrument_app`` or
  ``FastAPIInstrumentor.instrument_app``;
* ``peer``: ``sentry_sdk.init`` with the FlaskIntegration, or the Starlette and FastAPI
  integrations (``workloads/_sentry.py``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Optional

from opentelemetry import metrics, trace

from .sdk import BenchSdk, set_default_propagator

_DICE = Path(__file__).resolve().parents[2] / "examples" / "dice" / "app.py"
_VARIANTS = ("bare", "instrumentarium", "upstream", "peer")

VARIANT = os.environ.get("INSTRUMENTARIUM_BENCH_VARIANT", "bare")
if VARIANT not in _VARIANTS:
    raise RuntimeError(f"unknown variant {VARIANT!r}")

set_default_propagator()
_sdk = BenchSdk()
trace.set_tracer_provider(_sdk.tracer_provider)
metrics.set_meter_provider(_sdk.meter_provider)
_providers: dict[str, Any] = {
    "tracer_provider": _sdk.tracer_provider,
    "meter_provider": _sdk.meter_provider,
}


def _dice() -> Any:
    """The ``examples/dice/app.py`` module: its Flask app, and the tracer, counter, logger and
    ``roll()`` the FastAPI port shares."""
    spec = importlib.util.spec_from_file_location("dice_app", _DICE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {_DICE}")
    dice = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dice)
    return dice


def flask_app() -> Any:
    """The Flask dice app of ``examples/dice/app.py``, instrumented as the variant says."""
    if VARIANT == "peer":
        from sentry_sdk.integrations.flask import FlaskIntegration
        from workloads import _sentry

        _sentry.init(FlaskIntegration())
    app = _dice().app
    if VARIANT == "instrumentarium":
        from instrumentarium.flask import FlaskInstrumentor

        FlaskInstrumentor.instrument_app(app, **_providers)
    elif VARIANT == "upstream":
        from opentelemetry.instrumentation.flask import FlaskInstrumentor as Upstream

        Upstream.instrument_app(app, **_providers)
    return app


def fastapi_app() -> Any:
    """The dice app written for FastAPI, instrumented as the variant says."""
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse
    from workloads.fastapi import _no_native_telemetry

    if VARIANT == "peer":
        from sentry_sdk.integrations.fastapi import FastApiIntegration
        from sentry_sdk.integrations.starlette import StarletteIntegration
        from workloads import _sentry

        _sentry.init(StarletteIntegration(), FastApiIntegration())

    dice = _dice()  # the example's tracer, counter, logger and roll(), not copies of them
    # FastAPI's own tracing off in every variant, as in the per-call fastapi workload.
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, **_no_native_telemetry())

    @app.get("/rolldice", response_class=PlainTextResponse)
    async def roll_dice(player: Optional[str] = None) -> str:
        with dice.tracer.start_as_current_span("roll") as roll_span:
            value = str(dice.roll())
            roll_span.set_attribute("roll.value", value)
            dice.rolls_counter.add(1, {"roll.value": value})
            if player:
                dice.logger.warning("%s is rolling the dice: %s", player, value)
            else:
                dice.logger.warning("Anonymous player is rolling the dice: %s", value)
            return value

    if VARIANT == "instrumentarium":
        from instrumentarium.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, **_providers)
    elif VARIANT == "upstream":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor as Upstream

        Upstream.instrument_app(app, **_providers)
    return app
