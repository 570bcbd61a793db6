"""The HTTP client suite shared with instrumentarium-urllib3, run against requests through the
``client`` fixture of this package's conftest (``tests/support/http_client_suite.py``)."""

from tests.support.http_client_suite import (
    TestFailures,
    TestHttps,
    TestLifecycle,
    TestMetrics,
    TestPropagation,
    TestRedaction,
    TestSemconvModes,
    TestSpans,
)

__all__ = [
    "TestFailures",
    "TestHttps",
    "TestLifecycle",
    "TestMetrics",
    "TestPropagation",
    "TestRedaction",
    "TestSemconvModes",
    "TestSpans",
]
