"""``split_host_port``: one reading of ``host[:port]`` for every library."""

from __future__ import annotations

import ipaddress
from typing import Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instrumentarium.util.net import DEFAULT_PORTS, default_port, split_host_port


class TestSplitHostPort:
    @pytest.mark.parametrize(
        ("text", "default", "expected"),
        [
            ("example.com", None, ("example.com", None)),
            ("example.com:8080", None, ("example.com", 8080)),
            ("Example.COM:8080", None, ("Example.COM", 8080)),
            ("example.com", 443, ("example.com", 443)),
            ("example.com:", 80, ("example.com", 80)),
            ("example.com:http", None, ("example.com:http", None)),
            ("[::1]:50051", None, ("::1", 50051)),
            ("[::1]", 9092, ("::1", 9092)),
            ("[::1]:", None, ("::1", None)),
            ("::1", None, ("::1", None)),
            ("fe80::1:8080", 1, ("fe80::1:8080", 1)),
            ("", None, ("", None)),
            (":9092", None, ("", 9092)),
            ("host:\u00b2", None, ("host:\u00b2", None)),
            (b"example.com:81", None, ("example.com", 81)),
        ],
    )
    def test_cases(self, text: str, default: Optional[int], expected: object) -> None:
        """Brackets removed, a non-numeric or empty port is no port, bare IPv6 is not split."""
        assert split_host_port(text, default) == expected

    @given(
        host=st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}", fullmatch=True),
        port=st.integers(0, 65535),
    )
    def test_round_trip_names(self, host: str, port: int) -> None:
        """``host:port`` always splits back into its parts, str or bytes."""
        assert split_host_port(f"{host}:{port}") == (host, port)
        assert split_host_port(f"{host}:{port}".encode()) == (host, port)

    @given(address=st.ip_addresses(v=6), port=st.integers(0, 65535))
    def test_round_trip_ipv6(self, address: ipaddress.IPv6Address, port: int) -> None:
        """A bracketed IPv6 address splits back; a bare one is the host, whole."""
        assert split_host_port(f"[{address}]:{port}") == (str(address), port)
        assert split_host_port(str(address), 7) == (str(address), 7)

    @given(st.one_of(st.text(max_size=40), st.binary(max_size=40)))
    def test_never_raises(self, text: object) -> None:
        """Any text or bytes gives a (str, int-or-None) pair."""
        host, port = split_host_port(text, None)  # type: ignore[arg-type]
        assert isinstance(host, str)
        assert port is None or (isinstance(port, int) and port >= 0)


def test_default_ports() -> None:
    """The schemes' own ports, as integers; unknown schemes have none."""
    assert DEFAULT_PORTS["http"] == 80
    assert DEFAULT_PORTS["https"] == 443
    assert default_port("https") == 443
    assert default_port("ftp") is None
    assert default_port(None) is None
