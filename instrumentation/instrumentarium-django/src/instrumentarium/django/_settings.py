"""``settings.MIDDLEWARE``: where ``instrument()`` puts the middleware, and taking it out again.

* The middleware goes in only when it is not listed yet (by its public or its module path).
* Position: the ``middleware_position`` keyword argument, else
  ``OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION``, else 0 (first). An index outside
  ``0..len(MIDDLEWARE)`` or a value that is not an integer is reported once and gives 0.
* ``MIDDLEWARE`` may be a list or a tuple (it keeps its type) or unset/None (an empty list).
  ``MIDDLEWARE_CLASSES``, which Django has ignored since 2.0, is left alone, with a warning.
* Settings swapped while instrumented (``override_settings``, ``modify_settings``, another
  settings object) get the middleware too, when Django builds a middleware chain from them.
* ``uninstrument()`` removes exactly the entries it added, from each settings object.
* Settings that cannot be read yet (no ``DJANGO_SETTINGS_MODULE``: ``opentelemetry-instrument
  python manage.py runserver`` instruments before ``manage.py`` sets it) are not configured with
  Django's defaults, which would leave the project without its own settings; the middleware is
  inserted when Django first builds a handler's middleware chain (``BaseHandler.load_middleware``),
  by which time the project has configured them. The same happens when Django is not imported
  yet at ``instrument()``, so the agent's start-up does not import it. See ``Placement``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Final, Optional

from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import logger, warn_once

__all__ = [
    "MIDDLEWARE_PATH",
    "MIDDLEWARE_POSITION_ENV",
    "Added",
    "Placement",
    "configured_settings",
    "insert_middleware",
    "remove_middleware",
]

MIDDLEWARE_PATH: Final = "instrumentarium.django.OpenTelemetryMiddleware"
MIDDLEWARE_POSITION_ENV: Final = "OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION"
_OUR_PATHS: Final = frozenset(
    {MIDDLEWARE_PATH, "instrumentarium.django._middleware.OpenTelemetryMiddleware"}
)


class Added:
    """What ``insert_middleware`` changed, for ``remove_middleware``. (A plain class: this module
    is imported at start-up, where a dataclass would cost a millisecond to build.)"""

    __slots__ = ("path", "settings")

    def __init__(self, settings: Any, path: str) -> None:
        self.settings = settings  # the concrete settings object (behind ``django.conf.settings``)
        self.path = path


def configured_settings() -> Optional[Any]:
    """``django.conf.settings`` when they can be read now; None when nothing configured them
    yet (no ``DJANGO_SETTINGS_MODULE``, or one that cannot be imported yet)."""
    # Lazy: importing this package must not import Django.
    from django.conf import settings  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    try:
        getattr(settings, "MIDDLEWARE", None)
    except (ImproperlyConfigured, ModuleNotFoundError):
        logger.debug("Django settings are not configured yet; placing the middleware later")
        return None
    return settings


class Placement:
    """Keeps the middleware in the settings Django builds each middleware chain from.

    Test suites swap the settings under a running process (``override_settings``,
    ``modify_settings``, a settings object per test class). ``BaseHandler.load_middleware`` is
    patched while instrumented: just before Django reads ``MIDDLEWARE`` for a new chain, the
    middleware is inserted into the settings in force then, if they do not list it. The first
    time, ``on_first(settings)`` runs (what needs the project's settings, e.g. the SQL
    commenter). ``stop()`` takes the middleware out of every settings object it went into.
    """

    def __init__(self, position: object, on_first: Callable[[Any], None]) -> None:
        self.position = position
        self._on_first: Optional[Callable[[Any], None]] = on_first
        self._added: list[Added] = []

    def start(self) -> None:
        """Place the middleware now if the settings can be read, and at every chain's load."""
        global _placement
        _placement = self
        _LOAD_MIDDLEWARE.apply()
        settings = configured_settings() if "django.conf" in sys.modules else None
        if settings is not None:
            self.place(settings)

    def place(self, settings: Any) -> None:
        first, self._on_first = self._on_first, None
        if first is not None:
            first(settings)
        added = insert_middleware(settings, self.position)
        if added is not None:
            self._added.append(added)

    def stop(self) -> None:
        global _placement
        if _placement is self:
            _placement = None
            _LOAD_MIDDLEWARE.remove()
        added, self._added = self._added, []
        for entry in reversed(added):
            remove_middleware(entry)


_placement: Optional[Placement] = None


def _load_middleware(
    wrapped: Callable[..., Any], _handler: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    placement = _placement
    if placement is not None:
        from django.conf import settings  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

        try:
            placement.place(settings)
        except Exception:  # never stop Django from starting
            logger.warning("inserting the OpenTelemetry middleware failed", exc_info=True)
    return wrapped(*args, **kwargs)


_LOAD_MIDDLEWARE: Final = PatchSet(
    [Patch("django.core.handlers.base", "BaseHandler.load_middleware", _load_middleware)]
)


def _position(given: object, length: int) -> int:
    source = "middleware_position"
    value: object = given
    if value is None:
        raw = os.environ.get(MIDDLEWARE_POSITION_ENV, "").strip()
        if not raw:
            return 0
        source = MIDDLEWARE_POSITION_ENV
        try:
            value = int(raw)
        except ValueError:
            warn_once(
                ("django-position", raw),
                "%s=%r is not an integer; inserting the middleware first",
                source,
                raw,
            )
            return 0
    if isinstance(value, bool) or not isinstance(value, int):
        warn_once(
            ("django-position-type", repr(value)),
            "%s must be an integer, got %r; inserting the middleware first",
            source,
            value,
        )
        return 0
    if not 0 <= value <= length:
        warn_once(
            ("django-position-range", value, length),
            "%s=%d is outside 0..%d (the length of MIDDLEWARE); inserting the middleware first",
            source,
            value,
            length,
        )
        return 0
    return value


def insert_middleware(settings: Any, position: object) -> Optional[Added]:
    """Insert the middleware unless ``MIDDLEWARE`` lists it already; None when nothing changed."""
    if getattr(settings, "MIDDLEWARE_CLASSES", None):
        warn_once(
            "django-middleware-classes",
            "settings.MIDDLEWARE_CLASSES is ignored by Django 2.0 and newer; instrumentarium"
            " adds its middleware to settings.MIDDLEWARE, which Django reads",
        )
    current = getattr(settings, "MIDDLEWARE", None)
    entries = list(current) if current is not None else []
    if any(entry in _OUR_PATHS for entry in entries):
        return None
    entries.insert(_position(position, len(entries)), MIDDLEWARE_PATH)
    settings.MIDDLEWARE = tuple(entries) if isinstance(current, tuple) else entries
    return Added(getattr(settings, "_wrapped", settings), MIDDLEWARE_PATH)


def remove_middleware(added: Added) -> None:
    """Take the entry out of the settings object it went into. Through ``django.conf.settings``
    when that object is the one in force (its attribute cache is then cleared too)."""
    settings = added.settings
    from django.conf import settings as lazy  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    if getattr(lazy, "_wrapped", None) is settings:
        settings = lazy
    current = getattr(settings, "MIDDLEWARE", None)
    if current is None:
        return
    entries = list(current)
    if added.path not in entries:
        return
    entries.remove(added.path)
    settings.MIDDLEWARE = tuple(entries) if isinstance(current, tuple) else entries
