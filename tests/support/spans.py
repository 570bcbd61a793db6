"""Small helpers the HTTP client tests share."""

from __future__ import annotations

from typing import Any, Callable


def raised(call: Callable[[], object]) -> BaseException:
    """The exception ``call()`` raises (an AssertionError when it raises nothing)."""
    try:
        call()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def traceparent(span: Any) -> str:
    """The W3C ``traceparent`` header that carries ``span``'s context."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
