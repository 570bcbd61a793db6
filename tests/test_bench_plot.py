"""The benchmark chart (``benchmarks/harness/plot.py``) and the throughput summary
(``benchmarks/throughput.py``): output built from small, fixed inputs; no timing asserted."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))

import throughput  # noqa: E402
from harness.plot import BARS, svg  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def _variant(median: float, iqr: float) -> dict[str, float]:
    return {"median_us": median, "iqr_us": iqr}


def _document() -> dict[str, Any]:
    return {
        "schema": 1,
        "meta": {
            "date": "2026-12-05T10:00:00+00:00",
            "machine": "Linux x86_64, 2 CPUs",
            "python": "CPython 3.11.7",
            "instrumentarium": {"version": "0.1.0", "git": "abc1234"},
            "opentelemetry": {"opentelemetry-api": "1.45.1", "opentelemetry-sdk": "1.45.1"},
            "libraries": {"flask": "3.1.3", "redis": "8.2.0"},
            "upstream": {"opentelemetry-instrumentation-flask": "0.66b1"},
            "peer": {"sentry-sdk": "2.76.0"},
            "rounds": 10,
        },
        "workloads": {
            "flask-wsgi": {
                "variants": {
                    "bare": _variant(40.0, 2.0),
                    "floor": _variant(20.0, 1.0),
                    "bare+floor": _variant(65.0, 4.0),
                    "instrumentarium": _variant(70.0, 6.0),
                    "upstream": _variant(110.0, 10.0),
                    "peer": _variant(180.0, 20.0),
                }
            },
            "kafka-send<&>": {
                "variants": {
                    "bare": _variant(10.0, 1.0),
                    "floor": _variant(12.0, 1.0),
                    "bare+floor": _variant(25.0, 2.0),
                    "instrumentarium": _variant(30.0, 2.0),
                    "upstream": _variant(28.0, 2.0),
                }
            },
        },
    }


class TestSvg:
    def test_is_well_formed_with_one_bar_per_measured_variant(self) -> None:
        """Five bars for a workload with a peer, four without; each bar has a whisker."""
        root = ET.fromstring(svg(_document()))
        bars = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
        assert len(bars) == 5 + 4
        assert len(list(root.iter(f"{SVG}path"))) == 9

    def test_bars_follow_the_medians_within_a_workload(self) -> None:
        """Within one workload a longer median gives a longer bar (each has its own scale)."""
        root = ET.fromstring(svg(_document()))
        widths = [
            float(rect.attrib["width"])
            for rect in root.iter(f"{SVG}rect")
            if rect.find(f"{SVG}title") is not None
        ][:5]
        assert widths == sorted(widths)
        assert widths[2] / widths[0] == pytest.approx(70.0 / 40.0, rel=0.02)

    def test_caption_names_machine_python_versions_and_date(self) -> None:
        text = " ".join(
            element.text or "" for element in ET.fromstring(svg(_document())).iter(f"{SVG}text")
        )
        for expected in (
            "Linux x86_64, 2 CPUs",
            "CPython 3.11.7",
            "api 1.45.1",
            "sdk 1.45.1",
            "flask 3.1.3",
            "redis 8.2.0",
            "upstream contrib 0.66b1",
            "sentry-sdk 2.76.0",
            "2026-12-05",
        ):
            assert expected in text

    def test_a_workload_without_peer_says_so_and_names_are_escaped(self) -> None:
        output = svg(_document())
        assert "no integration" in output
        assert "kafka-send&lt;&amp;&gt;" in output

    def test_same_input_same_text(self) -> None:
        """The chart is plain text that diffs cleanly: no timestamps or ids of its own."""
        assert svg(_document()) == svg(_document())

    def test_legend_order_is_bare_floor_ours_upstream_peer(self) -> None:
        assert [key for key, _, _ in BARS] == [
            "bare",
            "bare+floor",
            "instrumentarium",
            "upstream",
            "peer",
        ]


class TestThroughputSummary:
    def test_rate_and_percentiles(self) -> None:
        """100 latencies of 1..100 ms over 2 s: 50 requests/s, p50 50.5 ms, p99 99.01 ms."""
        summary = throughput.summarize([i / 1000 for i in range(1, 101)], 2.0)
        assert summary["requests"] == 100
        assert summary["rps"] == pytest.approx(50.0)
        assert summary["p50_ms"] == pytest.approx(50.5)
        assert summary["p99_ms"] == pytest.approx(99.01)

    def test_no_answer_is_an_error(self) -> None:
        with pytest.raises(RuntimeError, match="no request"):
            throughput.summarize([], 1.0)

    def test_each_app_has_its_server(self) -> None:
        """Flask is served by gunicorn, FastAPI by uvicorn (a factory), both on loopback."""
        python = Path("/venv/bin/python")
        flask = throughput.server_command("flask", python, 8001, 4)
        assert flask[1:3] == ["-m", "gunicorn"]
        assert "127.0.0.1:8001" in flask
        assert flask[-1] == "harness.dice_server:flask_app()"
        fastapi = throughput.server_command("fastapi", python, 8002, 4)
        assert fastapi[1:4] == ["-m", "uvicorn", "--factory"]
        assert fastapi[fastapi.index("--port") + 1] == "8002"
        assert fastapi[-1] == "harness.dice_server:fastapi_app"
        with pytest.raises(ValueError, match="unknown app"):
            throughput.server_command("bottle", python, 8003, 4)

    def test_table_names_the_server_and_compares_with_bare(self) -> None:
        meta = {
            "date": "2026-12-06",
            "python": "CPython 3.11.7",
            "machine": "Linux x86_64, 2 CPUs",
            "versions": {
                "gunicorn": "27.0.1",
                "flask": "3.1.3",
                "uvicorn": "0.55.0",
                "uvloop": "0.23.0",
                "httptools": "0.9.0",
                "fastapi": "0.165.0",
            },
            "concurrency": 8,
            "seconds": 10.0,
            "warmup": 2.0,
            "max_requests": 1000,
        }
        results = {
            "bare": throughput.summarize([0.001] * 100, 1.0),
            "instrumentarium": throughput.summarize([0.002] * 50, 1.0),
        }
        text = throughput.markdown("fastapi", meta, results)
        assert "uvicorn 0.55.0 (1 process, uvloop 0.23.0, httptools 0.9.0)" in text
        assert "FastApiIntegration" in text
        assert "| instrumentarium | 50 | 50 | 0.50 |" in text
