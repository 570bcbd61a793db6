"""Network addresses: ``host[:port]`` text split into its parts, the same way for every library.

``split_host_port`` reads an HTTP ``Host`` header or URL authority, a gRPC target, a Kafka
bootstrap server or a Redis address::

    split_host_port("example.com:8080")      -> ("example.com", 8080)
    split_host_port("[::1]:50051")           -> ("::1", 50051)      brackets removed
    split_host_port("::1")                   -> ("::1", None)       a bare IPv6 address has no port
    split_host_port("example.com", 443)      -> ("example.com", 443)  the default fills a gap
    split_host_port("example.com:")          -> ("example.com", None) an empty port is no port
    split_host_port("example.com:http")      -> ("example.com:http", None) not a port: kept whole

Names are returned as written: a caller that needs a canonical form (a client's
``server.address``) lowercases it itself. ``DEFAULT_PORTS`` maps a URL scheme to its port.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Optional, Union

__all__ = ["DEFAULT_PORTS", "split_host_port", "default_port"]

DEFAULT_PORTS: Final[Mapping[str, int]] = MappingProxyType(
    {"http": 80, "https": 443, "ws": 80, "wss": 443}
)


def default_port(scheme: Optional[str]) -> Optional[int]:
    """The port a URL with ``scheme`` uses when it names none (None for an unknown scheme)."""
    return DEFAULT_PORTS.get(scheme) if scheme else None


def split_host_port(
    text: Union[str, bytes], default_port: Optional[int] = None
) -> tuple[str, Optional[int]]:
    """``(host, port)`` from ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``.

    The port is ``default_port`` when the text has none or an empty one. A part after the last
    colon that is not made of digits is not a port: the text is the host, whole. Bytes are read
    as Latin-1, as HTTP header bytes are. Never raises.
    """
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if text.startswith("["):
        end = text.find("]")
        if end != -1:
            rest = text[end + 1 :]
            port = _port(rest[1:]) if rest.startswith(":") else None
            return text[1:end], default_port if port is None else port
    if text.count(":") != 1:
        return text, default_port  # no port, or a bare IPv6 address
    host, _, port_text = text.partition(":")
    if not port_text:
        return host, default_port
    number = _port(port_text)
    if number is not None:
        return host, number
    return text, default_port


def _port(text: str) -> Optional[int]:
    return int(text) if text.isdigit() and text.isascii() else None
