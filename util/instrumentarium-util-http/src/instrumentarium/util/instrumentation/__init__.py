"""Pieces every instrumentor needs, whatever its library: configuration, hooks and patching.

* configuration from the environment, read once when an instrumentor is configured, with one clear
  warning per bad value (``env_list``, ``env_flag``, ``compile_patterns``, ``warn_once``);
* user hooks that can never break the application (``safe_hook``);
* patch targets declared as data and applied or removed in one call, deferred to the target
  module's first import when it is not imported yet (``Patch``, ``PatchSet``); the sets applied
  right now, and what each still waits for, for the start-up summary (``active_patch_sets``,
  ``PatchSet.waiting_for``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Hashable, Iterable
from typing import Any, Callable, Final, Optional, TypeVar

import wrapt
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_current

__all__ = [
    "logger",
    "is_suppressed",
    "warn_once",
    "env_list",
    "env_flag",
    "split_comma_list",
    "compile_patterns",
    "safe_hook",
    "Patch",
    "PatchSet",
    "active_patch_sets",
]

logger: Final = logging.getLogger("instrumentarium")

# wrapt 2 no longer derives FunctionWrapper from ObjectProxy; BaseObjectProxy is the common base.
_PROXY: Final[Any] = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)

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


def split_comma_list(value: str) -> list[str]:
    """Comma-separated items, stripped, empty items dropped (a trailing comma means nothing)."""
    return [item for item in (part.strip() for part in value.split(",")) if item]


def env_list(name: str) -> Optional[list[str]]:
    """The comma list in environment variable ``name``; None when the variable is unset."""
    value = os.environ.get(name)
    if value is None:
        return None
    return split_comma_list(value)


_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def env_flag(name: str, default: bool) -> bool:
    """A boolean variable: ``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``.

    Unset or empty gives ``default``; anything else is reported once and gives ``default``.
    """
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    warn_once(
        ("flag", name, value),
        "%s=%r is not a boolean (use true or false); using the default, %s",
        name,
        os.environ.get(name),
        str(default).lower(),
    )
    return default


def compile_patterns(
    patterns: Iterable[str], *, source: str, flags: int = 0
) -> Optional[re.Pattern[str]]:
    """One compiled alternation of ``patterns``; None when there is none left.

    Each pattern is compiled on its own first, so an invalid one is reported (naming ``source``,
    the environment variable or keyword argument it came from) and skipped instead of disabling
    the whole list. Empty patterns are dropped: an empty alternative would match everything.
    """
    valid: list[str] = []
    for pattern in patterns:
        if not pattern:
            continue
        piece = _scoped(pattern)
        try:
            # Compile what will be used: this piece inside the alternation built so far (a
            # leading "(?i)" or a duplicate group name is only an error there). Warnings that
            # `re` raises about a pattern (FutureWarning for "[[") are reported like errors, once.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                re.compile("|".join([*valid, piece]), flags)
            for warning in caught:
                warn_once(
                    ("pattern-warning", source, pattern),
                    "%s: regular expression %r: %s",
                    source,
                    pattern,
                    warning.message,
                )
        except re.error as exc:
            warn_once(
                ("pattern", source, pattern),
                "%s: ignoring invalid regular expression %r (%s)",
                source,
                pattern,
                exc,
            )
            continue
        valid.append(piece)
    if not valid:
        return None
    return re.compile("|".join(valid), flags)


_LEADING_FLAGS: Final = re.compile(r"\(\?([aiLmsux]+)\)")


def _scoped(pattern: str) -> str:
    """``pattern`` as a group; leading global flags (``(?i)x``) become scoped (``(?i:x)``)."""
    match = _LEADING_FLAGS.match(pattern)
    if match is not None:
        return f"(?{match.group(1)}:{pattern[match.end() :]})"
    return f"(?:{pattern})"


F = TypeVar("F", bound=Callable[..., Any])


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


class Patch:
    """One patch target: ``attribute`` (``"Class.method"`` or ``"function"``) of ``module``,
    wrapped by ``wrapper(wrapped, instance, args, kwargs)`` (wrapt's signature)."""

    __slots__ = ("attribute", "module", "wrapper")

    def __init__(self, module: str, attribute: str, wrapper: Callable[..., Any]) -> None:
        self.module = module
        self.attribute = attribute
        self.wrapper = wrapper

    def __repr__(self) -> str:
        return f"Patch({self.module}:{self.attribute})"

    def _owner(self) -> tuple[object, str]:
        owner: object = sys.modules[self.module]
        *path, name = self.attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        return owner, name

    def apply(self) -> None:
        owner, name = self._owner()
        current = inspect_attr(owner, name)
        if isinstance(current, wrapt.FunctionWrapper) and current._self_wrapper is self.wrapper:
            return
        wrapt.wrap_function_wrapper(owner, name, self.wrapper)

    def remove(self) -> None:
        owner, name = self._owner()
        # Walk the chain: someone else may have wrapped on top of us since; unlink only our layer.
        holder: Any = owner  # the class, then each proxy above ours
        attr = name
        current: Any = inspect_attr(holder, attr)
        while isinstance(current, _PROXY):
            if isinstance(current, wrapt.FunctionWrapper) and current._self_wrapper is self.wrapper:
                if holder is owner:
                    setattr(owner, attr, current.__wrapped__)
                else:
                    holder.__wrapped__ = current.__wrapped__
                return
            holder, current = current, current.__wrapped__


def inspect_attr(owner: object, name: str) -> object:
    """``owner.name`` without triggering descriptors (so a class attribute stays a wrapper)."""
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if name in klass.__dict__:
                return klass.__dict__[name]
    return getattr(owner, name)


class PatchSet:
    """Patches applied and removed together; applied when their module is first imported.

    ``apply()`` patches now if the module is imported, otherwise registers a post-import hook so
    that the library is patched on its first import and start-up does not import it. ``remove()``
    undoes every applied patch and disarms hooks that have not fired.
    """

    __slots__ = ("_active", "_applied", "_lock", "patches")

    def __init__(self, patches: Iterable[Patch]) -> None:
        self.patches = tuple(patches)
        self._active = False
        self._applied: list[Patch] = []
        self._lock = threading.RLock()

    def apply(self) -> None:
        with self._lock:
            if self._active:
                return
            self._active = True
            with _active_sets_lock:
                _active_sets[self] = None
            for module in dict.fromkeys(p.module for p in self.patches):
                if module in sys.modules:
                    self._apply_module(module)
                else:
                    wrapt.register_post_import_hook(self._on_import, module)

    def _on_import(self, module: object) -> None:
        name = getattr(module, "__name__", "")
        with self._lock:
            if self._active:
                self._apply_module(name)

    def _apply_module(self, module: str) -> None:
        for patch in self.patches:
            if patch.module == module and patch not in self._applied:
                patch.apply()
                self._applied.append(patch)

    def remove(self) -> None:
        with self._lock:
            self._active = False
            with _active_sets_lock:
                _active_sets.pop(self, None)
            for patch in reversed(self._applied):
                patch.remove()
            self._applied.clear()

    @property
    def applied(self) -> tuple[Patch, ...]:
        return tuple(self._applied)

    @property
    def waiting_for(self) -> tuple[str, ...]:
        """The modules whose patches wait for their first import (a hook is armed); empty when
        the set is not applied or everything is patched."""
        with self._lock:
            if not self._active:
                return ()
            done = {patch.module for patch in self._applied}
            return tuple(m for m in dict.fromkeys(p.module for p in self.patches) if m not in done)


# Applied patch sets, in the order they were applied (a dict as an ordered set). Only active sets
# are held, so a set made per instrument() call is released by its uninstrument().
_active_sets: dict[PatchSet, None] = {}
_active_sets_lock = threading.Lock()  # never held while taking a PatchSet's own lock


def active_patch_sets() -> tuple[PatchSet, ...]:
    """Every patch set applied right now (``apply()`` called, ``remove()`` not since)."""
    with _active_sets_lock:
        return tuple(_active_sets)
