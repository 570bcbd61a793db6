"""Flask: ``GET /users/42?q=abc`` against the route ``/users/<int:user_id>`` (a small string).

* ``flask``: through the Flask test client, as the issue asked (what a user's test measures);
* ``flask-wsgi``: the same app called as a WSGI application, as a server would (far less noise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Call, Providers, Workload, upstream_requirement
from ._wsgi import build_environ, served

if TYPE_CHECKING:
    import flask

PATH = "/users/42"
QUERY = "q=abc"
BODY = b"user 42"


def _app() -> flask.Flask:
    import flask

    app = flask.Flask("bench")

    @app.route("/users/<int:user_id>")
    def user(user_id: int) -> str:
        return f"user {user_id}"

    return app


def _instrumentarium_app(providers: Providers) -> flask.Flask:
    from instrumentarium.flask import FlaskInstrumentor

    app = _app()
    FlaskInstrumentor.instrument_app(
        app,
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    return app


def _upstream_app(providers: Providers) -> flask.Flask:
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    app = _app()
    FlaskInstrumentor.instrument_app(
        app,
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    return app


def _bare_app(providers: Providers) -> flask.Flask:
    return _app()


def _peer_app(providers: Providers) -> flask.Flask:
    from sentry_sdk.integrations.flask import FlaskIntegration

    from . import _sentry

    _sentry.init(FlaskIntegration())
    return _app()


def _carrier() -> dict[str, object]:
    return build_environ(PATH, QUERY)


# --- flask: the test client -------------------------------------------------------------------


def _test_client(app: flask.Flask) -> Call:
    client = app.test_client()
    url = f"{PATH}?{QUERY}"

    def call() -> bytes:
        with client.get(url) as response:
            return response.get_data()

    return call


def _client_bare(providers: Providers) -> Call:
    return _test_client(_bare_app(providers))


def _client_instrumentarium(providers: Providers) -> Call:
    return _test_client(_instrumentarium_app(providers))


def _client_upstream(providers: Providers) -> Call:
    return _test_client(_upstream_app(providers))


def _client_peer(providers: Providers) -> Call:
    return _test_client(_peer_app(providers))


# --- flask-wsgi: the app as a WSGI callable ---------------------------------------------------


def _wsgi_bare(providers: Providers) -> Call:
    return served(_bare_app(providers), _carrier())


def _wsgi_instrumentarium(providers: Providers) -> Call:
    return served(_instrumentarium_app(providers), _carrier())


def _wsgi_upstream(providers: Providers) -> Call:
    return served(_upstream_app(providers), _carrier())


def _wsgi_peer(providers: Providers) -> Call:
    return served(_peer_app(providers), _carrier())


_PACKAGES = ("flask",)
_UPSTREAM = (upstream_requirement("opentelemetry-instrumentation-flask"),)
_VERSIONS = ("flask", "werkzeug")

WORKLOADS = (
    Workload(
        name="flask",
        description="Flask test client, GET /users/42?q=abc (route /users/<int:user_id>)",
        bare=_client_bare,
        instrumentarium=_client_instrumentarium,
        upstream=_client_upstream,
        peer=_client_peer,
        carrier=_carrier,
        expect=BODY,
        packages=_PACKAGES,
        upstream_packages=_UPSTREAM,
        show_versions=_VERSIONS,
    ),
    Workload(
        name="flask-wsgi",
        description="the same Flask app called as a WSGI app with a prebuilt environ",
        bare=_wsgi_bare,
        instrumentarium=_wsgi_instrumentarium,
        upstream=_wsgi_upstream,
        peer=_wsgi_peer,
        carrier=_carrier,
        expect=BODY,
        packages=_PACKAGES,
        upstream_packages=_UPSTREAM,
        show_versions=_VERSIONS,
    ),
)
