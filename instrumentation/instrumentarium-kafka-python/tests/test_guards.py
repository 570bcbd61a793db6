"""Instrumentation never breaks the application: a failure in our own start or finish step of a
send, or in the receive spans, is logged once (WARNING, then DEBUG) and the call goes on."""

from __future__ import annotations

import logging

import pytest

from instrumentarium.kafka import _telemetry
from instrumentarium.kafka._patches import ACTIVE


class _Broken:
    """Stands for the tracer or the duration histograms: every use raises."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"broken {name}")


def _levels(caplog: pytest.LogCaptureFixture, what: str) -> list[int]:
    return [
        r.levelno for r in caplog.records if r.name == "instrumentarium" and what in r.getMessage()
    ]


@pytest.fixture
def broken(instrument, monkeypatch, caplog):
    """``broken(attribute)``: instrument(), then make that attribute of the telemetry in force
    (``tracer`` or ``duration``) raise on use."""

    def make(attribute: str) -> None:
        instrument()
        telemetry = ACTIVE.global_
        assert telemetry is not None
        monkeypatch.setattr(telemetry, attribute, _Broken())
        for site in (_telemetry._SEND_BEGIN, _telemetry._SEND_END, _telemetry._RECEIVE):
            monkeypatch.setattr(site, "failed", False)
        caplog.set_level(logging.DEBUG, logger="instrumentarium")

    return make


class TestGuards:
    def test_failing_start_sends_plain(self, broken, producer, topic, caplog):
        """A send span that cannot start: the record is sent untraced and its future resolves;
        the failure is logged at WARNING once, then at DEBUG."""
        broken("tracer")
        first = producer.send(topic, b"one").get(timeout=20)
        second = producer.send(topic, b"two").get(timeout=20)

        assert (first.topic, second.topic) == (topic, topic)
        assert _levels(caplog, "starting the kafka send span") == [logging.WARNING, logging.DEBUG]

    def test_failing_finish_keeps_the_future_and_ends_the_span(
        self, broken, producer, topic, span_exporter, caplog
    ):
        """A finish step that raises: the caller gets send()'s future, the span still ends, and
        the failure is logged once at WARNING."""
        broken("duration")
        assert producer.send(topic, b"one").get(timeout=20).topic == topic
        assert producer.send(topic, b"two").get(timeout=20).topic == topic

        assert [s.name for s in span_exporter.get_finished_spans()] == [f"{topic} send"] * 2
        assert _levels(caplog, "ending the kafka send span") == [logging.WARNING, logging.DEBUG]

    def test_failing_receive_step_still_hands_out_the_records(
        self, broken, producer, topic, make_consumer, take, caplog
    ):
        """With the receive telemetry failing, iteration and poll() still return every record."""
        for value in (b"a", b"b", b"c"):
            producer.send(topic, value)
        producer.flush(timeout=20)
        broken("tracer")

        records = take(make_consumer(topic), 3)

        assert sorted(r.value for r in records) == [b"a", b"b", b"c"]
        levels = _levels(caplog, "recording kafka receive spans")
        assert levels[0] == logging.WARNING
        assert set(levels[1:]) <= {logging.DEBUG}
