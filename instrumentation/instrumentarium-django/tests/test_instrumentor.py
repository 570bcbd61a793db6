"""``DjangoInstrumentor``: the middleware in ``settings.MIDDLEWARE``, options, and undoing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from opentelemetry.trace import SpanKind

from instrumentarium.django import MIDDLEWARE_PATH, OpenTelemetryMiddleware

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
COMMON = "django.middleware.common.CommonMiddleware"


class TestMiddlewareSetting:
    def test_inserted_first_by_default(self, instrument):
        """``instrument()`` puts the middleware first in ``MIDDLEWARE``."""
        settings.MIDDLEWARE = [SESSION, COMMON]
        instrument()
        assert settings.MIDDLEWARE == [MIDDLEWARE_PATH, SESSION, COMMON]

    def test_tuple_stays_a_tuple(self, instrument, instrumentor):
        """A tuple ``MIDDLEWARE`` gets the middleware and stays a tuple; uninstrument restores
        it."""
        settings.MIDDLEWARE = (SESSION, COMMON)
        instrument()
        assert settings.MIDDLEWARE == (MIDDLEWARE_PATH, SESSION, COMMON)
        instrumentor.uninstrument()
        assert settings.MIDDLEWARE == (SESSION, COMMON)

    def test_none_is_an_empty_list(self, instrument):
        """``MIDDLEWARE = None`` is treated as an empty list."""
        settings.MIDDLEWARE = None
        instrument()
        assert settings.MIDDLEWARE == [MIDDLEWARE_PATH]

    def test_position_keyword(self, instrument):
        """``middleware_position`` is the index the middleware goes to."""
        settings.MIDDLEWARE = [SESSION, COMMON]
        instrument(middleware_position=1)
        assert settings.MIDDLEWARE == [SESSION, MIDDLEWARE_PATH, COMMON]

    def test_position_from_env(self, instrument, monkeypatch):
        """``OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION`` is used when the keyword is not given."""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION", "2")
        settings.MIDDLEWARE = [SESSION, COMMON]
        instrument()
        assert settings.MIDDLEWARE == [SESSION, COMMON, MIDDLEWARE_PATH]

    def test_keyword_wins_over_env(self, instrument, monkeypatch):
        """The keyword argument wins over the variable, as for every other option."""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION", "2")
        settings.MIDDLEWARE = [SESSION, COMMON]
        instrument(middleware_position=1)
        assert settings.MIDDLEWARE == [SESSION, MIDDLEWARE_PATH, COMMON]

    @pytest.mark.parametrize("position", [5, -1, "x"])
    def test_bad_position_gives_first_with_a_warning(
        self, instrument, instrumentarium_warnings, position
    ):
        """An index out of range, or not an integer, puts the middleware first, with a warning."""
        settings.MIDDLEWARE = [SESSION]
        instrument(middleware_position=position)
        assert settings.MIDDLEWARE == [MIDDLEWARE_PATH, SESSION]
        [warning] = instrumentarium_warnings()
        assert "middleware_position" in warning.getMessage()

    def test_bad_env_position_names_the_variable(
        self, instrument, instrumentarium_warnings, monkeypatch
    ):
        """A variable that is not an integer is reported by name and the middleware goes first."""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION", "last")
        settings.MIDDLEWARE = [SESSION]
        instrument()
        assert settings.MIDDLEWARE == [MIDDLEWARE_PATH, SESSION]
        [warning] = instrumentarium_warnings()
        assert "OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION" in warning.getMessage()

    def test_placed_by_hand_is_left_where_it_is(self, instrument, instrumentor, client, finished):
        """A middleware the user listed is not inserted again, stays after uninstrument, and
        records only while instrumented."""
        settings.MIDDLEWARE = [COMMON, MIDDLEWARE_PATH]
        instrument()
        assert settings.MIDDLEWARE == [COMMON, MIDDLEWARE_PATH]
        client().get("/user/1/")
        assert len(finished()) == 1
        instrumentor.uninstrument()
        assert settings.MIDDLEWARE == [COMMON, MIDDLEWARE_PATH]
        client().get("/user/1/")
        assert len(finished()) == 1

    def test_middleware_classes_is_left_alone_with_a_warning(
        self, instrument, instrumentarium_warnings
    ):
        """``MIDDLEWARE_CLASSES`` (ignored by Django since 2.0) is not edited; a warning says so
        and the middleware goes into ``MIDDLEWARE``, which Django reads."""
        settings.MIDDLEWARE_CLASSES = (COMMON,)
        try:
            settings.MIDDLEWARE = []
            instrument()
            assert settings.MIDDLEWARE_CLASSES == (COMMON,)
            assert settings.MIDDLEWARE == [MIDDLEWARE_PATH]
            [warning] = instrumentarium_warnings()
            assert "MIDDLEWARE_CLASSES" in warning.getMessage()
        finally:
            del settings.MIDDLEWARE_CLASSES


class TestInstrumentLifecycle:
    def test_uninstrument_removes_what_it_added(self, instrument, instrumentor, client, finished):
        """After ``uninstrument()`` nothing is left in ``MIDDLEWARE`` and a client built before
        records nothing more."""
        settings.MIDDLEWARE = [COMMON]
        instrument(is_sql_commentor_enabled=True)
        early = client()
        instrumentor.uninstrument()
        assert settings.MIDDLEWARE == [COMMON]
        early.get("/user/1/")
        client().get("/user/1/")
        assert finished() == []

    def test_instrument_again_after_uninstrument(self, instrument, instrumentor, client, finished):
        """Instrument, uninstrument, instrument: one middleware, one span per request."""
        settings.MIDDLEWARE = []
        instrument()
        instrumentor.uninstrument()
        instrument()
        assert settings.MIDDLEWARE == [MIDDLEWARE_PATH]
        client().get("/user/1/")
        assert len(finished()) == 1

    def test_instrument_twice_is_one_middleware(self, instrument, client, finished):
        """A second ``instrument()`` changes nothing (BaseInstrumentor warns)."""
        settings.MIDDLEWARE = []
        instrument()
        instrument()
        assert settings.MIDDLEWARE == [MIDDLEWARE_PATH]
        client().get("/user/1/")
        assert len(finished()) == 1

    @pytest.mark.parametrize("value", ["false", "False", "FALSE"])
    def test_instrument_env_false_disables(self, instrument, client, finished, monkeypatch, value):
        """``OTEL_PYTHON_DJANGO_INSTRUMENT=false`` (any case) leaves Django untouched."""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_INSTRUMENT", value)
        settings.MIDDLEWARE = []
        instrument()
        assert settings.MIDDLEWARE == []
        client().get("/user/1/")
        assert finished() == []

    def test_not_instrumented_middleware_passes_through(self, client, finished, instrumentor):
        """The middleware placed by hand without ``instrument()`` serves requests, tracing none."""
        settings.MIDDLEWARE = [MIDDLEWARE_PATH]
        assert client().get("/user/3/").content == b"user 3"
        assert finished() == []


class TestOptions:
    def test_excluded_urls_keyword(self, instrument, client, finished, metric_points):
        """``excluded_urls`` is searched in the absolute URL without the query: a match is
        neither traced nor measured."""
        instrument(excluded_urls="testserver/user/1/$,re/")
        client().get("/user/1/?q=x")
        client().get("/re/abc/")
        client().get("/user/12/")
        [span] = finished()
        assert span.attributes["http.url"] == "http://testserver/user/12/"
        [point] = metric_points()["http.server.duration"]
        assert point.count == 1

    def test_excluded_urls_env_and_fallback(self, instrument, client, finished, monkeypatch):
        """``OTEL_PYTHON_DJANGO_EXCLUDED_URLS`` wins; ``OTEL_PYTHON_EXCLUDED_URLS`` is the
        fallback."""
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "user")
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "created")
        instrument()
        client().get("/created/")
        client().get("/user/1/")
        assert [span.name for span in finished()] == ["GET user/<int:uid>/"]

    @pytest.mark.parametrize(("switch", "expected"), [(None, b"True"), ("false", b"False")])
    def test_instrumentation_below_an_excluded_url_is_suppressed(
        self, instrument, client, finished, monkeypatch, switch, expected
    ):
        """An excluded request's view runs with the instrumentation suppressed (its database
        or HTTP client call makes no orphan root span); ``OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS=
        false`` restores upstream's behaviour. A traced request is never suppressed."""
        if switch is not None:
            monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS", switch)
        instrument(excluded_urls="suppressed")
        assert client().get("/suppressed/").content == expected
        assert finished() == []
        assert client().get("/user/1/").status_code == 200
        assert len(finished()) == 1

    def test_hooks_receive_span_request_response(self, instrument, client, finished):
        """``request_hook(span, request)`` runs at the start, ``response_hook(span, request,
        response)`` before the end; what they set is on the span."""
        seen = []

        def request_hook(span, request):
            seen.append(("request", request.path))
            span.set_attribute("custom.request", request.path)

        def response_hook(span, request, response):
            seen.append(("response", response.status_code))
            span.set_attribute("custom.status", response.status_code)

        instrument(request_hook=request_hook, response_hook=response_hook)
        client().get("/created/")
        [span] = finished()
        assert seen == [("request", "/created/"), ("response", 201)]
        assert span.attributes["custom.request"] == "/created/"
        assert span.attributes["custom.status"] == 201

    def test_raising_hooks_are_logged_and_the_request_goes_on(
        self, instrument, client, finished, instrumentarium_warnings
    ):
        """A hook that raises is logged at WARNING; the response and the span are unaffected."""

        def broken(*args):
            raise RuntimeError("hook bug")

        instrument(request_hook=broken, response_hook=broken)
        response = client().get("/user/4/")
        assert response.content == b"user 4"
        [span] = finished()
        assert span.name == "GET user/<int:uid>/"
        messages = [record.getMessage() for record in instrumentarium_warnings()]
        assert any("request_hook" in message for message in messages)
        assert any("response_hook" in message for message in messages)

    def test_traced_request_attributes_keyword(self, instrument, client, finished):
        """``traced_request_attributes`` wins over the variable."""
        instrument(traced_request_attributes=["method"])
        client().get("/user/4/")
        [span] = finished()
        assert span.attributes["method"] == "GET"


