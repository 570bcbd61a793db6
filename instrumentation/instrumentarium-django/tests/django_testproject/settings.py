"""Settings of the test project; ``conftest.py`` passes ``SETTINGS`` to ``settings.configure``
and the real-server apps (``wsgi.py``, ``asgi.py``) use this module as
``DJANGO_SETTINGS_MODULE``."""

from __future__ import annotations

from typing import Any

SECRET_KEY = "instrumentarium-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "django_testproject.urls"
MIDDLEWARE: list[str] = []
INSTALLED_APPS: list[str] = []
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
LOGGING_CONFIG = None  # the 500 tests would otherwise print a traceback each

SETTINGS: dict[str, Any] = {
    name: value for name, value in dict(globals()).items() if name.isupper() and name != "SETTINGS"
}
