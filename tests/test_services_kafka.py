"""``scripts/services`` knows a Kafka broker by its port: a broker the same clone runs on another
port is neither taken for the one asked for (``start`` starts one) nor stopped in its place.

The scripts run unmodified in a throw-away clone (a copy of ``scripts/services`` and
``scripts/services.d/`` in a temporary directory, with its own ``.cache``), with ``JAVA`` set to
a stand-in: its storage tool answers, and its ``kafka.Kafka`` idles until SIGTERM, never
answering on the port. ``start`` therefore gives up after ``INSTRUMENTARIUM_KAFKA_WAIT=1`` second
and leaves the stand-in running, as it would a slow broker. Nothing touches the real broker or
the repository's ``.cache``; the ports are free loopback ports nothing listens on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import free_port

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parent.parent

STAND_IN_JAVA = """#!/usr/bin/env bash
# java, for scripts/services.d/kafka.sh: the storage tool answers, the broker idles until SIGTERM
case " $* " in
    *" random-uuid "*) echo q1Sh-9_ISia_zwGINzRvyQ ;;
    *" kafka.Kafka "*) trap 'exit 0' TERM; while :; do sleep 0.1; done ;;
esac
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@dataclass
class Clone:
    """A copy of the service scripts with a jar directory in place and java stood in for."""

    root: Path

    @property
    def run_dir(self) -> Path:
        return self.root / ".cache" / "services"

    def services(self, action: str, port: int) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "JAVA": str(self.root / "java"),
            "INSTRUMENTARIUM_KAFKA_PORT": str(port),
            "INSTRUMENTARIUM_KAFKA_WAIT": "1",
        }
        env.pop("INSTRUMENTARIUM_SERVICES_DIR", None)
        # the controller port follows the broker's (port + 1) unless set: a caller's must not
        # leak in
        env.pop("INSTRUMENTARIUM_KAFKA_CONTROLLER_PORT", None)
        return subprocess.run(
            ["bash", str(self.root / "scripts" / "services"), action, "kafka"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def broker_pid(self, port: int) -> int:
        """The pid the port's pid file names (the stand-in started for that port)."""
        return int((self.run_dir / "kafka" / str(port) / "kafka.pid").read_text())

    def stand_ins(self) -> list[int]:
        """Every live stand-in broker of this clone, found by its config path under the clone."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in args and any(str(self.root).encode() in a for a in args):
                found.append(int(entry.name))
        return [pid for pid in found if alive(pid)]


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Clone]:
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "services", tmp_path / "scripts" / "services")
    shutil.copytree(ROOT / "scripts" / "services.d", tmp_path / "scripts" / "services.d")
    version = "4.1.1"
    libs = tmp_path / ".cache" / "kafka" / f"libs-{version}"
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{version}.jar").touch()
    java = tmp_path / "java"
    java.write_text(STAND_IN_JAVA)
    java.chmod(0o755)
    made = Clone(tmp_path)
    try:
        yield made
    finally:
        for pid in made.stand_ins():  # only what this test started, in its own directory
            os.kill(pid, signal.SIGKILL)


class TestKafkaBrokerByPort:
    def test_start_on_a_port_starts_a_broker_beside_one_on_another_port(self, clone: Clone) -> None:
        """With this clone's broker running on port A, ``start`` on port B starts B's own
        broker (it used to find A's pid file, start nothing and wait for B in vain)."""
        port_a, port_b = free_port(), free_port()
        clone.services("start", port_a)
        assert len(clone.stand_ins()) == 1
        clone.services("start", port_b)
        assert len(clone.stand_ins()) == 2

        pid_a, pid_b = clone.broker_pid(port_a), clone.broker_pid(port_b)
        assert pid_b != pid_a
        assert alive(pid_a)
        assert alive(pid_b)
        config_b = (clone.run_dir / "kafka" / str(port_b) / "server.properties").read_text()
        assert f"listeners=PLAINTEXT://127.0.0.1:{port_b},CONTROLLER://127.0.0.1:{port_b + 1}" in (
            config_b
        )

    def test_stop_on_a_port_leaves_the_broker_of_another_port_running(self, clone: Clone) -> None:
        """``stop`` on port B stops B's broker and forgets B's data; A's broker and directory
        stay. ``stop`` on A then stops A's."""
        port_a, port_b = free_port(), free_port()
        clone.services("start", port_a)
        clone.services("start", port_b)
        pid_a, pid_b = clone.broker_pid(port_a), clone.broker_pid(port_b)

        stopped = clone.services("stop", port_b)
        assert stopped.returncode == 0, stopped.stderr
        assert "kafka: stopped" in stopped.stderr
        assert clone.stand_ins() == [pid_a]
        assert not alive(pid_b)
        assert not (clone.run_dir / "kafka" / str(port_b)).exists()
        assert alive(pid_a)
        assert (clone.run_dir / "kafka" / str(port_a) / "kafka.pid").exists()

        assert clone.services("stop", port_a).returncode == 0
        assert not alive(pid_a)
        assert clone.stand_ins() == []

    def test_stop_with_no_broker_of_its_own_leaves_every_other_one(self, clone: Clone) -> None:
        """``stop`` on a port this clone never started a broker on stops nothing."""
        clone.services("start", free_port())
        running = clone.stand_ins()
        assert len(running) == 1

        stopped = clone.services("stop", free_port())
        assert stopped.returncode == 0, stopped.stderr
        assert clone.stand_ins() == running

    def test_a_pid_file_naming_another_process_is_not_ours(self, clone: Clone) -> None:
        """A pid file left behind whose pid now belongs to an unrelated process: ``stop`` does
        not kill that process, ``start`` starts a broker of its own."""
        port = free_port()
        directory = clone.run_dir / "kafka" / str(port)
        directory.mkdir(parents=True)
        with subprocess.Popen(["sleep", "60"]) as unrelated:
            try:
                (directory / "kafka.pid").write_text(f"{unrelated.pid}\n")
                assert clone.services("stop", port).returncode == 0
                assert unrelated.poll() is None

                directory.mkdir(parents=True)
                (directory / "kafka.pid").write_text(f"{unrelated.pid}\n")
                clone.services("start", port)
                assert clone.broker_pid(port) != unrelated.pid
                assert alive(clone.broker_pid(port))
                assert unrelated.poll() is None
            finally:
                unrelated.kill()