class TestPackage:
    def test_middleware_path_imports_the_public_class(self):
        """The dotted path in ``MIDDLEWARE`` is the documented public class."""
        from django.utils.module_loading import import_string

        assert import_string(MIDDLEWARE_PATH) is OpenTelemetryMiddleware
        assert OpenTelemetryMiddleware.sync_capable
        assert OpenTelemetryMiddleware.async_capable

    def test_instrument_before_django_is_imported_does_not_import_it(self):
        """``instrument()`` while Django is not imported (the agent starts before the app)
        imports nothing of Django; the middleware goes in when Django loads its middleware,
        and requests are traced, exceptions from other middleware included."""
        code = (
            "import os, sys\n"
            "from opentelemetry.sdk.trace import TracerProvider\n"
            "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
            "from opentelemetry.sdk.trace.export.in_memory_span_exporter import"
            " InMemorySpanExporter\n"
            "from instrumentarium.django import DjangoInstrumentor\n"
            "exporter = InMemorySpanExporter()\n"
            "provider = TracerProvider()\n"
            "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
            "DjangoInstrumentor().instrument(tracer_provider=provider)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))\n"
            "os.environ['DJANGO_SETTINGS_MODULE'] = 'django_testproject.settings'\n"
            "import django; django.setup()\n"
            "from django.conf import settings\n"
            "settings.MIDDLEWARE = ['django_testproject.middleware.RaisingMiddleware']\n"
            "from django.test import Client\n"
            "client = Client(raise_request_exception=False)\n"
            "print(client.get('/mw-boom-in/').status_code, list(settings.MIDDLEWARE))\n"
            "print([(s.name, len(s.events)) for s in exporter.get_finished_spans()])\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=Path(__file__).parent,
            env={"PATH": "", "PYTHONPATH": str(Path(__file__).parent)},
        )
        assert out.stdout.splitlines() == [
            "[]",
            f"500 ['{MIDDLEWARE_PATH}', 'django_testproject.middleware.RaisingMiddleware']",
            "[('GET', 1)]",
        ], out.stderr

    def test_unconfigured_settings_are_left_for_the_project(self):
        """With no settings module yet at ``instrument()`` (``opentelemetry-instrument python
        manage.py ...``: ``manage.py`` sets ``DJANGO_SETTINGS_MODULE`` afterwards), Django's
        defaults are *not* configured over the project's settings; the middleware goes in when
        Django builds its handler, and requests are traced."""
        code = (
            "import os\n"
            "from opentelemetry.sdk.trace import TracerProvider\n"
            "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
            "from opentelemetry.sdk.trace.export.in_memory_span_exporter import"
            " InMemorySpanExporter\n"
            "from django.conf import settings\n"
            "from instrumentarium.django import DjangoInstrumentor\n"
            "exporter = InMemorySpanExporter()\n"
            "provider = TracerProvider()\n"
            "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
            "DjangoInstrumentor().instrument(tracer_provider=provider)\n"
            "print(settings.configured)\n"
            "os.environ['DJANGO_SETTINGS_MODULE'] = 'django_testproject.settings'\n"
            "import django; django.setup()\n"
            "from django.test import Client\n"
            "print(Client().get('/user/3/').status_code, list(settings.MIDDLEWARE))\n"
            "print([span.name for span in exporter.get_finished_spans()])\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=Path(__file__).parent,
            env={"PATH": "", "PYTHONPATH": str(Path(__file__).parent)},
        )
        assert out.stdout.splitlines() == [
            "False",
            f"200 ['{MIDDLEWARE_PATH}']",
            "['GET user/<int:uid>/']",
        ], out.stderr

    def test_span_kind_server_at_top_level(self, instrument, client, finished):
        """With no span current, the request's span is SERVER."""
        instrument()
        client().get("/user/1/")
        [span] = finished()
        assert span.kind is SpanKind.SERVER


