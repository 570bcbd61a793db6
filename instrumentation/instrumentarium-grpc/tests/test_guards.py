"""Instrumentation never breaks the application: a failure in our own start or finish step of a
client or server span is logged once (WARNING, then DEBUG) and the call goes on."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from instrumentarium.grpc import _client, _server, _telemetry
from instrumentarium.grpc._patches import CLIENT, SERVER


class _Broken:
    """Stands for a tracer or the duration histograms: every use raises."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"broken {name}")


def _levels(caplog: pytest.LogCaptureFixture, what: str) -> list[int]:
    return [r.levelno for r in caplog.records if r.name == "instrumentarium" and what in r.message]


@pytest.fixture
def broken(sync_rpc: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    """``broken(attribute)``: the stubs of ``sync_rpc``, with that attribute (``tracer`` or
    ``duration``) of the client's and the server's telemetry raising on use."""

    def make(attribute: str) -> Any:
        for holder in (CLIENT, SERVER):
            assert holder.global_ is not None
            monkeypatch.setattr(holder.global_, attribute, _Broken())
        for site in (_client._BEGIN, _server._BEGIN, _telemetry._END):
            monkeypatch.setattr(site, "failed", False)
        caplog.set_level(logging.DEBUG, logger="instrumentarium")
        return sync_rpc

    return make


class TestGuards:
    def test_failing_starts_make_plain_calls(self, broken: Any, caplog: Any) -> None:
        """Spans that cannot start on either side: the calls go through untraced and return
        their responses; each site logs its failure at WARNING once, then at DEBUG."""
        stubs = broken("tracer")
        assert stubs.unary(b"one") == b"echo:one"
        assert stubs.unary(b"two") == b"echo:two"

        assert _levels(caplog, "grpc client span") == [logging.WARNING, logging.DEBUG]
        assert _levels(caplog, "grpc server span") == [logging.WARNING, logging.DEBUG]

    def test_failing_finish_keeps_the_response_and_ends_the_spans(
        self, broken: Any, span_exporter: Any, caplog: Any
    ) -> None:
        """A finish step that raises: the caller gets its response and both spans still end;
        the failure is logged once at WARNING, then at DEBUG."""
        stubs = broken("duration")
        assert stubs.unary(b"one") == b"echo:one"
        assert list(stubs.server_stream(b"count:2")) == [b"0", b"1"]

        assert len(span_exporter.get_finished_spans()) == 4
        levels = _levels(caplog, "ending the grpc span")
        assert levels[0] == logging.WARNING
        assert set(levels[1:]) == {logging.DEBUG}

    def test_errors_of_the_call_still_propagate(self, broken: Any) -> None:
        """With our steps failing, the call's own error reaches the caller unchanged."""
        stubs = broken("duration")
        with pytest.raises(grpc.RpcError) as raised:
            stubs.unary(b"abort:NOT_FOUND")
        assert raised.value.code() is grpc.StatusCode.NOT_FOUND
