"""One instrumentor's life in a fresh interpreter, as ``opentelemetry-instrument`` starts it, for
``tests/test_contract.py``::

    python -m tests.support.contract_probe MODULE:CLASS LIBRARY_MODULE...

1. import the instrumentor's package, call ``instrument()``: which library modules got imported;
2. import the module of every patch target the applied patch sets declare (the application
   importing the library: the post-import hooks patch it), and look at each target;
3. ``instrument()`` again, ``uninstrument()`` twice, ``instrument()``, ``uninstrument()``,
   looking at every target after each step.

Prints one JSON object: ``imported`` (the library modules in ``sys.modules`` after step 1) and
``targets``: for each ``module:attribute``, what it was after each step, in words (``wrapped
once``, ``the original``, ``unchanged``, ...). The original is what the first wrapper wraps.

A patch that connects a receiver instead of wrapping an attribute (Celery's signals) says how
many times it is connected (``connections()``): once reads ``wrapped once``, never ``the
original``.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import wrapt

from instrumentarium.util.patching import active_patch_sets, inspect_attr


def present(module: str, attribute: str) -> bool:
    """Whether this version of the library has the target (redis' optional ones may be missing)."""
    try:
        current(module, attribute)
    except (ImportError, AttributeError, KeyError):
        return False
    return True


def current(module: str, attribute: str) -> Any:
    owner: Any = importlib.import_module(module)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    return inspect_attr(owner, name)


class _Connections:
    """A receiver's state, described like a wrapper's: connected once is "wrapped once"."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.__wrapped__ = self  # the "original" of a receiver: the ORIGINAL marker below

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Connections) and other.count == self.count

    __hash__ = None  # type: ignore[assignment]


def describe(value: object, original: object) -> str:
    if isinstance(value, _Connections):
        return {0: "the original", 1: "wrapped once"}.get(value.count, f"{value.count} times")
    if value is original:
        return "the original"
    if isinstance(value, wrapt.FunctionWrapper):
        inner = value.__wrapped__
        if isinstance(inner, wrapt.ObjectProxy):
            return "wrapped twice"
        return "wrapped once" if inner is original else "a wrapper of something else"
    return "something else"


def main(target: str, libraries: list[str]) -> dict[str, Any]:
    module_name, _, class_name = target.partition(":")
    instrumentor = getattr(importlib.import_module(module_name), class_name)()
    instrumentor.instrument()
    imported = sorted(m for m in sys.modules if m.split(".")[0] in libraries)

    declared = {
        (patch.module, patch.attribute): patch
        for patch_set in active_patch_sets()
        for patch in patch_set.patches
    }
    for (module, _), patch in declared.items():
        if hasattr(patch, "connections"):
            importlib.import_module(module)  # the application imports the library
    receivers = {key: patch for key, patch in declared.items() if hasattr(patch, "connections")}

    def current_or_connections(module: str, attribute: str) -> Any:
        patch = receivers.get((module, attribute))
        if patch is not None:
            return _Connections(patch.connections())
        return current(module, attribute)

    first = {
        (module, attribute): current_or_connections(module, attribute)
        for module, attribute in declared
        if present(module, attribute)
    }
    originals = {key: getattr(value, "__wrapped__", value) for key, value in first.items()}
    seen: dict[str, dict[str, str]] = {f"{m}:{a}": {} for m, a in first}

    def look(step: str) -> None:
        for (module, attribute), original in originals.items():
            value = current_or_connections(module, attribute)
            seen[f"{module}:{attribute}"][step] = describe(value, original)

    look("instrument, then the library's import")
    instrumentor.instrument()
    for (module, attribute), value in first.items():
        same = current_or_connections(module, attribute) == value
        seen[f"{module}:{attribute}"]["instrument again"] = "unchanged" if same else "changed"
    instrumentor.uninstrument()
    look("uninstrument")
    instrumentor.uninstrument()
    look("uninstrument again")
    instrumentor.instrument()
    look("instrument after uninstrument")
    instrumentor.uninstrument()
    look("uninstrument at the end")
    return {"imported": imported, "targets": seen}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:])))
