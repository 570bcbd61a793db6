"""What the six demo processes share: their settings, and how they start and stop.

No OpenTelemetry here: the processes run under ``opentelemetry-instrument``, which sets up the
SDK and the exporters from ``OTEL_*`` variables and instruments Flask, FastAPI, requests, Django,
gRPC, Redis, kafka-python and Celery as they are imported.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Optional

# Redis and Kafka: the addresses of scripts/services' servers (INSTRUMENTARIUM_REDIS_URL,
# INSTRUMENTARIUM_KAFKA_BOOTSTRAP), read by one module shared with the tests and the benchmarks.
REPO = str(Path(__file__).resolve().parent.parent.parent)
if REPO not in sys.path:
    sys.path.append(REPO)
from tests.support.services import KAFKA_BOOTSTRAP, REDIS_URL  # noqa: E402, F401 (for the services)

# One run's keys and topic, so that runs side by side (or a user's data) never meet.
KEY_PREFIX = os.environ.get("DEMO_KEY_PREFIX", "demo:")
TOPIC = os.environ.get("DEMO_TOPIC", "demo-orders")
CONSUMER_GROUP = os.environ.get("DEMO_CONSUMER_GROUP", "demo-fulfilment")
CELERY_QUEUE = os.environ.get("DEMO_CELERY_QUEUE", "demo-notifier")


# `kill -USR1 <pid>` prints every thread's stack to the log: what a stuck service is doing.
faulthandler.register(signal.SIGUSR1, all_threads=True)


def announce_ready(port: int) -> None:
    """Tell the launcher (``demo_stack.py``) which port was bound: it reads this line."""
    print(f"READY port={port}", flush=True)


def exit_on_sigterm() -> None:
    """SIGTERM ends the process through ``SystemExit``, so ``atexit`` runs and the SDK flushes
    its last spans and metrics to the Collector (Python's default SIGTERM does neither)."""

    def stop(signum: int, frame: Optional[FrameType]) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
