"""Run the dice server under ``opentelemetry-instrument``, send it requests, stop it cleanly.

::

    with DiceServer(bin_dir) as server:           # a free port; returns once it listens
        server.get("/rolldice?player=alice")      # (status, body) through urllib
        finished = server.stop()                  # SIGINT, so the SDK flushes; then the output
    ConsoleTelemetry.parse(finished.stdout)

The server runs exactly as the getting-started guide runs it (console exporters, service name
``dice-server``, logs auto-instrumentation on), with ``extra_env`` on top. Variables ``OTEL_*`` and
``FLASK_*`` of the calling environment are dropped, so a developer's shell cannot change what the
demo and the tests see. Leaving the ``with`` block always kills a server that is still running.
Standard library only, Python 3.9+, POSIX (it relies on SIGINT).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Optional

__all__ = ["APP", "DiceServer", "Finished", "ServerError", "free_port"]

APP = Path(__file__).resolve().parent / "app.py"

#: The guide's settings, plus a short metrics interval so that metrics show up quickly.
GUIDE_ENV: Mapping[str, str] = {
    "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
}


class ServerError(RuntimeError):
    """The server did not start, answer or stop as expected; the message says what it printed."""

    port_taken = False  # True when it could not listen because its port was in use


@dataclass(frozen=True)
class Finished:
    """What the stopped server printed, and how it exited."""

    stdout: str
    stderr: str
    returncode: int


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _restore_default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class DiceServer:
    """One ``opentelemetry-instrument ... flask --app app.py run`` process."""

    def __init__(
        self,
        bin_dir: Path,
        extra_env: Optional[Mapping[str, str]] = None,
        *,
        app: Path = APP,
        port: Optional[int] = None,
        service_name: str = "dice-server",
    ) -> None:
        self.bin_dir = Path(bin_dir)
        self.app = Path(app)
        self.service_name = service_name
        self._port_given = port is not None
        self._use_port(port if port is not None else free_port())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FLASK_"))}
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        env.update(GUIDE_ENV)
        env.update(extra_env or {})
        self.env = env
        self.extra_env = dict(extra_env or {})
        self.process: Optional[subprocess.Popen[bytes]] = None
        self._stdout: Optional[IO[bytes]] = None
        self._stderr: Optional[IO[bytes]] = None

    def _use_port(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.command = [
            str(self.bin_dir / "opentelemetry-instrument"),
            "--traces_exporter", "console",
            "--metrics_exporter", "console",
            "--logs_exporter", "console",
            "--service_name", self.service_name,
            "flask", "--app", str(self.app), "run", "-p", str(port),
        ]  # fmt: skip

    def describe(self) -> str:
        """The command line, with the variables that differ from the guide's, for messages."""
        settings = {**GUIDE_ENV, **self.extra_env}
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in settings.items())
        return f"{assignments} {shlex.join(self.command)}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> DiceServer:
        """Start the process and return once it listens on its port.

        Readiness sends no HTTP request (that would add telemetry): a bare TCP connect while the
        process is alive. (Werkzeug's "Running on" line is no signal: with OpenTelemetry's log
        handler on the root logger, older SDKs export it instead of printing it.) A port picked
        by ``free_port`` can be taken by someone else before Flask binds it; Flask then exits
        with "Address already in use" and the start is retried on another port (twice at most).
        """
        attempts = 1 if self._port_given else 3
        for attempt in range(1, attempts + 1):
            exited = self._start(timeout)
            if exited is None:
                return self
            if not exited.port_taken or attempt == attempts:
                raise exited
            self._close_files()
            self._use_port(free_port())
        raise AssertionError("unreachable")  # pragma: no cover

    def _start(self, timeout: float) -> Optional[ServerError]:
        """None once the server listens; the error if it exited first; raises on timeout."""
        # Files rather than pipes: nobody has to drain them while the server runs. They belong
        # to this object, which closes them on exit (hence no ``with``).
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        # A shell that started us in the background may have SIGINT ignored; the child would
        # inherit that and never stop, so give it the default back (only then: preexec_fn is
        # best avoided).
        sigint_ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.app.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            preexec_fn=_restore_default_sigint if sigint_ignored else None,  # noqa: PLW1509
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                finished = self._collect()
                error = ServerError(
                    f"the server exited with status {finished.returncode} before answering on"
                    f" port {self.port}\n  command: {self.describe()}\n"
                    f"  stderr:\n{_indent(finished.stderr)}"
                )
                error.port_taken = "Address already in use" in finished.stderr
                return error
            if self._accepts_connections() and self.process.poll() is None:
                return None
            if time.monotonic() > deadline:
                self.kill()
                finished = self._collect()
                raise ServerError(
                    f"the server did not start listening on port {self.port} within"
                    f" {timeout:.0f} s\n  command: {self.describe()}\n"
                    f"  stderr:\n{_indent(finished.stderr)}"
                )
            time.sleep(0.05)

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def get(
        self, path: str, headers: Optional[Mapping[str, str]] = None, timeout: float = 10.0
    ) -> tuple[int, str]:
        """``GET path``; returns the status and the body (error statuses too)."""
        request = urllib.request.Request(self.base_url + path, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 15.0) -> Finished:
        """SIGINT (Ctrl-C): Flask's server stops and the SDK flushes spans, logs and a last
        metrics export at exit. Kills the process if it does not exit within ``timeout``."""
        process = self._require_process()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                finished = self._collect()
                raise ServerError(
                    f"the server did not exit within {timeout:.0f} s of SIGINT; killed it\n"
                    f"  stderr:\n{_indent(finished.stderr)}"
                ) from None
        return self._collect()

    def kill(self) -> None:
        """Kill the process if it still runs (idempotent)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def __enter__(self) -> DiceServer:
        try:
            return self.start()
        except BaseException:
            self.__exit__(None, None, None)  # __exit__ is not called when __enter__ fails
            raise

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.kill()
        self._close_files()

    # -- helpers -----------------------------------------------------------------------------

    def _close_files(self) -> None:
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                stream.close()
        self._stdout = self._stderr = None

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise ServerError("the server was not started")
        return self.process

    def _collect(self) -> Finished:
        process = self._require_process()
        returncode = process.wait(10)
        return Finished(_read(self._stdout), _read(self._stderr), returncode)


def _read(stream: Optional[IO[bytes]]) -> str:
    if stream is None:
        return ""
    stream.seek(0)
    return stream.read().decode("utf-8", "replace")


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in (text.strip() or "(nothing)").splitlines())
