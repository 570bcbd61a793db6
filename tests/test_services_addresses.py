"""``tests/support/services.py`` finds the servers where ``scripts/services`` starts them: the same
variables, the same defaults, and a port moved there moves every address derived from it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = [ROOT / "scripts" / "services", *sorted((ROOT / "scripts" / "services.d").glob("*.sh"))]


def shell_default(variable: str) -> str:
    """The default the service scripts give ``variable`` (``${VARIABLE:-default}``)."""
    defaults = {
        match
        for script in SCRIPTS
        for match in re.findall(r"\$\{" + variable + r":-([^}]*)\}", script.read_text())
    }
    assert len(defaults) == 1, f"{variable}: {defaults or 'not read by the scripts'}"
    return defaults.pop()


def addresses(**environment: str) -> dict[str, object]:
    """The module's addresses in a fresh interpreter, with only ``environment`` set of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTRUMENTARIUM_")}
    code = (
        "import json; from tests.support import services as s; print(json.dumps({"
        "'redis_url': s.REDIS_URL, 'redis_socket': s.REDIS_SOCKET,"
        " 'cluster': s.REDIS_CLUSTER_NODES, 'kafka': s.KAFKA_BOOTSTRAP,"
        " 'collector': str(s.collector_binary())}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **environment},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, object] = json.loads(result.stdout)
    return found


class TestServiceAddresses:
    def test_defaults_are_the_scripts_defaults(self) -> None:
        """With no variable set, every address is the one the scripts start the server on."""
        redis_port = shell_default("INSTRUMENTARIUM_REDIS_PORT")
        cluster_ports = shell_default("INSTRUMENTARIUM_REDIS_CLUSTER_PORTS").split()
        kafka_port = shell_default("INSTRUMENTARIUM_KAFKA_PORT")
        found = addresses()
        assert found["redis_url"] == f"redis://127.0.0.1:{redis_port}/0"
        assert found["redis_socket"] == str(ROOT / ".cache" / "services" / "redis" / "redis.sock")
        assert found["cluster"] == [f"127.0.0.1:{port}" for port in cluster_ports]
        assert found["kafka"] == f"127.0.0.1:{kafka_port}"
        assert found["collector"] == str(
            ROOT / ".cache" / "collector" / "build" / "otelcol-instrumentarium"
        )

    def test_a_moved_port_moves_the_derived_address(self) -> None:
        """``INSTRUMENTARIUM_REDIS_PORT``, ``_REDIS_CLUSTER_PORTS`` and ``_KAFKA_PORT``, the
        variables the scripts start the servers with, move the URL, the nodes and the bootstrap
        address the tests use (the redis tests used to read only ``INSTRUMENTARIUM_REDIS_URL``)."""
        found = addresses(
            INSTRUMENTARIUM_REDIS_PORT="7390",
            INSTRUMENTARIUM_REDIS_CLUSTER_PORTS="7200 7201",
            INSTRUMENTARIUM_KAFKA_PORT="9500",
            INSTRUMENTARIUM_SERVICES_DIR="/srv/run",
            INSTRUMENTARIUM_COLLECTOR_CACHE="/srv/collector",
        )
        assert found == {
            "redis_url": "redis://127.0.0.1:7390/0",
            "redis_socket": "/srv/run/redis/redis.sock",
            "cluster": ["127.0.0.1:7200", "127.0.0.1:7201"],
            "kafka": "127.0.0.1:9500",
            "collector": "/srv/collector/build/otelcol-instrumentarium",
        }

    def test_a_whole_address_wins_over_its_port(self) -> None:
        """The full addresses, when set, are used as they are."""
        found = addresses(
            INSTRUMENTARIUM_REDIS_PORT="7390",
            INSTRUMENTARIUM_REDIS_URL="redis://db.internal:6000/2",
            INSTRUMENTARIUM_REDIS_CLUSTER_NODES="10.0.0.1:7000, 10.0.0.2:7000",
            INSTRUMENTARIUM_KAFKA_PORT="9500",
            INSTRUMENTARIUM_KAFKA_BOOTSTRAP="kafka.internal:9092",
            INSTRUMENTARIUM_COLLECTOR_BIN="/opt/otelcol",
        )
        assert found["redis_url"] == "redis://db.internal:6000/2"
        assert found["cluster"] == ["10.0.0.1:7000", "10.0.0.2:7000"]
        assert found["kafka"] == "kafka.internal:9092"
        assert found["collector"] == "/opt/otelcol"
