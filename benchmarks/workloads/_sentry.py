"""The peer variant: sentry-sdk, tracing every request, its events dropped inside the process.

``init(*integrations)`` calls ``sentry_sdk.init`` as a user who traces everything would:
``traces_sample_rate=1.0``, the default integrations (so ``StdlibIntegration`` traces
``http.client``, which requests and urllib3 sit on) plus the workload's own, no auto-enabled
ones (they would only add integrations for libraries the workload does not call). Events go to
``DropTransport``, whose ``capture_envelope`` keeps a count and the last two envelopes and sends
nothing: no network, no background thread.

Sentry sends client spans (Redis, HTTP clients, a gRPC client) only as children of a
transaction; outside one they are built and dropped. ``in_transaction`` therefore wraps each
client call in its own transaction, so that one call sends what a traced call sends. The peer's
number for a client workload includes that transaction, where ours is one root span.

Runs only in ``.venv-bench-peer`` (``harness/envs.py``): import ``sentry_sdk`` inside functions.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Optional

from . import Call

__all__ = ["in_transaction", "init", "transport"]

# A well-formed DSN whose host never resolves; the transport never connects anyway.
_DSN = "https://0123456789abcdef0123456789abcdef@sentry.invalid/1"

_transport: list[Any] = []


def transport() -> Any:
    """The one ``DropTransport`` of this process."""
    if not _transport:
        from sentry_sdk.transport import Transport

        class DropTransport(Transport):  # type: ignore[misc]  # no stubs in the bench venvs
            """Keeps a count and the last envelopes; sends nothing."""

            def __init__(self) -> None:
                super().__init__(None)
                self.sent = 0
                self.recent: deque[Any] = deque(maxlen=2)

            def capture_envelope(self, envelope: Any) -> None:
                self.sent += 1
                self.recent.append(envelope)

            def sent_count(self) -> int:
                return self.sent

            def summary(self) -> dict[str, Any]:
                return summarize([envelope.get_transaction_event() for envelope in self.recent])

        _transport.append(DropTransport())
    return _transport[0]


def init(*integrations: Any) -> None:
    import sentry_sdk

    sentry_sdk.init(
        dsn=_DSN,
        traces_sample_rate=1.0,
        transport=transport(),
        integrations=list(integrations),
        auto_enabling_integrations=False,
    )


def in_transaction(call: Call, name: str) -> Call:
    """``call`` inside a transaction of its own, as a traced client call would be."""
    import sentry_sdk

    start_transaction = sentry_sdk.start_transaction

    def traced() -> object:
        with start_transaction(name=name, op="bench"):
            return call()

    return traced


def summarize(events: list[Optional[dict[str, Any]]]) -> dict[str, Any]:
    """What the report says about the peer's telemetry: each transaction's name, op and
    status, its child spans (op and description) and the keys of its tags and data."""
    transactions = []
    for event in events:
        if not event:
            continue
        trace = event.get("contexts", {}).get("trace", {})
        transactions.append(
            {
                "name": event.get("transaction"),
                "op": trace.get("op"),
                "status": trace.get("status"),
                "tags": sorted(event.get("tags", {})),
                "data": sorted(trace.get("data", {})),
                "spans": [
                    {
                        "op": span.get("op"),
                        "description": span.get("description"),
                        "data": sorted(span.get("data", {})),
                    }
                    for span in event.get("spans", [])
                ],
            }
        )
    return {"transactions": transactions}
