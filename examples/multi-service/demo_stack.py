"""Starting and stopping the whole demo: a Collector of its own, then the six services.

    Stack(settings)                      the context manager the demo and the e2e test use
      ├─ Collector                       collector/config.yaml on two free loopback ports,
      │                                  writing OTLP JSON lines into <work_dir>/collector/
      ├─ inventory   (gRPC server)       opentelemetry-instrument python inventory.py
      ├─ fulfilment  (Kafka consumer)    opentelemetry-instrument python fulfilment.py
      ├─ notifier    (Celery worker)     opentelemetry-instrument celery -A notifier worker
      ├─ orders      (Django)            opentelemetry-instrument python orders_app.py
      ├─ gateway     (FastAPI, uvicorn)  opentelemetry-instrument python gateway.py
      └─ frontend    (Flask)             opentelemetry-instrument python frontend.py

Each service binds port 0 and prints ``READY port=N``; the next one is started with that
address. ``Stack.checkout()`` sends one request through the front end; ``Stack.stop()`` waits
for the consumer to fulfil every order and the notifier to confirm it, ends the services with
SIGTERM (the SDK flushes on exit; the Celery worker's warm shutdown ends its pool child, which
flushes too), then the Collector (which flushes its batch and its files), and returns what the
Collector wrote. Redis keys, the Kafka topic and the Celery queue are unique to the run.

The orders service and the notifier run with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=redis``:
Celery's Redis transport talks to the broker through redis-py, and the worker polls, acknowledges
and restores messages outside any task, so with the Redis instrumentor on, every one of those
calls would be a trace of its own. The tasks' own spans come from the Celery instrumentor.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Optional

from otlp_json import Telemetry

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# The addresses of the servers scripts/services runs, and where it builds the Collector: one
# module, shared with the tests and the benchmarks (appended: it never shadows an installed module).
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))
from tests.support.services import (  # noqa: E402
    KAFKA_BOOTSTRAP,
    REDIS_URL,
    collector_binary,
    free_port,
)

COLLECTOR_CONFIG = REPO / "collector" / "config.yaml"

SERVICE_NAMES = ("frontend", "gateway", "orders", "inventory", "fulfilment", "notifier")
# The broker's own Redis commands are not traced in the processes that speak to it through Celery.
_NO_BROKER_SPANS = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "redis"}


def _inventory_protocol() -> str:
    """OTLP/gRPC for the inventory service when its exporter is installed (so the Collector's
    gRPC receiver is used too), else OTLP/HTTP. The gRPC exporter needs a grpcio newer than the
    oldest one instrumentarium-grpc supports, so the oldest test environments go without it."""
    return (
        "grpc"
        if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc")
        else "http/protobuf"
    )


class StackError(RuntimeError):
    """A part of the demo did not start, answer or stop as it should."""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Settings:
    work_dir: Path
    bin_dir: Path  # where python and opentelemetry-instrument are
    semconv_opt_in: Optional[str] = None
    redis_url: str = REDIS_URL
    kafka_bootstrap: str = KAFKA_BOOTSTRAP
    collector_bin: Path = field(default_factory=collector_binary)
    # Generous: a fresh virtualenv compiles every module on first import, on a busy machine.
    start_timeout: float = 120.0


class Process:
    """One child process, its output in ``<work_dir>/<name>.log``."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=HERE,
        )

    def wait_for(self, marker: str, deadline: float) -> str:
        """The first log line containing ``marker``; StackError if the process exits first."""
        while True:
            for line in self.log.read_text(errors="replace").splitlines():
                if marker in line:
                    return line
            if self.popen.poll() is not None:
                raise StackError(
                    f"{self.name} exited with status {self.popen.returncode} before it was"
                    f" ready; its log ({self.log}):\n{_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                if self.name != "collector":
                    # service_common registers faulthandler on SIGUSR1: the stacks go to the log.
                    self.popen.send_signal(signal.SIGUSR1)
                    time.sleep(0.5)
                raise StackError(f"{self.name} not ready in time; its log:\n{_tail(self.log, 120)}")
            time.sleep(0.05)

    def wait_ready(self, deadline: float) -> int:
        line = self.wait_for("READY port=", deadline)
        return int(line.rsplit("=", 1)[1])

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait; SIGKILL if it does not end in time. Returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()
        return self.popen.returncode


class Collector:
    """Our ocb-built Collector with collector/config.yaml, on two free loopback ports."""

    def __init__(self, binary: Path, work_dir: Path) -> None:
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise StackError(
                f"no Collector binary at {binary}; build it with `scripts/services start"
                " collector` (or set INSTRUMENTARIUM_COLLECTOR_BIN)"
            )
        self.binary = binary
        self.output_dir = work_dir / "collector"
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.grpc_port = free_port()
        self.http_port = free_port()
        env = {
            **_base_env(),
            "INSTRUMENTARIUM_COLLECTOR_HOST": "127.0.0.1",
            "INSTRUMENTARIUM_COLLECTOR_GRPC_PORT": str(self.grpc_port),
            "INSTRUMENTARIUM_COLLECTOR_HTTP_PORT": str(self.http_port),
            "INSTRUMENTARIUM_COLLECTOR_OUTPUT_DIR": str(self.output_dir),
        }
        self.process = Process(
            "collector",
            [str(binary), "--config", str(COLLECTOR_CONFIG)],
            env,
            work_dir / "collector.log",
        )

    def wait_ready(self, deadline: float) -> None:
        self.process.wait_for("Everything is ready", deadline)

    def telemetry(self) -> Telemetry:
        return Telemetry.load(self.output_dir)


def _base_env() -> dict[str, str]:
    """The caller's environment without its OpenTelemetry settings (ours replace them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class Order:
    order_id: str
    status: int
    answer: Mapping[str, Any]


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_id = uuid.uuid4().hex[:12]
        self.key_prefix = f"demo:{self.run_id}:"
        self.topic = f"demo-orders-{self.run_id}"
        self.queue = f"demo-notifier-{self.run_id}"
        self.collector: Optional[Collector] = None
        self.services: dict[str, Process] = {}
        self.frontend_url = ""
        self.orders: list[Order] = []
        self.exit_codes: dict[str, int] = {}
        self._telemetry: Optional[Telemetry] = None

    # -- start -------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._shutdown()

    def start(self) -> None:
        settings = self.settings
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + settings.start_timeout
        self.collector = Collector(settings.collector_bin, settings.work_dir)
        self._create_topic()
        self.collector.wait_ready(deadline)
        inventory = self._launch("inventory", "inventory.py", protocol=_inventory_protocol())
        fulfilment = self._launch("fulfilment", "fulfilment.py")
        notifier = self._launch(
            "notifier",
            "celery",
            "-A",
            "notifier",
            "worker",
            "--pool",
            "prefork",  # Celery's default: the task runs in a forked pool child
            "--concurrency",
            "1",
            "--hostname",
            f"notifier-{self.run_id}@%h",
            "--loglevel",
            "INFO",
            # No broadcast traffic with other workers: this one has its own queue.
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            **_NO_BROKER_SPANS,
        )
        inventory_port = inventory.wait_ready(deadline)
        orders = self._launch(
            "orders",
            "orders_app.py",
            DEMO_INVENTORY_ADDRESS=f"127.0.0.1:{inventory_port}",
            DJANGO_SETTINGS_MODULE="orders_app",
            **_NO_BROKER_SPANS,
        )
        orders_port = orders.wait_ready(deadline)
        gateway = self._launch(
            "gateway",
            "gateway.py",
            DEMO_ORDERS_URL=f"http://127.0.0.1:{orders_port}/orders",
            OTEL_PYTHON_FASTAPI_EXCLUDE_SPANS="receive,send",
        )
        gateway_port = gateway.wait_ready(deadline)
        frontend = self._launch(
            "frontend", "frontend.py", DEMO_ORDERS_URL=f"http://127.0.0.1:{gateway_port}/orders"
        )
        self.frontend_url = f"http://127.0.0.1:{frontend.wait_ready(deadline)}"
        fulfilment.wait_ready(deadline)
        notifier.wait_ready(deadline)

    def _create_topic(self) -> None:
        """Made up front (one partition), so the consumer's group assignment is immediate."""
        with warnings.catch_warnings():
            # kafka-python's protocol modules use importlib.resources.read_text, deprecated
            # since Python 3.11; their warning is theirs (and an error under the test suite).
            warnings.simplefilter("ignore", DeprecationWarning)
            from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        try:
            admin.create_topics([NewTopic(self.topic, num_partitions=1, replication_factor=1)])
            # A consumer that looks the topic up before its partition has a leader sees no
            # partition and would wait for its next metadata refresh: wait for the leader here.
            deadline = time.monotonic() + 30
            while not self._topic_has_leader(admin):
                if time.monotonic() > deadline:
                    raise StackError(f"topic {self.topic} has no partition leader after 30 s")
                time.sleep(0.1)
        finally:
            admin.close()

    def _topic_has_leader(self, admin: Any) -> bool:
        for topic in admin.describe_topics([self.topic]):
            partitions = topic.get("partitions") or []
            if topic.get("error_code", 0) != 0 or not partitions:
                return False
            for partition in partitions:
                if partition.get("leader_id", partition.get("leader", -1)) < 0:
                    return False
        return True

    def _launch(
        self, name: str, script: str, *args: str, protocol: str = "http/protobuf", **extra: str
    ) -> Process:
        """``opentelemetry-instrument python <script>``, or ``opentelemetry-instrument <script>
        <args>`` when ``script`` is a command of the virtualenv (``celery``)."""
        assert self.collector is not None
        port = self.collector.grpc_port if protocol == "grpc" else self.collector.http_port
        env = {
            **_base_env(),
            "INSTRUMENTARIUM_REDIS_URL": self.settings.redis_url,
            "INSTRUMENTARIUM_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "DEMO_KEY_PREFIX": self.key_prefix,
            "DEMO_TOPIC": self.topic,
            "DEMO_CONSUMER_GROUP": f"demo-fulfilment-{self.run_id}",
            "DEMO_CELERY_QUEUE": self.queue,
            "OTEL_SERVICE_NAME": name,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            # The inventory service exports over OTLP/gRPC, the others over OTLP/HTTP: both
            # receivers are used, and the gRPC exporter's own calls must not be traced.
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            **extra,
        }
        if self.settings.semconv_opt_in:
            env["OTEL_SEMCONV_STABILITY_OPT_IN"] = self.settings.semconv_opt_in
        command = (
            [str(self.settings.bin_dir / script), *args]
            if not script.endswith(".py")
            else [str(self.settings.bin_dir / "python"), str(HERE / script)]
        )
        argv = [str(self.settings.bin_dir / "opentelemetry-instrument"), *command]
        process = Process(name, argv, env, self.settings.work_dir / f"{name}.log")
        self.services[name] = process
        return process

    # -- use ---------------------------------------------------------------------------------

    def checkout(self, item: str, quantity: int) -> Order:
        """``GET /checkout`` on the front end; the order as the orders service answered it."""
        url = f"{self.frontend_url}/checkout?item={item}&qty={quantity}"
        with urllib.request.urlopen(url, timeout=30) as response:
            answer = json.loads(response.read())
            order = Order(str(answer.get("order_id", "")), response.status, answer)
        self.orders.append(order)
        return order

    def wait_fulfilled(self, timeout: float = 30.0) -> None:
        """Until the consumer has marked every order fulfilled in Redis and the notifier has
        confirmed it."""
        import redis

        store = redis.Redis.from_url(self.settings.redis_url)
        deadline = time.monotonic() + timeout
        try:
            for service, key, state in (
                ("fulfilment", "order", b"fulfilled"),
                ("notifier", "confirmed", b"confirmed"),
            ):
                pending = [o.order_id for o in self.orders]
                while pending:
                    states = store.mget([f"{self.key_prefix}{key}:{oid}" for oid in pending])
                    pending = [oid for oid, s in zip(pending, states) if s != state]
                    if pending and time.monotonic() > deadline:
                        log = self.services[service].log
                        raise StackError(
                            f"orders not {state.decode()} in {timeout}s: {pending};"
                            f" {service} log:\n" + _tail(log)
                        )
                    if pending:
                        time.sleep(0.05)
        finally:
            store.close()

    # -- stop --------------------------------------------------------------------------------

    def stop(self) -> Telemetry:
        """Fulfilment first, then every process ends; what the Collector wrote."""
        if self.orders:
            self.wait_fulfilled()
        self._shutdown()
        assert self._telemetry is not None
        return self._telemetry

    def _shutdown(self) -> None:
        # Callers first, so no request is in flight when its callee goes.
        for name in ("frontend", "gateway", "orders", "inventory", "fulfilment", "notifier"):
            process = self.services.pop(name, None)
            if process is not None:
                self.exit_codes[name] = process.terminate()
        if self.collector is not None:
            self.exit_codes["collector"] = self.collector.process.terminate()
            self._telemetry = self.collector.telemetry()
            self.collector = None
        self._delete_keys()

    def _delete_keys(self) -> None:
        try:
            import redis

            store = redis.Redis.from_url(self.settings.redis_url)
            try:
                keys = list(store.scan_iter(match=f"{self.key_prefix}*"))
                # The run's Celery queue (empty by now) and kombu's bindings of it.
                keys += [
                    self.queue.encode(),
                    f"_kombu.binding.{self.queue}".encode(),
                    f"_kombu.binding_permanent.{self.queue}".encode(),
                ]
                if keys:
                    store.delete(*keys)
            finally:
                store.close()
        except Exception:  # tidying up must not hide the run's real outcome
            pass

    def log_of(self, name: str) -> str:
        return _tail(self.settings.work_dir / f"{name}.log", 200)
