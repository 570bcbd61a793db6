"""The public surface of ``instrumentarium.util.http`` is exactly what ``__all__`` says."""

from __future__ import annotations

import inspect

from instrumentarium.util import http


def _public_names() -> set[str]:
    """Names defined by (or re-exported from) the package itself, not helpers it imports."""
    public = set()
    for name, value in vars(http).items():
        if name.startswith("_"):
            continue
        if inspect.ismodule(value):
            if value.__name__.startswith(http.__name__ + "."):
                public.add(name)  # a submodule exposed on purpose, like ``names``
            continue
        module = getattr(value, "__module__", http.__name__)
        if isinstance(value, (str, frozenset, int)) or module.startswith(http.__name__):
            public.add(name)
    return public


class TestExportedMembers:
    def test_all_lists_exactly_the_public_names(self) -> None:
        """Every public name is in ``__all__`` and every entry of ``__all__`` is public."""
        assert set(http.__all__) == _public_names() - {"version"}

    def test_all_has_no_duplicates(self) -> None:
        """No name is listed twice."""
        assert len(http.__all__) == len(set(http.__all__))

    def test_every_entry_resolves(self) -> None:
        """``from instrumentarium.util.http import *`` imports every listed name."""
        namespace: dict[str, object] = {}
        exec("from instrumentarium.util.http import *", namespace)
        assert set(http.__all__) <= set(namespace)
