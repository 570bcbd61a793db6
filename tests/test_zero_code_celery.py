"""Zero-code Celery, both sides: a Celery app with no OpenTelemetry code, its worker run as
``opentelemetry-instrument celery -A app worker`` (the prefork pool, Celery's default) and a
producer run as ``opentelemetry-instrument python -c ...``, both with the console exporters.
The broker is the Redis server of ``scripts/services`` (``tests/support/services.py``), on a
queue of this run's own. The producer sends its tasks and exits; the worker is stopped with
SIGTERM (a warm shutdown: its pool child exits and flushes); each stdout is parsed with the dice
example's ``console_telemetry.py``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from console_telemetry import ConsoleTelemetry, Span

from tests.support.agent import BIN, clean_environ
from tests.support.services import REDIS_URL, listens

pytestmark = pytest.mark.subprocess

APP = textwrap.dedent(
    """
    import os

    from celery import Celery

    app = Celery("zero_code", broker=os.environ["DEMO_BROKER"])
    app.conf.update(
        task_default_queue=os.environ["DEMO_QUEUE"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )


    @app.task(name="zc.add", ignore_result=True)
    def add(x, y):
        return x + y


    @app.task(name="zc.fail", ignore_result=True)
    def fail():
        raise ValueError("bad order")
    """
)

PRODUCER = textwrap.dedent(
    """
    import app

    app.add.delay(20, 22)
    app.fail.apply_async()
    app.app.send_task("zc.add", (1, 2))
    print("sent 3", flush=True)
    """
)


@dataclass(frozen=True)
class Sides:
    producer: ConsoleTelemetry
    worker: ConsoleTelemetry

    def send_and_run(self, task: str) -> list[tuple[Span, Span]]:
        """Each ``apply_async/<task>`` span of the producer with the worker's ``run/<task>``
        span of the same message (``messaging.message.id``)."""
        runs = {
            s.attributes["messaging.message.id"]: s for s in self.worker.spans_named(f"run/{task}")
        }
        return [
            (send, runs[send.attributes["messaging.message.id"]])
            for send in self.producer.spans_named(f"apply_async/{task}")
        ]


def _wait_for(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} from the worker:\n{path.read_text()[-3000:]}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (Celery's warm shutdown), SIGKILL when it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _forget_queue(queue: str) -> None:
    """The run's queue (empty by now) and kombu's bindings of it, off the shared server."""
    import redis

    store = redis.Redis.from_url(REDIS_URL)
    try:
        store.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    finally:
        store.close()


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Sides:
    address = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    if not listens(address):
        pytest.skip(f"no Redis server at {address}: `scripts/services start redis`")
    work = tmp_path_factory.mktemp("zero-code-celery")
    (work / "app.py").write_text(APP)
    console = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_LOGS_EXPORTER": "none",
        "DEMO_BROKER": REDIS_URL,
        "DEMO_QUEUE": f"zero-code-celery-{uuid.uuid4().hex[:12]}",
        "PYTHONPATH": str(work),
    }
    log, out = work / "worker.log", work / "worker.out"
    with log.open("w") as stderr, out.open("w") as stdout:
        worker = subprocess.Popen(
            [
                str(BIN / "opentelemetry-instrument"),
                str(BIN / "celery"),
                "-A",
                "app",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--hostname",
                f"zero-code-{uuid.uuid4().hex[:6]}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            stdout=stdout,
            stderr=stderr,
            env=clean_environ(OTEL_SERVICE_NAME="worker", **console),
            cwd=work,
        )
    try:
        _wait_for(log, " ready.", worker, timeout=60)
        producer = subprocess.run(
            [str(BIN / "opentelemetry-instrument"), sys.executable, "-c", PRODUCER],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=clean_environ(OTEL_SERVICE_NAME="producer", **console),
            cwd=work,
        )
        assert producer.returncode == 0, producer.stderr
        # The worker logs each task twice, received and its outcome: all three ran.
        deadline = time.monotonic() + 30
        while log.read_text(errors="replace").count(" Task zc.") < 3 * 2:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        code = _stop(worker)
        _forget_queue(console["DEMO_QUEUE"])
    assert code == 0, log.read_text()[-3000:]
    parsed = ConsoleTelemetry.parse(producer.stdout)
    assert "sent 3" in parsed.text_lines, parsed.text_lines
    return Sides(parsed, ConsoleTelemetry.parse(out.read_text()))


def test_each_send_is_a_producer_span(sides: Sides) -> None:
    """``delay``, ``apply_async`` and ``send_task`` (by name) each give one PRODUCER span
    ``apply_async/<task>`` with upstream's attributes; each is a root in the producer."""
    sends = sorted(
        (s.name, s.kind, s.parent_id) for s in sides.producer.spans if s.name.startswith("apply")
    )
    assert sends == [
        ("apply_async/zc.add", "PRODUCER", None),
        ("apply_async/zc.add", "PRODUCER", None),
        ("apply_async/zc.fail", "PRODUCER", None),
    ]
    for span in sides.producer.spans_named("apply_async/zc.add"):
        assert span.attributes["celery.action"] == "apply_async"
        assert span.attributes["celery.task_name"] == "zc.add"
        assert span.attributes["messaging.destination_kind"] == "queue"


def test_the_workers_run_is_the_child_of_the_send(sides: Sides) -> None:
    """Each message sent has exactly one CONSUMER span ``run/<task>`` in the worker (its pool
    child), in the producer's trace and with the send span as its parent: the context crossed
    the broker in the message headers, with no code on either side."""
    pairs = sides.send_and_run("zc.add") + sides.send_and_run("zc.fail")
    assert len(pairs) == 3
    for send, run in pairs:
        assert run.kind == "CONSUMER"
        assert run.trace_id == send.trace_id
        assert run.parent_id == send.span_id
    runs = [s for s in sides.worker.spans if s.name.startswith("run/")]
    assert len(runs) == 3, "a task ran twice or an extra run span was exported"


def test_run_outcomes(sides: Sides) -> None:
    """A task that returns is ``celery.state`` SUCCESS and unset status; a task that raises is
    FAILURE and ERROR, with one exception event."""
    for _, run in sides.send_and_run("zc.add"):
        assert run.attributes["celery.state"] == "SUCCESS"
        assert run.status_code == "UNSET"
    ((_, failed),) = sides.send_and_run("zc.fail")
    assert failed.attributes["celery.state"] == "FAILURE"
    assert failed.status_code == "ERROR"
    assert [e["name"] for e in failed.raw["events"]] == ["exception"]
    assert failed.raw["events"][0]["attributes"]["exception.type"] == "ValueError"


def test_messaging_metrics_of_both_sides(sides: Sides) -> None:
    """The producer exported the messages it sent, the worker those it consumed (its pool
    child flushed its metrics before exiting), under the instrumentarium scope."""
    sent = sides.producer.metric("messaging.client.sent.messages")
    consumed = sides.worker.metric("messaging.client.consumed.messages")
    assert sent is not None
    assert consumed is not None
    assert sent.scope == consumed.scope == "instrumentarium.celery"
    assert sum(p["value"] for p in sent.data_points) == 3
    assert sum(p["value"] for p in consumed.data_points) == 3
