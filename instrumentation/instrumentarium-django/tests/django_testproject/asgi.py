"""The project as an ASGI app for uvicorn, instrumented in code."""

from __future__ import annotations

from django_testproject import served

served.instrument()

from django.core.asgi import get_asgi_application  # noqa: E402 - after instrument()

application = get_asgi_application()
