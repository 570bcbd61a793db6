"""``instrument()``/``uninstrument()`` cycles keep nothing: a process that cycles an
instrumentor (a test suite, a reload) holds no more objects after 200 cycles than after 20.

Run in a fresh process, where no ``MeterProvider`` was ever set (the API's proxy provider keeps
every meter it hands out, and every instrument made on one, for the day a provider is set).
Objects are counted by type with the garbage collector: something kept per cycle shows as a type
grown by about one object (or more) a cycle. No byte or time thresholds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.subprocess

CYCLES = 200

_SCRIPT = """
import collections, gc, json, sys
import grpc, redis, urllib3
from instrumentarium.grpc import GrpcInstrumentorClient
from instrumentarium.redis import RedisInstrumentor
from instrumentarium.urllib3 import URLLib3Instrumentor

cycles = int(sys.argv[1])

def counts():
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())

grown = {}
for cls in (URLLib3Instrumentor, RedisInstrumentor, GrpcInstrumentorClient):
    instrumentor = cls()
    for _ in range(20):  # warm up: caches filled once, lazily bound types
        instrumentor.instrument()
        instrumentor.uninstrument()
    before = counts()
    for _ in range(cycles):
        instrumentor.instrument()
        instrumentor.uninstrument()
    after = counts()
    grown[cls.__name__] = {
        name: after[name] - before[name]
        for name in after
        if after[name] - before[name] >= cycles // 2
    }
print(json.dumps(grown))
"""


def test_cycles_without_a_meter_provider_keep_nothing() -> None:
    """200 cycles of the urllib3, Redis and gRPC client instrumentors without a
    ``MeterProvider`` grow no type of object (each cycle used to keep a meter, its histograms
    and their cache entries: ~1.1-1.4 KB)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(CYCLES)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=environ,
    )
    assert result.returncode == 0, result.stderr
    grown = json.loads(result.stdout.strip().splitlines()[-1])
    assert grown == {name: {} for name in grown}, grown
    assert set(grown) == {"URLLib3Instrumentor", "RedisInstrumentor", "GrpcInstrumentorClient"}
