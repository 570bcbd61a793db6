"""A real headless Chromium, driven over the DevTools protocol on a pipe (no extra package).

``Browser.open(url, ready)`` loads a page, waits until the JavaScript expression ``ready`` is
true in it (the page's own scripts have run: Material's search, for instance, answers from a
web worker, which ``--virtual-time-budget`` does not wait for), then returns its DOM and can
save a screenshot. Chromium speaks the protocol on file descriptors 3 (commands in) and 4
(messages out) with ``--remote-debugging-pipe``: JSON messages, each ended by a NUL byte.

Chromium comes from Debian's ``chromium`` package (``scripts/setup`` installs it as root);
``INSTRUMENTARIUM_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> Optional[str]:
    """The Chromium binary to drive: ``INSTRUMENTARIUM_CHROMIUM``, else the first on PATH."""
    named = os.environ.get("INSTRUMENTARIUM_CHROMIUM")
    for name in (named,) if named else CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(Exception):
    """Chromium exited, answered an error, or a wait ran out: the message says which."""


class Browser:
    """One headless Chromium process; use it as a context manager."""

    def __init__(self, binary: str, width: int = 1280, height: int = 1600) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="instrumentarium-chromium-")
        commands, self._commands = os.pipe()
        self._messages, messages = os.pipe()
        # The child's ends above fd 9, so that moving them to 3 and 4 overwrites neither.
        commands_read = fcntl.fcntl(commands, fcntl.F_DUPFD, 10)
        messages_write = fcntl.fcntl(messages, fcntl.F_DUPFD, 10)
        os.close(commands)
        os.close(messages)
        # Chromium reads fd 3 and writes fd 4: put our pipe ends there in the child.
        # Chromium reads fd 3 and writes fd 4: bash puts our pipe ends there and execs it
        # (no preexec_fn, which is unsafe in a process with threads).
        placed = f'exec "$0" "$@" 3<&{commands_read} 4>&{messages_write}'
        placed += f" {commands_read}<&- {messages_write}>&-"
        self._process = subprocess.Popen(
            [
                shutil.which("bash") or "/bin/bash",  # dash: fds 0-9 only
                "-c",
                placed,
                binary,
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            pass_fds=(commands_read, messages_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(messages_write)
        self._buffer = b""
        self._next_id = 0
        self._width, self._height = width, height
        self._session: Optional[str] = None

    def __enter__(self) -> Browser:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self._width, "height": self._height, "deviceScaleFactor": 1, "mobile": False},
        )
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._session = None
            self.send("Browser.close", timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._commands, self._messages):
            os.close(fd)
        self._profile.cleanup()

    def send(
        self, method: str, params: Optional[dict[str, Any]] = None, timeout: float = 30
    ) -> Any:
        """One protocol command (to the page when attached); its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline, method)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def _read(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer to {waiting_for} in time")
            ready, _, _ = select.select([self._messages], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._messages, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited (status {self._process.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, ready: str = "true", timeout: float = 30) -> str:
        """Loads ``url``, waits until ``ready`` (a JavaScript expression) holds once the page
        has loaded, and returns the DOM as HTML."""
        self.send("Page.navigate", {"url": url})
        condition = (
            f"document.readyState === 'complete' && location.href !== 'about:blank' && ({ready})"
        )
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"Boolean({condition})"):
            if time.monotonic() > deadline:
                raise BrowserError(f"{url}: still not {ready!r} after {timeout} s")
            time.sleep(0.1)
        return str(self.evaluate("document.documentElement.outerHTML"))

    def screenshot(self, path: Path) -> Path:
        """The viewport as a PNG at ``path``."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
