"""Django: ``GET /users/42?q=abc`` against the route ``users/<int:user_id>/`` (a small string),
through Django's own WSGI handler (``WSGIHandler``: request object, middleware chain, URL
resolution, view, response) called with a prebuilt environ, like ``flask-wsgi``.

The project is configured in code (``settings.configure``): no database, no installed apps, an
empty ``MIDDLEWARE`` that the instrumentors insert their middleware into, and a URL
configuration of a few routes so that resolving is not a single-pattern special case.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import Call, Providers, Workload, upstream_requirement
from ._wsgi import served

PATH = "/users/42/"
QUERY = "q=abc"
BODY = b"user 42"


def _urlconf() -> type:
    from django.http import HttpResponse
    from django.urls import path

    def user(request: Any, user_id: int) -> HttpResponse:
        return HttpResponse(f"user {user_id}")

    def other(request: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse("other")

    class Urls:  # a class, not a module: settings.ROOT_URLCONF only needs ``urlpatterns``
        urlpatterns: ClassVar[list[Any]] = [
            path("", other),
            path("health/", other),
            path("items/<int:item_id>/", other),
            path("items/<int:item_id>/reviews/", other),
            path("users/", other),
            path("users/<int:user_id>/", user),
            path("users/<int:user_id>/orders/", other),
        ]

    return Urls


def _configure() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="benchmark",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=_urlconf(),
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
            LOGGING_CONFIG=None,
        )
        django.setup()


def _handler() -> Any:
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()  # loads MIDDLEWARE now: instrument first


def _carrier() -> dict[str, Any]:
    """The same request ``flask-wsgi`` sends, built with the standard library (Werkzeug is not
    in this workload's environments)."""
    from io import BytesIO

    target = f"{PATH}?{QUERY}"
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": PATH,
        "QUERY_STRING": QUERY,
        "RAW_URI": target,
        "REQUEST_URI": target,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "HTTP_USER_AGENT": "instrumentarium-bench/1.0",
        "HTTP_ACCEPT": "*/*",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50312",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(b""),
        "wsgi.errors": BytesIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _bare(providers: Providers) -> Call:
    _configure()
    return served(_handler(), _carrier())


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.django import DjangoInstrumentor

    _configure()
    DjangoInstrumentor().instrument(
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    return served(_handler(), _carrier())


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    _configure()
    DjangoInstrumentor().instrument(
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    return served(_handler(), _carrier())


def _peer(providers: Providers) -> Call:
    from sentry_sdk.integrations.django import DjangoIntegration

    from . import _sentry

    _sentry.init(DjangoIntegration())
    _configure()
    return served(_handler(), _carrier())


WORKLOADS = (
    Workload(
        name="django",
        description="Django's WSGI handler, GET /users/42/?q=abc (route users/<int:user_id>/)",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        peer=_peer,
        carrier=_carrier,
        expect=BODY,
        packages=("django",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-django"),),
        show_versions=("django", "asgiref"),
    ),
)
