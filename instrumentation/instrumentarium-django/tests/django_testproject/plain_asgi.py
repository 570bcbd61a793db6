"""The project as an ASGI app with no instrumentation in code: the zero-code tests run it as
``opentelemetry-instrument uvicorn django_testproject.plain_asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_testproject.settings")

application = get_asgi_application()
