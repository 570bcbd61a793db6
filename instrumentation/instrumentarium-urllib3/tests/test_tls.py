"""HTTPS through a pool given a path, against a real TLS server on loopback
(``tests/support/tls.py``, a locally generated CA); verified and failed TLS are the shared
suite's (``tests/support/http_client_suite.py``)."""

from __future__ import annotations

from typing import Any, Callable

import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class TestHttps:
    def test_https_pool_given_a_path_records_an_https_url(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        tls_server: Any,
        tls_ca_bundle: str,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An ``HTTPSConnectionPool`` called with a path: the recorded URL is built with the
        ``https`` scheme and the pool's port."""
        instrument()
        pool = closing(
            urllib3.HTTPSConnectionPool(
                "127.0.0.1", tls_server.port, ca_certs=tls_ca_bundle, retries=False
            )
        )
        assert pool.urlopen("POST", "/echo", body=b"sealed").data == b"sealed"
        (span,) = span_exporter.get_finished_spans()
        assert span.name == "POST"
        assert span.attributes["http.url"] == f"https://127.0.0.1:{tls_server.port}/echo"
