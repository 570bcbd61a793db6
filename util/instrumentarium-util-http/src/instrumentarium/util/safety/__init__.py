"""Running inside someone else's call without harming it.

* ``logger``: everything instrumentarium says goes to the ``instrumentarium`` logger;
* ``warn_once``: a problem reported at WARNING the first time, at DEBUG after that;
* ``guard``: "instrumentation never breaks the application" as one construct. A telemetry step
  decorated with ``@guard("...")`` (or run under ``with guard("..."):``) that raises is logged
  once and the user's call goes on; the step returns None;
* ``safe_hook``: a user hook wrapped the same way, as upstream's hooks signatures;
* ``is_suppressed``: whether ``suppress_instrumentation()`` is active (exporters use it so their
  own traffic is never traced).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Hashable
from types import TracebackType
from typing import Any, Callable, Final, Optional, TypeVar, cast

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_current

__all__ = ["logger", "warn_once", "guard", "Guard", "safe_hook", "is_suppressed"]

logger: Final = logging.getLogger("instrumentarium")

# Older instrumentation sets the plain string key; both mean suppress_instrumentation().
_PLAIN_SUPPRESS_KEY: Final = "suppress_instrumentation"


def is_suppressed() -> bool:
    """Whether ``suppress_instrumentation()`` is active in the current context: a traced call
    then runs plain (exporters use it so their own traffic is never traced)."""
    ctx = get_current()
    return bool(ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_PLAIN_SUPPRESS_KEY))


_warned: set[Hashable] = set()
_warned_lock = threading.Lock()


def warn_once(key: Hashable, message: str, *args: object) -> None:
    """Log ``message`` at WARNING the first time ``key`` is seen in this process, else DEBUG."""
    with _warned_lock:
        first = key not in _warned
        _warned.add(key)
    logger.log(logging.WARNING if first else logging.DEBUG, message, *args)


F = TypeVar("F", bound=Callable[..., Any])


class Guard:
    """One place where telemetry may fail without the application noticing.

    As a context manager it swallows an ``Exception`` raised in its block (never a
    ``BaseException`` such as ``KeyboardInterrupt``) and logs it: the first failure at WARNING
    with its traceback, later ones at DEBUG. As a decorator it does the same around a function,
    which then returns None when it failed. Build one per site, once, at import time::

        _START: Final = guard("starting the redis span")

        @_START
        def begin(...): ...

    A plain class with ``__slots__`` rather than ``contextlib.contextmanager``: it sits on the
    per-call path and costs two method calls there.
    """

    __slots__ = ("failed", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.failed = False

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool:
        if exc_type is None or not issubclass(exc_type, Exception):
            return False
        self.report(exc)
        return True

    def report(self, exc: Optional[BaseException]) -> None:
        """Log a failure of this site: WARNING with the traceback the first time, then DEBUG."""
        level = logging.DEBUG if self.failed else logging.WARNING
        self.failed = True
        logger.log(
            level,
            "instrumentarium: %s failed; the application's call goes on",
            self.what,
            exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
        )

    def __call__(self, function: F) -> F:
        site = self

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                site.report(exc)
                return None

        return cast("F", guarded)


def guard(what: str) -> Guard:
    """A ``Guard`` for one site: ``what`` names the step in the log (``"ending the span"``)."""
    return Guard(what)


def safe_hook(hook: object, name: str) -> Optional[Callable[..., None]]:
    """``hook`` wrapped so that an exception in it is logged and swallowed; None if no hook.

    The first failure of a hook is logged at WARNING with its traceback, later ones at DEBUG. A
    value that is not callable is reported once and ignored, as upstream ignores it.
    """
    if hook is None:
        return None
    if not callable(hook):
        warn_once(("hook-type", name), "%s must be callable, got %r; ignoring it", name, hook)
        return None
    user_hook: Callable[..., object] = hook
    failed = False

    def call_hook(*args: object) -> None:
        nonlocal failed
        try:
            user_hook(*args)
        except Exception:
            level = logging.DEBUG if failed else logging.WARNING
            failed = True
            logger.log(level, "%s %r raised; the call goes on", name, user_hook, exc_info=True)

    call_hook.__wrapped__ = user_hook  # type: ignore[attr-defined]
    return call_hook
