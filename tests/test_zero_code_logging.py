"""Log correlation as the getting-started guide documents it: the dice app under
``opentelemetry-instrument`` with ``OTEL_PYTHON_LOG_CORRELATION=true``, the guide's
``OTEL_PYTHON_LOG_FORMAT="%(msg)s [span_id=%(span_id)s]"`` and ``OTEL_PYTHON_LOG_LEVEL=debug``.

The app (``examples/dice/app.py``) calls ``logging.basicConfig(level=INFO)`` when it is
imported, after the agent instrumented everything, and logs one warning inside its ``roll``
span per request. The lines logging prints go to stderr; the log records the SDK exports go to
stdout with the spans (console exporters), where ``console_telemetry.py`` reads them.

With upstream, the guide's format fails on every record (``span_id`` is no record attribute):
logging prints ``--- Logging error ---`` instead of the line. Here ``%(span_id)s`` reads
``otelSpanID``: each line carries the id of the span it was logged in.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from console_telemetry import ConsoleTelemetry
from drive import DiceServer

from tests.support.agent import run_under_agent

pytestmark = pytest.mark.subprocess

BIN_DIR = Path(sys.executable).parent
GUIDE_FORMAT = "%(msg)s [span_id=%(span_id)s]"
FIELDS = {"otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName"}
PLAYERS = ("alice", "bob")


class Run:
    def __init__(self, telemetry: ConsoleTelemetry, stderr: str) -> None:
        self.telemetry = telemetry
        self.stderr = stderr

    def roll_span_id(self, player: str) -> str:
        """The id (16 hex, no ``0x``) of the roll span of ``player``'s request, from its
        exported log record."""
        records = [r for r in self.telemetry.logs if str(r.body).startswith(f"{player} is")]
        assert len(records) == 1, records
        roll = self.telemetry.span(records[0].span_id)
        assert roll is not None
        assert roll.name == "roll"
        return records[0].span_id.removeprefix("0x")


def run_dice(env: dict[str, str]) -> Run:
    with DiceServer(BIN_DIR, env) as server:
        for player in PLAYERS:
            assert server.get(f"/rolldice?player={player}")[0] == 200
        finished = server.stop()
    assert finished.returncode in (0, -2, 130), finished.stderr
    return Run(ConsoleTelemetry.parse(finished.stdout), finished.stderr)


@pytest.fixture(scope="module")
def guide_example() -> Run:
    """The guide's three variables, with its logs auto-instrumentation (the SDK's exporting
    handler is on the root logger before the app starts)."""
    return run_dice(
        {
            "OTEL_PYTHON_LOG_CORRELATION": "true",
            "OTEL_PYTHON_LOG_FORMAT": GUIDE_FORMAT,
            "OTEL_PYTHON_LOG_LEVEL": "debug",
        }
    )


@pytest.fixture(scope="module")
def default_format() -> Run:
    """Correlation alone, logs auto-instrumentation off: upstream's default format."""
    return run_dice(
        {
            "OTEL_PYTHON_LOG_CORRELATION": "true",
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "false",
        }
    )


class TestGuideExample:
    def test_each_line_carries_its_requests_span_id(self, guide_example: Run) -> None:
        """Each app line is printed in the guide's format (``%(msg)s`` is the unformatted
        message) with the id of the span it was logged in: the request's ``roll`` span, the
        same id as the exported log record's."""
        printed = re.findall(
            r"^%s is rolling the dice: %s \[span_id=([0-9a-f]{16})\]$",
            guide_example.stderr,
            re.M,
        )
        expected = [guide_example.roll_span_id(player) for player in PLAYERS]
        assert printed == expected
        assert len(set(printed)) == len(PLAYERS)

    def test_no_logging_error(self, guide_example: Run) -> None:
        """No record fails to format (upstream: ``KeyError: 'span_id'`` on every one)."""
        assert "--- Logging error ---" not in guide_example.stderr
        assert "KeyError" not in guide_example.stderr

    def test_exported_records_have_no_otel_fields(self, guide_example: Run) -> None:
        """The exported log records carry the trace context as their own ids, not as
        ``otelSpanID`` & co. attributes."""
        assert guide_example.telemetry.logs
        for record in guide_example.telemetry.logs:
            assert not FIELDS & set(record.attributes), record.attributes


class TestDefaultFormat:
    def test_upstreams_default_format_with_the_service_name(self, default_format: Run) -> None:
        """Correlation alone: upstream's default format, with the trace id, the span id, the
        service name and the sampled flag of the request's roll span."""
        spans = {span.span_id.removeprefix("0x"): span for span in default_format.telemetry.spans}
        for player in PLAYERS:
            found = re.search(
                r" WARNING \[app\] \[app\.py:\d+\] \[trace_id=([0-9a-f]{32})"
                r" span_id=([0-9a-f]{16}) resource\.service\.name=dice-server"
                rf" trace_sampled=True\] - {player} is rolling the dice: [1-6]$",
                default_format.stderr,
                re.M,
            )
            assert found is not None, default_format.stderr
            trace_id, span_id = found.groups()
            assert spans[span_id].name == "roll"
            assert spans[span_id].trace_id == "0x" + trace_id


def test_level_holds_when_the_app_configures_logging_after_start_up() -> None:
    """``OTEL_PYTHON_LOG_LEVEL=debug``: the app's own ``basicConfig(level=WARNING)`` after
    start-up does not hide its debug lines, and they carry the format."""
    code = (
        "import logging\n"
        "logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(message)s')\n"
        "logging.getLogger('app').debug('fine detail')\n"
    )
    result = run_under_agent(
        code,
        OTEL_PYTHON_LOG_CORRELATION="true",
        OTEL_PYTHON_LOG_FORMAT="%(levelname)s %(message)s [span_id=%(span_id)s]",
        OTEL_PYTHON_LOG_LEVEL="debug",
    )
    assert result.returncode == 0, result.stderr
    # The agent's own debug lines ("DEBUG Instrumented flask [span_id=0]", ...) come first.
    lines = result.stderr.splitlines()
    assert lines[-1] == "DEBUG fine detail [span_id=0]"
    assert "DEBUG Instrumented logging [span_id=0]" in lines
    assert "Logging error" not in result.stderr
