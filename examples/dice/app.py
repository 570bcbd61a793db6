"""The dice server of the OpenTelemetry getting-started guide, in the version with manual telemetry.

``GET /rolldice?player=NAME`` rolls a six-sided die and answers with the result as text. Inside
the request the app opens its own ``roll`` span (with a ``roll.value`` attribute), counts the
roll in the ``dice.rolls`` counter and logs one warning line. Everything else (the server span,
the HTTP metrics, exporting, log correlation) comes from ``opentelemetry-instrument``: this file
contains no SDK set-up on purpose. See README.md for how to run it.
"""

from __future__ import annotations

import logging
import random

from flask import Flask, request
from opentelemetry import metrics, trace

tracer = trace.get_tracer("diceroller.tracer")
meter = metrics.get_meter("diceroller.meter")
rolls_counter = meter.create_counter("dice.rolls", description="The number of rolls by roll value")

app = Flask(__name__)
logging.basicConfig(level=logging.INFO)
logger = logging.getLogger(__name__)


@app.route("/rolldice")
def roll_dice() -> str:
    # A child of the request's server span: the work the app does itself.
    with tracer.start_as_current_span("roll") as roll_span:
        player = request.args.get("player", default=None, type=str)
        value = str(roll())
        # A string, as in the guide: the same value labels the span and the counter.
        roll_span.set_attribute("roll.value", value)
        rolls_counter.add(1, {"roll.value": value})
        if player:
            logger.warning("%s is rolling the dice: %s", player, value)
        else:
            logger.warning("Anonymous player is rolling the dice: %s", value)
        return value


def roll() -> int:
    return random.randint(1, 6)
