"""Real worker processes: a prefork pool set up per child and recycling its children, and a
prefork pool under the zero-code agent, with the sender under the agent too. (The solo pool:
``test_solo_pool.py``.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celery_app
import pytest
from celery_testing import TIMEOUT, spans_named
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.agent import BIN, clean_environ

HERE = Path(__file__).resolve().parent
TASKS = 6  # sent to the recycling prefork pool: one child per task


class Worker:
    """A ``celery worker`` subprocess on its own queue; its spans in ``spans_file``."""

    def __init__(self, tmp: Path, name: str, *args: str, agent: bool = False, **env: str) -> None:
        self.queue = f"instrumentarium-celery-{name}-{uuid.uuid4().hex[:8]}"
        self.spans_file = tmp / f"{name}.spans"
        self.log = tmp / f"{name}.log"
        self.stdout = tmp / f"{name}.out"
        command = [
            str(BIN / "celery"),
            "-A",
            "worker_app",
            "worker",
            "-Q",
            self.queue,
            "-n",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *args,
        ]
        if agent:
            command.insert(0, str(BIN / "opentelemetry-instrument"))
        environ = clean_environ(
            PYTHONPATH=str(HERE),
            CELERY_TEST_SPANS=str(self.spans_file),
            INSTRUMENTARIUM_REDIS_URL=celery_app.BROKER,
            **env,
        )
        with self.log.open("w") as log, self.stdout.open("w") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=log, env=environ, cwd=HERE)
        deadline = time.monotonic() + 30
        while " ready." not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the worker did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM): the worker finishes, its processes exit and flush."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def spans(self) -> list[dict[str, Any]]:
        if not self.spans_file.exists():
            return []
        return [json.loads(line) for line in self.spans_file.read_text().splitlines() if line]

    def wait_for_runs(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            runs = [s for s in self.spans() if s["name"].startswith("run/")]
            if len(runs) >= count or time.monotonic() > deadline:
                return runs
            time.sleep(0.05)


@pytest.fixture(scope="module")
def prefork(tmp_path_factory: pytest.TempPathFactory, broker: str) -> Iterator[Worker]:
    """Two children, each replaced after one task; the SDK set up in each child; spans leave
    a child only when something flushes them (a one-minute export delay)."""
    worker = Worker(
        tmp_path_factory.mktemp("prefork"),
        "prefork",
        "-P",
        "prefork",
        "-c",
        "2",
        "--max-tasks-per-child",
        "1",
        CELERY_TEST_TELEMETRY="per-child",
        CELERY_TEST_EXPORT_DELAY_MS="60000",
    )
    yield worker
    worker.stop()


def hex_id(value: int) -> str:
    return f"0x{value:016x}"


def check_runs(sends: list[Any], runs: list[dict[str, Any]]) -> None:
    """Every send has exactly one run, whose parent is that send."""
    by_id = {s.attributes["messaging.message.id"]: s for s in sends}
    seen = [run["attributes"]["messaging.message.id"] for run in runs]
    assert sorted(seen) == sorted(by_id), "a run is missing or ran twice"
    for run in runs:
        send = by_id[run["attributes"]["messaging.message.id"]]
        assert run["kind"] == "SpanKind.CONSUMER"
        assert run["parent_id"] == hex_id(send.context.span_id)
        assert run["context"]["trace_id"] == f"0x{send.context.trace_id:032x}"


class TestPrefork:
    def test_recycled_children_lose_no_span(
        self, prefork: Worker, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``--max-tasks-per-child 1``: every child exits after one task; each flushes its span
        first, so N tasks sent give N run spans, each the child of its send span."""
        instrument()
        results = [celery_app.add.apply_async((i, i), queue=prefork.queue) for i in range(TASKS)]
        assert [r.get(timeout=TIMEOUT) for r in results] == [2 * i for i in range(TASKS)]
        runs = prefork.wait_for_runs(TASKS)
        check_runs(spans_named(span_exporter, "apply_async/t.add"), runs)
        assert all(run["attributes"]["celery.state"] == "SUCCESS" for run in runs)


def console_spans(text: str) -> list[dict[str, Any]]:
    """The span objects the console exporter printed (pretty JSON, one after another), among
    other output."""
    decoder = json.JSONDecoder()
    spans, at = [], 0
    while True:
        at = text.find("{", at)
        if at < 0:
            return spans
        try:
            found, end = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        if isinstance(found, dict) and "context" in found and "name" in found:
            spans.append(found)
        at = end


def test_zero_code_both_sides(tmp_path: Path, broker: str) -> None:
    """``opentelemetry-instrument celery -A app worker`` (prefork) and
    ``opentelemetry-instrument python sender.py``: one trace, with no code."""
    console = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    worker = Worker(tmp_path, "agent", "-P", "prefork", "-c", "1", agent=True, **console)
    try:
        code = (
            "import celery_app\n"
            f"result = celery_app.add.apply_async((20, 22), queue={worker.queue!r})\n"
            f"print('result', result.get(timeout={TIMEOUT}))\n"
        )
        sender = subprocess.run(
            [str(BIN / "opentelemetry-instrument"), sys.executable, "-c", code],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=HERE,
            env=clean_environ(
                PYTHONPATH=str(HERE), INSTRUMENTARIUM_REDIS_URL=celery_app.BROKER, **console
            ),
        )
        assert "result 42" in sender.stdout, sender.stderr
    finally:
        worker.stop()
    (send,) = [s for s in console_spans(sender.stdout) if s["name"] == "apply_async/t.add"]
    runs = [s for s in console_spans(worker.stdout.read_text()) if s["name"] == "run/t.add"]
    assert len(runs) == 1, worker.log.read_text()[-3000:]
    assert runs[0]["parent_id"] == send["context"]["span_id"]
    assert runs[0]["context"]["trace_id"] == send["context"]["trace_id"]
