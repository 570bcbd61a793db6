"""Where the local servers of ``scripts/services`` listen: the one place the tests, the benchmarks
and the examples read an address from.

Every value comes from the variable ``scripts/services`` (or its ``scripts/services.d/`` file)
reads, with the same default, so a port moved there is moved here::

    INSTRUMENTARIUM_SERVICES_DIR         .cache/services       pid files, logs, the redis socket
    INSTRUMENTARIUM_REDIS_PORT           6390
    INSTRUMENTARIUM_REDIS_URL            redis://127.0.0.1:$INSTRUMENTARIUM_REDIS_PORT/0
    INSTRUMENTARIUM_REDIS_SOCKET         $INSTRUMENTARIUM_SERVICES_DIR/redis/redis.sock
    INSTRUMENTARIUM_REDIS_CLUSTER_PORTS  "7100 7101 7102 7103 7104 7105"
    INSTRUMENTARIUM_REDIS_CLUSTER_NODES  127.0.0.1:7100,127.0.0.1:7101,... (from the ports)
    INSTRUMENTARIUM_KAFKA_PORT           9392
    INSTRUMENTARIUM_KAFKA_BOOTSTRAP      127.0.0.1:$INSTRUMENTARIUM_KAFKA_PORT
    INSTRUMENTARIUM_COLLECTOR_CACHE      .cache/collector      where the Collector is built
    INSTRUMENTARIUM_COLLECTOR_BIN        <the cache>/build/otelcol-instrumentarium

The tests import it as ``tests.support.services`` (pytest puts the repository root on the path);
the benchmarks and the examples append the repository root to ``sys.path`` first. Standard
library only: it is imported in every virtual environment the benchmarks and the demo use.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = [
    "KAFKA_BOOTSTRAP",
    "REDIS_CLUSTER_NODES",
    "REDIS_SOCKET",
    "REDIS_URL",
    "ROOT",
    "RUN_DIR",
    "collector_binary",
    "free_port",
    "listens",
    "split_address",
]

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = Path(os.environ.get("INSTRUMENTARIUM_SERVICES_DIR") or ROOT / ".cache" / "services")


def _variable(name: str, default: str) -> str:
    """The variable as the scripts read it (``${NAME:-default}``: empty means unset)."""
    return os.environ.get(name) or default


REDIS_URL = _variable(
    "INSTRUMENTARIUM_REDIS_URL",
    f"redis://127.0.0.1:{_variable('INSTRUMENTARIUM_REDIS_PORT', '6390')}/0",
)
REDIS_SOCKET = _variable("INSTRUMENTARIUM_REDIS_SOCKET", str(RUN_DIR / "redis" / "redis.sock"))
_CLUSTER_PORTS = _variable("INSTRUMENTARIUM_REDIS_CLUSTER_PORTS", "7100 7101 7102 7103 7104 7105")
# "host:port" of each node, in order
REDIS_CLUSTER_NODES = tuple(
    address.strip()
    for address in _variable(
        "INSTRUMENTARIUM_REDIS_CLUSTER_NODES",
        ",".join(f"127.0.0.1:{port}" for port in _CLUSTER_PORTS.split()),
    ).split(",")
)
KAFKA_BOOTSTRAP = _variable(
    "INSTRUMENTARIUM_KAFKA_BOOTSTRAP",
    f"127.0.0.1:{_variable('INSTRUMENTARIUM_KAFKA_PORT', '9392')}",
)


def collector_binary() -> Path:
    """The Collector ``scripts/services.d/collector.sh`` builds (or the prebuilt one it uses)."""
    cache = Path(_variable("INSTRUMENTARIUM_COLLECTOR_CACHE", str(ROOT / ".cache" / "collector")))
    return Path(
        _variable("INSTRUMENTARIUM_COLLECTOR_BIN", str(cache / "build" / "otelcol-instrumentarium"))
    )


def free_port() -> int:
    """A loopback TCP port nothing listened on a moment ago (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def split_address(address: str) -> tuple[str, int]:
    """``("127.0.0.1", 7100)`` from ``"127.0.0.1:7100"`` (``[::1]:7100`` too)."""
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]"), int(port)


def listens(address: str, timeout: float = 2.0) -> bool:
    """Whether something accepts a TCP connection at ``host:port`` (the first of a comma list,
    as in a Kafka bootstrap string)."""
    try:
        with socket.create_connection(split_address(address.partition(",")[0]), timeout=timeout):
            return True
    except OSError:
        return False