class TestSwappedSettings:
    """Test suites swap ``django.conf.settings`` (``override_settings``, ``modify_settings``,
    another settings object per test class); requests stay traced through every swap."""

    def test_override_settings_replacing_middleware(self, instrument, client, finished):
        """``override_settings(MIDDLEWARE=[...])`` without ours: still one span per request."""
        from django.test import override_settings

        settings.MIDDLEWARE = []
        instrument()
        with override_settings(MIDDLEWARE=[COMMON]):
            client().get("/user/1/")
            assert settings.MIDDLEWARE == [MIDDLEWARE_PATH, COMMON]
        assert settings.MIDDLEWARE == [MIDDLEWARE_PATH]
        assert [s.name for s in finished()] == ["GET user/<int:uid>/"]

    def test_instrumented_inside_an_override(self, instrument, client, finished):
        """``instrument()`` while an override is active keeps tracing once it has ended."""
        from django.test import override_settings

        settings.MIDDLEWARE = []
        with override_settings(DEBUG=False):
            instrument()
            client().get("/user/1/")
        client().get("/user/2/")
        assert len(finished()) == 2

    def test_modify_settings(self, instrument, client, finished):
        """``modify_settings`` appending and removing entries keeps the middleware."""
        from django.test import modify_settings

        settings.MIDDLEWARE = [SESSION]
        instrument()
        with modify_settings(MIDDLEWARE={"append": COMMON, "remove": [SESSION]}):
            client().get("/user/1/")
        assert len(finished()) == 1

    def test_uninstrument_cleans_every_settings_object(self, instrument, instrumentor, client):
        """``uninstrument()`` removes what it added to the settings it saw, override included."""
        from django.test import override_settings

        settings.MIDDLEWARE = [COMMON]
        instrument()
        with override_settings(MIDDLEWARE=[SESSION]):
            client().get("/user/1/")
            instrumentor.uninstrument()
            assert settings.MIDDLEWARE == [SESSION]
        assert settings.MIDDLEWARE == [COMMON]
