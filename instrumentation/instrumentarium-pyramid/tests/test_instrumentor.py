"""The instrumentor's lifecycle and its ways in: ``instrument()`` (every app, made before or
after it), ``instrument_config`` / ``uninstrument_config``, ``config.include``, explicit
``pyramid.tweens`` lists, and the declared options."""

from __future__ import annotations

import pytest
from pyramid.router import Router
from pyramid.tweens import EXCVIEW

from instrumentarium.pyramid import PyramidInstrumentor, trace_tween_factory
from instrumentarium.pyramid._config import PyramidConfig
from instrumentarium.pyramid._telemetry import ACTIVE

TWEEN = "instrumentarium.pyramid.trace_tween_factory"


def names(span_exporter):
    return [span.name for span in span_exporter.get_finished_spans()]


class TestInstrument:
    def test_app_made_before_instrument_is_traced(
        self, make_app, instrument, client, span_exporter
    ):
        """An app configured and made into a WSGI app before ``instrument()`` is traced."""
        app = make_app()
        instrument()
        client(app).get("/hello/bob")
        assert names(span_exporter) == ["GET /hello/{name}"]

    def test_configurator_made_before_instrument_is_traced(
        self, make_config, instrument, client, span_exporter
    ):
        """A configurator created before ``instrument()`` whose app is made after it."""
        config = make_config()
        instrument()
        client(config.make_wsgi_app()).get("/hello/bob")
        assert names(span_exporter) == ["GET /hello/{name}"]

    def test_uninstrument_restores_the_router_and_stops_tracing(
        self, make_app, instrument, client, span_exporter, original_methods
    ):
        """``uninstrument()`` leaves ``Router`` as it was (no wrapper) and traces nothing; a
        second ``instrument()`` traces again, once (no stacked wrapper)."""
        app = make_app()
        instrumentor = instrument()
        instrumentor.uninstrument()
        for name, original in original_methods.items():
            assert Router.__dict__[name] is original, name
        client(app).get("/hello/bob")
        assert names(span_exporter) == []
        instrument()
        instrument()  # idempotent
        client(app).get("/hello/bob")
        assert names(span_exporter) == ["GET /hello/{name}"]

    def test_explicit_tweens_without_ours_are_traced(
        self, make_app, instrument, client, span_exporter
    ):
        """An app whose ``pyramid.tweens`` setting lists its tweens explicitly (upstream then
        needs its tween in the list) is traced: the router is, whatever the tweens."""
        app = make_app({"pyramid.tweens": EXCVIEW})
        instrument()
        client(app).get("/hello/bob")
        client(app).get("/internal", status=500)
        assert names(span_exporter) == ["GET /hello/{name}", "GET /internal"]

    def test_explicit_tweens_naming_our_tween_trace_once(
        self, make_app, instrument, client, span_exporter
    ):
        """A ``pyramid.tweens`` list written for upstream, with our tween's dotted name, is
        valid and gives one span per request."""
        app = make_app({"pyramid.tweens": f"{TWEEN}\n{EXCVIEW}"})
        instrument()
        client(app).get("/hello/bob")
        assert names(span_exporter) == ["GET /hello/{name}"]

    def test_tween_factory_passes_the_handler_through(self):
        """The tween adds no layer of its own."""

        def handler(request):
            return None

        assert trace_tween_factory(handler, None) is handler


class TestPerConfig:
    def test_instrument_config_traces_that_app_alone(
        self, make_config, tracer_provider, meter_provider, client, span_exporter, instrumentor
    ):
        """``instrument_config(config)`` traces its app (made before or after the call) with
        its own options, without ``instrument()``; another app stays untraced."""
        config = make_config()
        other = make_config()
        PyramidInstrumentor.instrument_config(
            config, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        client(config.make_wsgi_app()).get("/hello/bob")
        client(other.make_wsgi_app()).get("/hello/bob")
        assert names(span_exporter) == ["GET /hello/{name}"]

    def test_config_options_win_over_instrument(
        self, make_config, instrument, tracer_provider, client, span_exporter
    ):
        """A configurator's own ``excluded_urls`` wins over ``instrument()``'s."""
        config = make_config()
        instrument()
        PyramidInstrumentor.instrument_config(
            config, tracer_provider=tracer_provider, excluded_urls="hello"
        )
        client(config.make_wsgi_app()).get("/hello/bob")
        assert names(span_exporter) == []

    def test_uninstrument_config_leaves_an_app_untraced_under_instrument(
        self, make_config, instrument, client, span_exporter
    ):
        """``uninstrument_config(config)`` opts its app out, also while ``instrument()`` is
        on; the other apps stay traced."""
        config = make_config()
        PyramidInstrumentor.uninstrument_config(config)
        app = config.make_wsgi_app()
        other = make_config().make_wsgi_app()
        instrument()
        client(app).get("/hello/bob")
        client(other).get("/hello/bob")
        assert names(span_exporter) == ["GET /hello/{name}"]

    def test_config_include_is_instrument_config(
        self, make_config, instrumentor, client, span_exporter, monkeypatch, tracer_provider
    ):
        """``config.include("instrumentarium.pyramid")`` instruments that configurator's app
        (global providers, as upstream's ``includeme``)."""
        from opentelemetry import trace

        monkeypatch.setattr(trace, "get_tracer_provider", lambda: tracer_provider)
        config = make_config()
        config.include("instrumentarium.pyramid")
        client(config.make_wsgi_app()).get("/hello/bob")
        assert names(span_exporter) == ["GET /hello/{name}"]

    def test_patches_stay_while_a_config_is_instrumented(self, make_config, instrument):
        """``uninstrument()`` keeps the patches while a configurator has its own telemetry."""
        config = make_config()
        instrumentor = instrument()
        PyramidInstrumentor.instrument_config(config)
        instrumentor.uninstrument()
        assert ACTIVE.active
        assert type(Router.__dict__["__call__"]).__name__ != "function"


class TestOptions:
    def test_defaults(self):
        """Nothing given: every option has its declared default."""
        config = PyramidConfig.resolve({})
        assert (config.tracer_provider, config.meter_provider, config.excluded_urls) == (
            None,
            None,
            None,
        )

    def test_unknown_keywords_are_ignored(self, tracer_provider):
        """A keyword argument is taken as given; unknown keywords are ignored, as upstream."""
        config = PyramidConfig.resolve({"tracer_provider": tracer_provider, "unknown": 1})
        assert config.tracer_provider is tracer_provider

    def test_declared_options(self):
        """The options the README and the docstring are generated from."""
        assert [o.name for o in PyramidConfig.options()] == [
            "tracer_provider",
            "meter_provider",
            "excluded_urls",
        ]
        [excluded] = [o for o in PyramidConfig.options() if o.name == "excluded_urls"]
        assert excluded.env == ("OTEL_PYTHON_PYRAMID_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS")


@pytest.mark.parametrize("mode", ["http", "http/dup"])
def test_every_mode_traces(mode, monkeypatch, make_app, instrument, client, span_exporter):
    """Each semconv mode gives the same span name."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", mode)
    app = make_app()
    instrument()
    client(app).get("/hello/bob")
    assert names(span_exporter) == ["GET /hello/{name}"]
