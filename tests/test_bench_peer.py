"""The peer variant's report of what sentry-sdk sent (``benchmarks/workloads/_sentry.py``):
built from transaction events as the transport receives them; sentry-sdk itself is not needed."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))

from workloads import _sentry  # noqa: E402


def test_summary_names_each_transaction_its_spans_and_keys() -> None:
    """Name, op, status, sorted tag and data keys, and each child span's op and description."""
    event = {
        "transaction": "/users/{user_id}/",
        "tags": {"http.status_code": "200"},
        "contexts": {"trace": {"op": "http.server", "status": "ok", "data": {"b": 1, "a": 2}}},
        "spans": [{"op": "db.redis", "description": "GET k", "data": {"db.system": "redis"}}],
    }
    assert _sentry.summarize([event, None]) == {
        "transactions": [
            {
                "name": "/users/{user_id}/",
                "op": "http.server",
                "status": "ok",
                "tags": ["http.status_code"],
                "data": ["a", "b"],
                "spans": [{"op": "db.redis", "description": "GET k", "data": ["db.system"]}],
            }
        ]
    }


def test_summary_of_nothing_sent_is_empty() -> None:
    assert _sentry.summarize([]) == {"transactions": []}
