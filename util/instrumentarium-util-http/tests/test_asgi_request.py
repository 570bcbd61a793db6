"""``AsgiRequest``, ``asgi_getter``, ``asgi_setter``: an ASGI scope as the server core reads it."""

from __future__ import annotations

from typing import Any

from instrumentarium.util.http import AsgiRequest, asgi_getter, asgi_setter


def scope(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "http_version": "2",
        "path": "/users/7",
        "query_string": b"q=1",
        "headers": [
            (b"host", b"example.com"),
            (b"user-agent", b"curl/8"),
            (b"content-length", b"12"),
            (b"traceparent", b"a"),
            (b"Traceparent", b"b"),
        ],
        "server": ("10.0.0.1", 8443),
        "client": ("10.0.0.9", 5000),
    }
    base.update(extra)
    return base


class TestAsgiRequest:
    def test_slots_follow_upstreams_asgi_attributes(self) -> None:
        """The host is the server's address with its port (not 80), the server name the Host
        header, the target the path; the query, peer and request size are kept."""
        request = AsgiRequest(scope())
        assert request.host == "10.0.0.1:8443"
        assert request.server_name == "example.com"
        assert request.server_port == 8443
        assert request.target == request.path == "/users/7"
        assert request.query == "q=1"
        assert (request.peer_address, request.peer_port) == ("10.0.0.9", 5000)
        assert request.content_length == 12
        assert request.url() == "https://example.com/users/7"
        assert request.full_url() == "https://example.com/users/7?q=1"

    def test_websocket_and_missing_server(self) -> None:
        """A websocket has no method and no protocol version; no ``server`` gives upstream's
        ``0.0.0.0``; a bad ``Content-Length`` is no size."""
        request = AsgiRequest(
            scope(type="websocket", scheme="ws", server=None, headers=[(b"content-length", b"x")])
        )
        assert request.method == ""
        assert request.protocol is None
        assert request.host == "0.0.0.0"
        assert request.content_length is None
        assert request.url() == "ws://0.0.0.0/users/7"

    def test_headers_server_and_client_given_as_iterators_are_read_and_left_readable(
        self,
    ) -> None:
        """The spec allows any iterable for ``headers``, ``server`` and ``client`` (Falcon's
        test client passes iterators): all are read, and the scope keeps them as lists, so the
        app that reads them after us still finds every item."""
        headers = [(b"host", b"example.com"), (b"traceparent", b"a")]
        given = scope(
            server=iter(["10.0.0.1", 8443]),
            client=iter(["10.0.0.9", 5000]),
            headers=iter([iter(pair) for pair in headers]),
        )
        request = AsgiRequest(given)
        assert request.host == "10.0.0.1:8443"
        assert request.server_name == "example.com"
        assert (request.peer_address, request.peer_port) == ("10.0.0.9", 5000)
        assert given["server"] == ["10.0.0.1", 8443]
        assert given["client"] == ["10.0.0.9", 5000]
        assert given["headers"] == [list(pair) for pair in headers]
        assert asgi_getter.get(given, "traceparent") == ["a"]


class TestGetterSetter:
    def test_getter_is_case_insensitive_and_returns_every_value(self) -> None:
        """Every value of a header, whatever the case of its name; None when absent."""
        assert asgi_getter.get(scope(), "TraceParent") == ["a", "b"]
        assert asgi_getter.get(scope(), "baggage") is None
        assert "user-agent" in asgi_getter.keys(scope())

    def test_setter_appends_lower_cased_pairs(self) -> None:
        """The setter adds ``[name, value]`` to the message's headers, making the list when
        there is none, never mutating a tuple in place."""
        message: dict[str, Any] = {"type": "http.response.start"}
        asgi_setter.set(message, "TraceResponse", "00-x")
        assert message["headers"] == [[b"traceresponse", b"00-x"]]
        frozen = ((b"a", b"1"),)
        message = {"headers": frozen}
        asgi_setter.set(message, "b", "2")
        assert message["headers"] == [(b"a", b"1"), [b"b", b"2"]]
        assert frozen == ((b"a", b"1"),)
