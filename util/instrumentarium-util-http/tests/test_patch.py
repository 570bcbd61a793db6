"""Patch targets declared as data: apply, remove, idempotence and deferred application."""

from __future__ import annotations

import importlib
import itertools
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import wrapt

from instrumentarium.util.patching import Patch, PatchSet

_counter = itertools.count()


def add_ten(wrapped: Callable[..., int], instance: Any, args: Any, kwargs: Any) -> int:
    return wrapped(*args, **kwargs) + 10


def add_hundred(wrapped: Callable[..., int], instance: Any, args: Any, kwargs: Any) -> int:
    return wrapped(*args, **kwargs) + 100


def _unique_name() -> str:
    return f"instrumentarium_patch_target_{next(_counter)}"


@pytest.fixture
def target() -> Iterator[types.ModuleType]:
    """A real module in ``sys.modules`` with a function and a class method returning 1."""
    name = _unique_name()
    module = types.ModuleType(name)
    exec(  # build the module from source so its objects belong to it
        "def func():\n    return 1\n\nclass Client:\n    def send(self):\n        return 1\n",
        module.__dict__,
    )
    sys.modules[name] = module
    yield module
    sys.modules.pop(name, None)


@pytest.fixture
def module_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a not-yet-imported module file on ``sys.path``."""
    name = _unique_name()
    (tmp_path / f"{name}.py").write_text("def func():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


class TestPatch:
    def test_apply_and_remove_function(self, target: types.ModuleType) -> None:
        """A module function is wrapped, then restored to the very same object."""
        original = target.func
        patch = Patch(target.__name__, "func", add_ten)
        patch.apply()
        assert target.func() == 11
        patch.remove()
        assert target.func is original
        assert target.func() == 1

    def test_apply_and_remove_method(self, target: types.ModuleType) -> None:
        """A ``Class.method`` target is wrapped, then the class dict holds the original again."""
        original = target.Client.__dict__["send"]
        patch = Patch(target.__name__, "Client.send", add_ten)
        patch.apply()
        assert target.Client().send() == 11
        patch.remove()
        assert target.Client.__dict__["send"] is original
        assert target.Client().send() == 1

    @pytest.mark.parametrize("attribute", ["func", "Client.send"])
    def test_apply_twice_wraps_once(self, target: types.ModuleType, attribute: str) -> None:
        """Applying the same patch twice leaves one layer, and one remove undoes it."""
        patch = Patch(target.__name__, attribute, add_ten)
        patch.apply()
        patch.apply()
        call = target.func if attribute == "func" else target.Client().send
        assert call() == 11
        patch.remove()
        call = target.func if attribute == "func" else target.Client().send
        assert call() == 1

    def test_remove_keeps_a_layer_added_on_top(self, target: types.ModuleType) -> None:
        """When someone wrapped on top of us, remove unlinks only our layer and keeps theirs."""
        original = target.func
        ours = Patch(target.__name__, "func", add_ten)
        ours.apply()
        wrapt.wrap_function_wrapper(target, "func", add_hundred)
        theirs = target.func
        assert target.func() == 111
        ours.remove()
        assert target.func is theirs
        assert target.func() == 101
        assert theirs.__wrapped__ is original

    def test_remove_without_apply_changes_nothing(self, target: types.ModuleType) -> None:
        """Removing a patch that was never applied leaves the target as it is."""
        original = target.func
        Patch(target.__name__, "func", add_ten).remove()
        assert target.func is original

    def test_repr_names_the_target(self) -> None:
        """The repr shows module and attribute, for logs."""
        assert repr(Patch("mod", "Cls.meth", add_ten)) == "Patch(mod:Cls.meth)"


class TestPatchSet:
    def test_apply_and_remove_together(self, target: types.ModuleType) -> None:
        """Every patch of the set is applied and removed in one call."""
        func, send = target.func, target.Client.__dict__["send"]
        patches = PatchSet(
            [
                Patch(target.__name__, "func", add_ten),
                Patch(target.__name__, "Client.send", add_ten),
            ]
        )
        patches.apply()
        assert (target.func(), target.Client().send()) == (11, 11)
        assert len(patches.applied) == 2
        patches.remove()
        assert target.func is func
        assert target.Client.__dict__["send"] is send
        assert patches.applied == ()

    def test_apply_is_idempotent(self, target: types.ModuleType) -> None:
        """Applying a set twice wraps once."""
        patches = PatchSet([Patch(target.__name__, "func", add_ten)])
        patches.apply()
        patches.apply()
        assert target.func() == 11
        patches.remove()
        assert target.func() == 1

    def test_apply_remove_apply(self, target: types.ModuleType) -> None:
        """A set can be applied again after being removed."""
        patches = PatchSet([Patch(target.__name__, "func", add_ten)])
        patches.apply()
        patches.remove()
        patches.apply()
        assert target.func() == 11
        patches.remove()
        assert target.func() == 1

    def test_deferred_until_import(self, module_on_disk: str) -> None:
        """A module that is not imported yet is patched when it is first imported."""
        patches = PatchSet([Patch(module_on_disk, "func", add_ten)])
        patches.apply()
        assert module_on_disk not in sys.modules
        module = importlib.import_module(module_on_disk)
        assert module.func() == 11
        assert len(patches.applied) == 1
        patches.remove()
        assert module.func() == 1

    def test_remove_before_import_disarms(self, module_on_disk: str) -> None:
        """Removing before the import means the module is not patched when it arrives."""
        patches = PatchSet([Patch(module_on_disk, "func", add_ten)])
        patches.apply()
        patches.remove()
        module = importlib.import_module(module_on_disk)
        assert module.func() == 1
        assert patches.applied == ()

    def test_cycles_before_import_add_no_hooks(self, module_on_disk: str) -> None:
        """``apply()``/``remove()`` cycles before the module is imported register one
        post-import hook in all (it was one more per cycle, never unregistered), and the
        module is still patched on its first import."""
        from wrapt import importer

        patches = PatchSet([Patch(module_on_disk, "func", add_ten)])
        for _ in range(10):
            patches.apply()
            patches.remove()
        patches.apply()
        assert len(importer._post_import_hooks.get(module_on_disk) or ()) == 1
        module = importlib.import_module(module_on_disk)
        assert module.func() == 11
        patches.remove()

    def test_sets_made_per_cycle_share_one_hook(self, module_on_disk: str) -> None:
        """A patch set made anew by every ``instrument()`` (gRPC's client channels) adds no
        hook either: one hook per module serves every set, and only active sets patch."""
        from wrapt import importer

        for _ in range(10):
            patches = PatchSet([Patch(module_on_disk, "func", add_ten)])
            patches.apply()
            patches.remove()
        assert len(importer._post_import_hooks.get(module_on_disk) or ()) == 1
        module = importlib.import_module(module_on_disk)
        assert module.func() == 1

    def test_reimported_module_is_patched_again(self, module_on_disk: str) -> None:
        """After the hook fired, a module dropped from ``sys.modules`` and imported again
        under an applied set is patched again (the hook is armed anew)."""
        from wrapt import importer

        patches = PatchSet([Patch(module_on_disk, "func", add_ten)])
        patches.apply()
        assert importlib.import_module(module_on_disk).func() == 11
        patches.remove()
        if module_on_disk in importer._post_import_hooks:
            pytest.skip("this wrapt (1.x) never fires hooks again for a module imported again")
        del sys.modules[module_on_disk]
        patches.apply()
        assert importlib.import_module(module_on_disk).func() == 11
        patches.remove()
