"""Patch targets declared as data, applied and removed in one call.

A ``Patch`` names one target (``"Class.method"`` or ``"function"`` of a module) and its wrapper
(wrapt's signature: ``wrapper(wrapped, instance, args, kwargs)``). A ``PatchSet`` applies its
patches together, now when the module is imported, else on the module's first import (a
post-import hook), so ``opentelemetry-instrument`` does not import every library at start-up.
``remove()`` unlinks only our own layer, even when someone wrapped on top of it since.
``active_patch_sets()`` and ``PatchSet.waiting_for`` feed the start-up summary.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import Any, Callable, Final

import wrapt

__all__ = ["Patch", "PatchSet", "active_patch_sets", "inspect_attr"]

# wrapt 2 no longer derives FunctionWrapper from ObjectProxy; BaseObjectProxy is the common base.
_PROXY: Final[Any] = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)


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

    ``apply()`` patches now if the module is imported, otherwise arms a post-import hook so that
    the library is patched on its first import and start-up does not import it. ``remove()``
    undoes every applied patch; a hook that has not fired stays armed but patches only the sets
    active when it fires. wrapt cannot unregister a hook, so there is one per module name for the
    whole process (``_arm_hook``): ``instrument()``/``uninstrument()`` cycles add none.
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
                    _arm_hook(module)

    def _on_import(self, module: str) -> None:
        with self._lock:
            if self._active:
                self._apply_module(module)

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


# Modules whose one post-import hook is registered and has not fired yet.
_armed_modules: set[str] = set()
_armed_lock = threading.Lock()  # never held while calling into wrapt or a PatchSet


def _arm_hook(module: str) -> None:
    with _armed_lock:
        if module in _armed_modules:
            return
        _armed_modules.add(module)  # before registering: the hook may fire at once
    wrapt.register_post_import_hook(_on_first_import, module)


def _on_first_import(module: object) -> None:
    """The hook: patch ``module`` for every set applied now; the next import needs a new hook
    (wrapt drops a hook once it fired)."""
    name = getattr(module, "__name__", "")
    with _armed_lock:
        _armed_modules.discard(name)
    for patch_set in active_patch_sets():
        patch_set._on_import(name)
