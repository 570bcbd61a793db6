"""The instrumentor's lifecycle: WSGI and ASGI apps created before or after ``instrument()``, a
complete ``uninstrument()``, what an ASGI app leaves untraced (websockets, lifespan), and the
declared options."""

from __future__ import annotations

import asyncio

import falcon
import falcon.asgi
import falcon.testing
import pytest

from instrumentarium.asgi import OpenTelemetryMiddleware
from instrumentarium.falcon._config import FalconConfig
from instrumentarium.falcon._patches import ACTIVE


def names(span_exporter):
    return [span.name for span in span_exporter.get_finished_spans()]


class TestInstrument:
    def test_apps_created_before_and_after_instrument_are_traced_with_the_same_hooks(
        self, make_app, instrument, client, span_exporter
    ):
        """An app created before ``instrument()`` and one created after are both traced, and
        both get the hooks (upstream: only the first app created after it gets them)."""
        before = make_app()
        hooked = []
        instrument(request_hook=lambda span, req: hooked.append(req.path))
        after = make_app()
        client(before).simulate_get("/users/1")
        client(after).simulate_get("/users/2")
        assert names(span_exporter) == ["GET /users/{user_id:int}"] * 2
        assert hooked == ["/users/1", "/users/2"]

    def test_uninstrument_restores_every_patched_method(
        self, make_app, instrument, client, span_exporter, originals
    ):
        """``uninstrument()`` leaves Falcon's classes as they were (no wrapper) and traces
        nothing; instrumenting again traces once (no stacked wrapper)."""
        app = make_app()
        instrumentor = instrument()
        instrumentor.uninstrument()
        for (owner, name), original in originals.items():
            assert owner.__dict__[name] is original, name
        client(app).simulate_get("/users/1")
        assert names(span_exporter) == []
        instrument()
        instrument()  # idempotent
        client(app).simulate_get("/users/1")
        assert names(span_exporter) == ["GET /users/{user_id:int}"]
        assert ACTIVE.active

    def test_asgi_apps_created_before_and_after_instrument_are_traced_with_the_same_hooks(
        self, make_asgi_app, instrument, asgi_client, span_exporter
    ):
        """``falcon.asgi.App`` is covered like ``falcon.App``: an app created before
        ``instrument()`` and one created after are both traced, with the hooks."""
        before = make_asgi_app()
        hooked = []
        instrument(request_hook=lambda span, req: hooked.append(req.path))
        after = make_asgi_app()
        assert asgi_client(before).simulate_get("/users/1").text == "user 1"
        assert asgi_client(after).simulate_get("/users/2").text == "user 2"
        assert names(span_exporter) == ["GET /users/{user_id:int}"] * 2
        assert hooked == ["/users/1", "/users/2"]

    def test_uninstrument_leaves_asgi_apps_untraced(
        self, make_asgi_app, instrument, asgi_client, span_exporter, originals
    ):
        """After ``uninstrument()`` an ASGI app answers as before and makes no span; the ASGI
        classes have no wrapper left."""
        app = make_asgi_app()
        instrument().uninstrument()
        assert asgi_client(app).simulate_get("/users/1").text == "user 1"
        assert names(span_exporter) == []
        for owner, name in [(falcon.asgi.App, "__call__"), (falcon.asgi.Request, "__init__")]:
            assert owner.__dict__[name] is originals[(owner, name)], name

    def test_an_asgi_app_inside_the_asgi_middleware_makes_one_span(
        self, make_asgi_app, instrument, asgi_client, span_exporter, tracer_provider
    ):
        """A ``falcon.asgi`` app that is also wrapped in ``OpenTelemetryMiddleware`` answers
        as before with one server span, the middleware's (no second span for one request)."""
        app = make_asgi_app()
        instrument()
        wrapped = OpenTelemetryMiddleware(
            app, tracer_provider=tracer_provider, exclude_spans=["receive", "send"]
        )
        assert asgi_client(wrapped).simulate_get("/users/1").text == "user 1"
        assert names(span_exporter) == ["GET /users/1"]

    def test_asgi_websockets_and_lifespan_are_not_traced_and_still_work(
        self, make_asgi_app, instrument, span_exporter
    ):
        """A websocket connection and the lifespan events of an ASGI app run as before and
        make no span (only ``http`` requests are traced)."""
        events = []

        class Startup:
            async def process_startup(self, scope, event):
                events.append("startup")

        class Echo:
            async def on_websocket(self, req, ws):
                await ws.accept()
                await ws.send_text(await ws.receive_text())

        app = make_asgi_app(middleware=[Startup()])
        app.add_route("/echo", Echo())
        instrument()

        async def talk():
            async with falcon.testing.ASGIConductor(app) as conductor:
                async with conductor.simulate_ws("/echo") as ws:
                    await ws.send_text("hello")
                    return await ws.receive_text()

        assert asyncio.run(talk()) == "hello"
        assert events == ["startup"]
        assert names(span_exporter) == []

    def test_a_request_object_built_inside_a_responder_is_not_the_requests(
        self, make_app, instrument, client, span_exporter
    ):
        """A ``falcon.Request`` a responder builds from another environ does not replace the
        request the hooks get."""
        seen = []

        class Builder:
            def on_get(self, req, resp):
                falcon.Request(falcon.testing.create_environ(path="/other"))

        app = make_app()
        app.add_route("/builder", Builder())
        instrument(response_hook=lambda span, req, resp: seen.append(req.path))
        client(app).simulate_get("/builder")
        assert seen == ["/builder"]


class TestOptions:
    def test_defaults(self):
        """Nothing given: every option has its declared default."""
        config = FalconConfig.resolve({})
        assert config.request_hook is None
        assert config.traced_request_attributes is None

    def test_unknown_keywords_are_ignored(self, tracer_provider):
        """A keyword argument is taken as given; unknown keywords are ignored, as upstream."""
        config = FalconConfig.resolve({"tracer_provider": tracer_provider, "unknown": 1})
        assert config.tracer_provider is tracer_provider

    def test_declared_options_in_upstreams_order(self):
        """The options the README and the docstring are generated from."""
        assert [o.name for o in FalconConfig.options()] == [
            "tracer_provider",
            "meter_provider",
            "request_hook",
            "response_hook",
            "traced_request_attributes",
            "excluded_urls",
        ]


@pytest.mark.parametrize("mode", ["http", "http/dup"])
def test_every_mode_names_the_span_alike(
    mode, monkeypatch, make_app, instrument, client, span_exporter
):
    """Each semconv mode gives the same span name."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", mode)
    app = make_app()
    instrument()
    client(app).simulate_get("/users/1")
    assert names(span_exporter) == ["GET /users/{user_id:int}"]
