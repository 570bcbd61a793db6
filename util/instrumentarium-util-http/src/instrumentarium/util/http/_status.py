"""Status rules and small request facts shared by servers and clients."""

from __future__ import annotations

from typing import Final, Optional

__all__ = [
    "server_status_is_error",
    "client_status_is_error",
    "parse_status_line",
    "synthetic_user_agent_type",
    "protocol_version",
]


def server_status_is_error(code: int) -> bool:
    """A server span is ERROR for 5xx (and for nonsense below 100); 4xx is the caller's fault."""
    return code >= 500 or code < 100


def client_status_is_error(code: int) -> bool:
    """A client span is ERROR for 4xx and 5xx (and for nonsense below 100)."""
    return code >= 400 or code < 100


def parse_status_line(status: str) -> int:
    """The integer code of a WSGI status line (``"404 Not Found"``), or -1 when there is none."""
    code, _, _ = status.partition(" ")
    try:
        return int(code)
    except ValueError:
        return -1


_TEST_MARKERS: Final = ("alwayson",)
_BOT_MARKERS: Final = ("googlebot", "bingbot")


def synthetic_user_agent_type(user_agent: Optional[str]) -> Optional[str]:
    """``"test"`` or ``"bot"`` for known synthetic clients (``user_agent.synthetic.type``)."""
    if not user_agent:
        return None
    lowered = user_agent.lower()
    if any(marker in lowered for marker in _TEST_MARKERS):
        return "test"
    if any(marker in lowered for marker in _BOT_MARKERS):
        return "bot"
    return None


def protocol_version(server_protocol: Optional[str]) -> Optional[str]:
    """``"1.1"`` from ``"HTTP/1.1"``; None when absent."""
    if not server_protocol:
        return None
    if server_protocol.startswith(("HTTP/", "http/")):
        return server_protocol[5:]
    return server_protocol
