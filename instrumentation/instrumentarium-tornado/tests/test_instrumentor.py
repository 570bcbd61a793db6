"""The lifecycle every instrumentor keeps, and the declared options."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import tornado.httpclient
import tornado.web
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tornado_handlers import APP, fetch_all

from instrumentarium.tornado import TornadoInstrumentor
from instrumentarium.tornado._config import TornadoConfig
from instrumentarium.tornado._patches import ACTIVE


class TestLifecycle:
    """instrument() and uninstrument() are idempotent, complete and repeatable."""

    def test_instrument_uninstrument_twice(
        self,
        instrumentor: TornadoInstrumentor,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        originals: dict[tuple[type, str], Any],
    ) -> None:
        """Each instrument() patches the four targets, each uninstrument() restores the very
        original functions (no wrapper left behind)."""
        for _ in range(2):
            instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
            instrumentor.instrument()  # a second call changes nothing
            assert ACTIVE.active
            for (owner, name), original in originals.items():
                assert owner.__dict__[name] is not original, name
            instrumentor.uninstrument()
            assert not ACTIVE.active
            for (owner, name), original in originals.items():
                assert owner.__dict__[name] is original, name

    def test_uninstrumented_requests_make_no_span(
        self,
        instrumentor: TornadoInstrumentor,
        instrument: Callable[..., Any],
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """After uninstrument() the same app and client emit nothing."""
        instrument()
        instrumentor.uninstrument()
        assert serve(fetch_all("/users/1", "/boom")) == [200, 500]
        assert span_exporter.get_finished_spans() == ()

    def test_app_and_client_made_before_instrument_are_covered(
        self,
        instrument: Callable[..., Any],
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The app (made at import) and a shared ``AsyncHTTPClient`` made before
        ``instrument()`` are traced: the patches are on Tornado's base classes."""
        assert isinstance(APP, tornado.web.Application)
        instrument()
        serve(fetch_all("/users/1"))
        kinds = sorted(s.kind.name for s in span_exporter.get_finished_spans())
        assert kinds == ["CLIENT", "SERVER"]

    def test_instrument_does_not_import_the_library(self) -> None:
        """The patches wait for Tornado's first import (a post-import hook)."""
        from tests.support.agent import run_under_agent

        code = (
            "import sys\n"
            "from instrumentarium.tornado import TornadoInstrumentor\n"
            "TornadoInstrumentor().instrument()\n"
            "assert 'tornado.web' not in sys.modules\n"
            "import tornado.web, tornado.httpclient\n"
            "assert type(tornado.web.RequestHandler.__dict__['finish']).__name__ == "
            "'FunctionWrapper'\n"
            "print('ok')\n"
        )
        result = run_under_agent(code, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="tornado")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "ok"


class TestOptions:
    """The options are declared once, in ``TornadoConfig``."""

    def test_defaults(self) -> None:
        """Nothing given: every option has its declared default."""
        config = TornadoConfig.resolve({})
        assert config.tracer_provider is None
        assert config.server_request_hook is None
        assert config.excluded_urls is None
        assert config.traced_request_attributes is None

    def test_keywords_win(self, tracer_provider: TracerProvider) -> None:
        """A keyword argument is taken as given; unknown keywords are ignored, as upstream."""
        config = TornadoConfig.resolve({"tracer_provider": tracer_provider, "unknown": 1})
        assert config.tracer_provider is tracer_provider

    def test_traced_request_attrs_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``OTEL_PYTHON_TORNADO_TRACED_REQUEST_ATTRS`` is a comma list."""
        monkeypatch.setenv("OTEL_PYTHON_TORNADO_TRACED_REQUEST_ATTRS", " uri, query ,")
        assert TornadoConfig.resolve({}).traced_request_attributes == ["uri", "query"]
