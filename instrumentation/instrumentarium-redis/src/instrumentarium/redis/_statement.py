"""Span names and ``db.statement`` text of Redis commands, with the statement policy.

* sanitized (the default): the command name, then one ``?`` per argument (``SET ? ?``);
* raw (``OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS=false``): the arguments as text, each cut to
  ``ARG_LIMIT`` characters; bytes are decoded as UTF-8, undecodable bytes become U+FFFD;
* either way, commands that carry credentials (``AUTH``, ``HELLO``, ``MIGRATE``, ``ACL``,
  ``CONFIG``, ``SENTINEL``) keep only ``?`` for their arguments, and a statement is cut to
  ``STATEMENT_LIMIT`` characters (the last three being ``...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Optional

__all__ = [
    "ARG_LIMIT",
    "STATEMENT_LIMIT",
    "command_name",
    "span_name",
    "statement",
    "pipeline_commands",
    "pipeline_shape",
    "batch_operation_name",
]

ARG_LIMIT: Final = 100
STATEMENT_LIMIT: Final = 1000
_ELLIPSIS: Final = "..."

# First words of commands whose arguments may hold a password: never recorded.
_SECRET_COMMANDS: Final = frozenset({"AUTH", "HELLO", "MIGRATE", "ACL", "CONFIG", "SENTINEL"})

# RediSearch commands get upstream's descriptive span names.
_SPAN_NAMES: Final = {"FT.SEARCH": "redis.search", "FT.CREATE": "redis.create_index"}


def _text(value: object, limit: int) -> str:
    """``value`` as text of at most ``limit`` characters (+ ``...``); never raises."""
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value[: limit + 1])
            text = raw.decode("utf-8", "replace")
        else:
            text = value if type(value) is str else str(value)
    except Exception:  # a user object whose __str__ raises
        return "?"
    if len(text) > limit:
        return text[:limit] + _ELLIPSIS
    return text


def command_name(args: Sequence[Any]) -> Optional[str]:
    """The command as the application wrote it (``"GET"``, ``"CONFIG SET"``); None without args."""
    if not args:
        return None
    first = args[0]
    if type(first) is str:
        return first
    return _text(first, ARG_LIMIT)


def span_name(name: Optional[str]) -> str:
    if name is None or not name:
        return "redis"
    return _SPAN_NAMES.get(name, name)


def _cap(text: str) -> str:
    if len(text) > STATEMENT_LIMIT:
        return text[: STATEMENT_LIMIT - len(_ELLIPSIS)] + _ELLIPSIS
    return text


def _is_secret(name: str) -> bool:
    first = name.split(" ", 1)[0].upper()
    return first in _SECRET_COMMANDS


def _one(name: Optional[str], args: Sequence[Any], sanitize: bool) -> str:
    if name is None:
        return ""
    count = len(args) - 1
    if sanitize or _is_secret(name):
        return name + " ?" * count
    parts = [name]
    size = len(name)
    for arg in args[1:]:
        part = _text(arg, ARG_LIMIT)
        parts.append(part)
        size += len(part) + 1
        if size > STATEMENT_LIMIT:  # the rest would be cut anyway
            break
    return " ".join(parts)


def statement(name: Optional[str], args: Sequence[Any], sanitize: bool) -> str:
    """``db.statement`` of one command."""
    return _cap(_one(name, args, sanitize))


def pipeline_commands(pipeline: object) -> Optional[Sequence[Any]]:
    """The queued commands of a pipeline, or None when they cannot be found.

    Where redis-py keeps them depends on the class and version: ``command_stack`` (``Pipeline``,
    cluster pipelines before redis-py 6), ``_command_stack`` (asyncio cluster pipelines before 6),
    ``_execution_strategy`` (cluster pipelines from 6 on). Each entry is ``(args, options)`` or an
    object with ``.args``.
    """
    strategy = getattr(pipeline, "_execution_strategy", None)
    if strategy is not None:
        for attribute in ("command_queue", "_command_queue"):
            queue = getattr(strategy, attribute, None)
            if isinstance(queue, list):
                return queue
    for attribute in ("command_stack", "_command_stack"):
        stack = getattr(pipeline, attribute, None)
        if isinstance(stack, list):
            return stack
    return None


def command_args(entry: Any) -> Sequence[Any]:
    """The arguments of one queued pipeline command (see ``pipeline_commands``)."""
    if type(entry) is tuple:  # Pipeline: (args, options), the common case first
        return _args_of(entry[0] if entry else None)
    return _args_of(getattr(entry, "args", None))


def pipeline_shape(entries: Sequence[Any]) -> tuple[tuple[Optional[str], int], ...]:
    """``(command_name, argument count)`` of each queued command (see ``pipeline_commands``):
    what a pipeline's span name, operation and sanitized statement depend on."""
    shape: list[tuple[Optional[str], int]] = []
    append = shape.append
    for entry in entries:
        if type(entry) is tuple and entry:  # Pipeline: (args, options), the common case inline
            args = entry[0]
            if type(args) is tuple and args and type(args[0]) is str:
                append((args[0], len(args)))
                continue
        args = command_args(entry)
        append((command_name(args), len(args)))
    return tuple(shape)


def _args_of(args: object) -> Sequence[Any]:
    return args if isinstance(args, (tuple, list)) else ()


def batch_operation_name(names: Sequence[Optional[str]]) -> str:
    """``db.operation.name`` of a pipeline: the command for one, ``BATCH SET`` when all are the
    same, else ``BATCH`` (the database conventions' rule for batches)."""
    if len(names) == 1:
        return names[0] or "BATCH"
    first = names[0] if names else None
    if first and all(name == first for name in names):
        return f"BATCH {first}"
    return "BATCH"


def pipeline_statement(
    names: Sequence[Optional[str]], arg_lists: Sequence[Sequence[Any]], sanitize: bool
) -> str:
    """``db.statement`` of a pipeline: one line per command (``names`` and ``arg_lists`` are
    parallel, from ``command_name`` / ``command_args``)."""
    parts: list[str] = []
    size = 0
    for name, args in zip(names, arg_lists):
        part = _one(name, args, sanitize)
        parts.append(part)
        size += len(part) + 1
        if size > STATEMENT_LIMIT:
            break
    return _cap("\n".join(parts))
