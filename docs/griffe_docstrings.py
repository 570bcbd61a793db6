"""A Griffe extension (mkdocs.yml): our docstrings, written for ``help()`` and plain reading,
rendered as the Markdown MkDocs expects.

Two habits of the docstrings need it: a list right under its introducing line (the generated
``Options (generated from XConfig by scripts/generate):`` bullets), which Markdown reads as one
paragraph without a blank line before it; and reST literal blocks (``Usage::`` then an indented
block), which become fenced Python code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

BULLET = re.compile(r"^\s*[*-] ")


def to_markdown(text: str) -> str:
    """``text`` with a blank line before each list and ``::`` blocks fenced."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            # a literal block: the indented lines after the blank one
            j = i + 2
            block: list[str] = []
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith((" ", "\t"))):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                intro = line.rstrip()[:-1]  # "Usage::" -> "Usage:"
                if intro.strip() != ":":
                    out.append(intro)
                indent = min(len(b) - len(b.lstrip()) for b in block if b.strip())
                out += ["", "```python", *(b[indent:] for b in block), "```", ""]
                i = j
                continue
        if BULLET.match(line) and out and out[-1].strip() and not _in_list(out):
            out.append("")
        out.append(line)
        i += 1
    return "\n".join(out)


def _in_list(out: list[str]) -> bool:
    """Whether the previous lines are a list item or its continuation."""
    for previous in reversed(out):
        if not previous.strip():
            return False
        if BULLET.match(previous):
            return True
        if not previous.startswith((" ", "\t")):
            return False
    return False


class MarkdownDocstrings(griffe.Extension):
    """Rewrites every docstring Griffe loads (modules, classes, functions, attributes)."""

    def on_instance(self, *, obj: griffe.Object, **_kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
