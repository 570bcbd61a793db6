"""The project as a WSGI app for gunicorn, instrumented in code."""

from __future__ import annotations

from django_testproject import served

served.instrument()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after instrument()

application = get_wsgi_application()
