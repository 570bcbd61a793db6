"""What ``CeleryInstrumentor`` hooks into, and the telemetry in force that the hooks call.

Two patches (``Celery.send_task``, and ``Task.apply_async`` for eager mode) and receivers of
``celery.signals``. A receiver is a ``Patch`` whose ``apply`` connects it and whose ``remove``
disconnects it, so one ``PatchSet`` hooks both in when Celery is imported (or at once, when it
already is), removes both at ``uninstrument()``, and the start-up summary sees them.

``ACTIVE`` holds the ``CeleryTelemetry`` of ``instrument()``; every hook hands its call to it,
or does nothing (the plain call) when there is none or instrumentation is suppressed.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Final

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import is_suppressed

from ._telemetry import CeleryTelemetry

__all__ = ["ACTIVE", "PATCHES"]

_Run = Callable[[CeleryTelemetry, Any, Any, Any, Any], Any]


class SignalReceiver(Patch):
    """``receiver`` connected to ``celery.signals.<signal>`` while applied (strongly: the
    receiver lives as long as this module)."""

    __slots__ = ()

    def __init__(self, signal: str, receiver: Callable[..., None]) -> None:
        super().__init__("celery.signals", signal, receiver)

    def _signal(self) -> Any:
        return getattr(sys.modules[self.module], self.attribute)

    def _uid(self) -> str:
        return f"instrumentarium.celery.{self.attribute}"

    def apply(self) -> None:
        self._signal().connect(self.wrapper, weak=False, dispatch_uid=self._uid())

    def remove(self) -> None:
        self._signal().disconnect(self.wrapper, dispatch_uid=self._uid())

    def connections(self) -> int:
        """How many times the receiver is connected now (for the contract test)."""
        return sum(1 for _, receiver in self._signal().receivers if receiver is self.wrapper)


def _handing_to(run: _Run) -> Callable[..., Any]:
    """The class-level wrapper that hands a call to ``run(telemetry, ...)``."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        telemetry = ACTIVE.global_
        if telemetry is None or is_suppressed():
            return wrapped(*args, **kwargs)
        return run(telemetry, wrapped, instance, args, kwargs)

    return wrapper


# Receivers: Celery calls them with keyword arguments only (``sender`` among them, taken where it
# is used); a receiver's exception would be logged by Celery and ignored, yet each telemetry step
# is guarded anyway.


def _before_task_publish(
    headers: Any = None,
    body: Any = None,
    exchange: Any = None,
    routing_key: Any = None,
    declare: Any = None,
    **_: Any,
) -> None:
    telemetry = ACTIVE.global_
    if telemetry is not None and isinstance(headers, dict) and not is_suppressed():
        telemetry.before_publish(headers, body, exchange, routing_key, declare)


def _task_prerun(task: Any = None, **_: Any) -> None:
    telemetry = ACTIVE.global_
    if telemetry is not None and task is not None and not is_suppressed():
        telemetry.prerun(task)


def _task_failure(sender: Any = None, exception: Any = None, **_: Any) -> None:
    telemetry = ACTIVE.global_
    if telemetry is not None and sender is not None:
        telemetry.failure(sender, exception)


def _task_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    telemetry = ACTIVE.global_
    if telemetry is not None and request is not None:
        telemetry.retry(request, reason)


def _task_postrun(task: Any = None, state: Any = None, **_: Any) -> None:
    telemetry = ACTIVE.global_
    if telemetry is not None and task is not None:
        telemetry.postrun(task, state)


def _task_revoked(sender: Any = None, request: Any = None, expired: Any = None, **_: Any) -> None:
    telemetry = ACTIVE.global_
    if telemetry is not None and request is not None:
        telemetry.revoked(sender, request, expired)


def _worker_process_shutdown(**_: Any) -> None:
    telemetry = ACTIVE.global_
    if telemetry is not None:
        telemetry.flush()


PATCHES: Final = PatchSet(
    [
        Patch("celery.app.base", "Celery.send_task", _handing_to(CeleryTelemetry.send_task)),
        Patch("celery.app.task", "Task.apply_async", _handing_to(CeleryTelemetry.apply_async)),
        SignalReceiver("before_task_publish", _before_task_publish),
        SignalReceiver("task_prerun", _task_prerun),
        SignalReceiver("task_failure", _task_failure),
        SignalReceiver("task_retry", _task_retry),
        SignalReceiver("task_postrun", _task_postrun),
        SignalReceiver("task_revoked", _task_revoked),
        SignalReceiver("worker_process_shutdown", _worker_process_shutdown),
    ]
)
ACTIVE: Final = ActiveConfig[CeleryTelemetry]("_instrumentarium_celery_config", PATCHES)
