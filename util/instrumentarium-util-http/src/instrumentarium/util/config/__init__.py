"""Configuration: declared once as data, resolved once at ``instrument()``, held in one place.

**Options declared once.** An instrumentor's options are the fields of ``<Lib>Config``, a frozen
``Config`` subclass, each made with ``option(...)``: its keyword argument (the field's name), its
default, its environment variable and a one-line doc. Everything else is derived: the values
(``Config.resolve(kwargs)``: keyword argument, else environment, else default), the README's
options table and the instrumentor's docstring (``scripts/generate`` renders both from
``Config.options()``)::

    class FlaskConfig(Config):
        request_hook: Optional[RequestHook] = option(None, doc="``hook(span, environ)``, ...")
        excluded_urls: ExcludedUrlsOption = option(
            None, env="OTEL_PYTHON_FLASK_EXCLUDED_URLS", doc="regexes searched in the URL"
        )

**The configuration in force.** ``ActiveConfig`` holds, for one instrumentor, the configuration
``instrument()`` set for every object (``set_global``), each object's own one
(``instrument_app``, ``instrument_session``, ``instrument_client``: ``set_own``), or ``OFF`` for
an object that must stay untraced under ``instrument()``, and applies its ``PatchSet`` exactly
while any of them is set. A patched call asks ``config_for(obj)``.

**Environment values.** ``env_list``, ``env_flag``, ``split_comma_list`` and
``compile_patterns`` read values with one clear warning per bad value, naming its variable.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import threading
import warnings
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Final, Generic, Optional, TypeVar, Union

from instrumentarium.util.patching import PatchSet
from instrumentarium.util.safety import warn_once

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "Config",
    "ProviderConfig",
    "Option",
    "option",
    "ActiveConfig",
    "OFF",
    "env_list",
    "env_flag",
    "split_comma_list",
    "compile_patterns",
]

_NO_DEFAULT: Final[Any] = object()


class Option:
    """What one option is: the facts the docs and the resolution are derived from."""

    __slots__ = ("default", "doc", "env", "name", "parse", "type")

    def __init__(
        self,
        name: str,  # the keyword argument
        default: Any,
        doc: str,  # one line, Markdown/reST inline literals allowed
        env: tuple[str, ...],  # the environment variables read when the keyword is not given
        parse: Optional[Callable[[str], Any]],  # env text -> value; None: the component reads it
        type: str,  # the annotation, as written
    ) -> None:
        self.name = name
        self.default = default
        self.doc = doc
        self.env = env
        self.parse = parse
        self.type = type

    def __repr__(self) -> str:
        return f"Option({self.name!r}, default={self.default!r}, env={self.env!r})"


class _Field:
    """A declared field of a ``Config``: its default (or a factory for a mutable one), what
    ``option()`` said about it (None: a plain field, not an option) and its annotation, as
    written (set when its class is built)."""

    __slots__ = ("annotation", "default", "factory", "meta")

    def __init__(
        self,
        default: Any,
        factory: Optional[Callable[[], Any]] = None,
        meta: Optional[tuple[str, tuple[str, ...], Optional[Callable[[str], Any]]]] = None,
    ) -> None:
        self.default = default
        self.factory = factory
        self.meta = meta
        self.annotation = ""

    def value(self) -> Any:
        return self.default if self.factory is None else self.factory()


def option(
    default: Any,
    *,
    doc: str,
    env: Union[str, tuple[str, ...], None] = None,
    parse: Optional[Callable[[str], Any]] = None,
) -> Any:
    """A ``Config`` field that is an option (see the module docstring).

    ``env`` names the variable(s) that configure the option when its keyword argument is not
    given. With ``parse``, ``Config.resolve`` reads the first one set and parses it; without,
    ``env`` is documentation only, because the component the value is passed to (``ExcludedUrls``,
    ``HeaderCapture``) reads its variables itself. A list, dict or set default is copied for
    each configuration.
    """
    names = (env,) if isinstance(env, str) else tuple(env or ())
    meta = (doc, names, parse)
    if isinstance(default, (list, dict, set)):
        value = default
        return _Field(default, lambda: type(value)(value), meta)
    return _Field(default, None, meta)


C = TypeVar("C", bound="Config")


class Config:
    """Base of every ``<Lib>Config``: resolved options, frozen once built.

    A subclass declares its fields as annotated class attributes, as for a dataclass, and gets
    what ``@dataclass(frozen=True, kw_only=True)`` would give it: a keyword-only ``__init__``,
    ``__eq__``, ``__hash__`` and ``__repr__`` over them, its bases' fields first. Not
    ``@dataclass`` itself: ``opentelemetry-instrument`` builds every instrumentor's
    configuration class at start-up, and a dataclass takes about a millisecond to build (it
    compiles the source of each generated method), a third of our start-up imports.
    """

    _fields: ClassVar[dict[str, _Field]] = {}
    _options: ClassVar[Optional[tuple[Option, ...]]] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls._fields)
        namespace = cls.__dict__
        for name, annotation in _own_annotations(cls).items():
            if "ClassVar" in str(annotation):
                continue
            declared = namespace.get(name, _NO_DEFAULT)
            field = declared if isinstance(declared, _Field) else _Field(declared)
            field.annotation = str(annotation)
            fields[name] = field
            if declared is not _NO_DEFAULT:
                delattr(cls, name)  # the value lives on each instance
        cls._fields = fields
        cls._options = None

    def __init__(self, **values: Any) -> None:
        for name, field in self._fields.items():
            if name in values:
                value = values.pop(name)
            elif field.default is _NO_DEFAULT:
                raise TypeError(f"{type(self).__name__}() missing keyword argument {name!r}")
            else:
                value = field.value()
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword(s) {sorted(values)}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({values})"

    @classmethod
    def options(cls) -> tuple[Option, ...]:
        """The declared options, in declaration order."""
        found = cls.__dict__.get("_options")
        if found is None:
            found = tuple(
                Option(
                    name=name,
                    default=field.value(),
                    doc=field.meta[0],
                    env=field.meta[1],
                    parse=field.meta[2],
                    type=field.annotation,
                )
                for name, field in cls._fields.items()
                if field.meta is not None
            )
            cls._options = found
        return found

    @classmethod
    def resolve(cls: type[C], kwargs: Mapping[str, Any]) -> C:
        """Keyword argument (None counts as not given), else environment, else default.

        Keywords that are not options are ignored, as upstream ignores them (``BaseInstrumentor``
        passes every keyword of ``instrument()`` through).
        """
        values: dict[str, Any] = {}
        for opt in cls.options():
            given = kwargs.get(opt.name)
            if given is not None:
                values[opt.name] = given
                continue
            if opt.parse is not None:
                for name in opt.env:
                    text = os.environ.get(name)
                    if text is not None and text.strip():
                        values[opt.name] = _parse(opt, name, text)
                        break
        return cls(**values)


def _own_annotations(cls: type) -> dict[str, Any]:
    """The annotations a class declares itself (not its bases'), in order."""
    get_annotations = getattr(inspect, "get_annotations", None)  # Python 3.10+
    if get_annotations is not None:
        found: dict[str, Any] = get_annotations(cls)
        return found
    return dict(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063  # Python 3.9


class ProviderConfig(Config):
    """A ``Config`` with the two options every instrumentor takes, declared here once; a
    subclass's own options follow them."""

    tracer_provider: Optional[TracerProvider] = option(
        None, doc="where spans go; None: the global tracer provider"
    )
    meter_provider: Optional[MeterProvider] = option(
        None, doc="where metrics go; None: the global meter provider"
    )


def _parse(opt: Option, name: str, text: str) -> Any:
    assert opt.parse is not None
    try:
        return opt.parse(text)
    except (TypeError, ValueError) as exc:
        warn_once(
            ("option", name, text),
            "%s=%r is not valid (%s); using the default, %r",
            name,
            text,
            exc,
            opt.default,
        )
        return opt.default


class _Off:
    """An object's own configuration that says: not traced, even under ``instrument()``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OFF"


OFF: Final = _Off()
T = TypeVar("T")


class ActiveConfig(Generic[T]):
    """The configuration in force for one instrumentor (see the module docstring).

    An object's own configuration is kept in its ``__dict__`` under ``attr`` (one dict lookup on
    the per-call path), or in a weak dictionary for objects without one. The patch set is applied
    while the global configuration or any live object's own one is set.
    """

    __slots__ = ("_attr", "_lock", "_objects", "_others", "global_", "patches")

    def __init__(self, attr: str, patches: Optional[PatchSet] = None) -> None:
        self._attr = attr
        self.patches = patches
        self.global_: Optional[T] = None
        self._objects: weakref.WeakSet[Any] = weakref.WeakSet()  # objects with their own
        self._others: weakref.WeakKeyDictionary[Any, Union[T, _Off]] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()

    def config_for(self, obj: object) -> Optional[T]:
        """The configuration that applies to ``obj``: its own, else the global one; None when
        it is ``OFF`` or nothing is instrumented."""
        try:
            own = obj.__dict__.get(self._attr)
        except AttributeError:
            own = self._other(obj)
        if own is None:
            return self.global_
        return None if own is OFF else own

    def own(self, obj: object) -> Union[T, _Off, None]:
        """``obj``'s own configuration (or ``OFF``); None when it follows the global one."""
        try:
            own: Union[T, _Off, None] = obj.__dict__.get(self._attr)
        except AttributeError:
            own = self._other(obj)
        return own

    def _other(self, obj: object) -> Union[T, _Off, None]:
        """The own configuration of an object without a ``__dict__``; None for one that cannot
        have any (no weak reference either: None, an int, a slotted object): the global one
        applies to it, as to a wrapped plain function's missing instance."""
        try:
            return self._others.get(obj)
        except TypeError:
            return None

    def set_own(self, obj: object, config: Union[T, _Off, None]) -> None:
        """Give ``obj`` its own configuration, ``OFF``, or (None) make it follow the global."""
        with self._lock:
            try:
                namespace = obj.__dict__
            except AttributeError:
                try:
                    if config is None:
                        self._others.pop(obj, None)
                    else:
                        self._others[obj] = config
                except TypeError:
                    if config is None:
                        return  # nothing of its own to forget
                    raise TypeError(
                        f"a {type(obj).__name__} object can have no configuration of its own"
                        " (it has neither a __dict__ nor weak references)"
                    ) from None
            else:
                if config is None:
                    namespace.pop(self._attr, None)
                else:
                    namespace[self._attr] = config
            if config is None or config is OFF:
                self._objects.discard(obj)
            else:
                self._objects.add(obj)
            self._sync()

    def set_global(self, config: Optional[T]) -> None:
        """The configuration of ``instrument()`` (None: ``uninstrument()``)."""
        with self._lock:
            self.global_ = config
            self._sync()

    @property
    def active(self) -> bool:
        """Whether anything is instrumented: the global configuration or an object's own."""
        return self.global_ is not None or len(self._objects) > 0

    def _sync(self) -> None:
        if self.patches is None:
            return
        if self.active:
            self.patches.apply()
        else:
            self.patches.remove()


def split_comma_list(value: str) -> list[str]:
    """Comma-separated items, stripped, empty items dropped (a trailing comma means nothing)."""
    return [item for item in (part.strip() for part in value.split(",")) if item]


def env_list(name: str) -> Optional[list[str]]:
    """The comma list in environment variable ``name``; None when the variable is unset."""
    value = os.environ.get(name)
    if value is None:
        return None
    return split_comma_list(value)


_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def env_flag(name: str, default: bool) -> bool:
    """A boolean variable: ``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``.

    Unset or empty gives ``default``; anything else is reported once and gives ``default``.
    """
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    warn_once(
        ("flag", name, value),
        "%s=%r is not a boolean (use true or false); using the default, %s",
        name,
        os.environ.get(name),
        str(default).lower(),
    )
    return default


def compile_patterns(
    patterns: Iterable[str], *, source: str, flags: int = 0
) -> Optional[re.Pattern[str]]:
    """One compiled alternation of ``patterns``; None when there is none left.

    Each pattern is compiled on its own first, so an invalid one is reported (naming ``source``,
    the environment variable or keyword argument it came from) and skipped instead of disabling
    the whole list. Empty patterns are dropped: an empty alternative would match everything.
    The work is linear in the patterns' total length: each is compiled once alone, the
    alternation once.
    """
    kept: list[tuple[str, str]] = []  # (piece, pattern as given)
    group_names: set[str] = set()
    for pattern in patterns:
        if not pattern:
            continue
        piece = _scoped(pattern)  # a leading "(?i)" is only an error inside the alternation
        compiled = _compile_alone(piece, pattern, source, flags)
        if compiled is None:
            continue
        clash = group_names.intersection(compiled.groupindex)
        if clash:  # valid alone, a redefinition inside the alternation
            _report_invalid(source, pattern, f"group name {sorted(clash)[0]!r} already used")
            continue
        group_names.update(compiled.groupindex)
        kept.append((piece, pattern))
    while kept:
        joined = _compile_joined(kept, flags)
        if joined is not None:
            return joined
        # Every piece compiled alone, yet the alternation does not: drop the first piece that
        # breaks it, found by bisection over the prefixes, and try again.
        _, pattern = kept.pop(_first_breaking(kept, flags))
        _report_invalid(source, pattern, "it cannot be combined with the patterns before it")
    return None


def _compile_alone(piece: str, pattern: str, source: str, flags: int) -> Optional[re.Pattern[str]]:
    """``piece`` compiled, or None after reporting it. Warnings that ``re`` raises about a
    pattern (FutureWarning for "[[") are reported like errors, once."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compiled = re.compile(piece, flags)
    except re.error as exc:
        _report_invalid(source, pattern, exc)
        return None
    for warning in caught:
        warn_once(
            ("pattern-warning", source, pattern),
            "%s: regular expression %r: %s",
            source,
            pattern,
            warning.message,
        )
    return compiled


def _compile_joined(kept: list[tuple[str, str]], flags: int) -> Optional[re.Pattern[str]]:
    """The alternation of the kept pieces, or None if it does not compile. Its warnings were
    already reported piece by piece."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile("|".join(piece for piece, _ in kept), flags)
    except re.error:
        return None


def _first_breaking(kept: list[tuple[str, str]], flags: int) -> int:
    """The index of the piece whose addition first makes the alternation fail to compile."""
    good, bad = 0, len(kept)  # kept[:good] compiles (the empty prefix does), kept[:bad] fails
    while bad - good > 1:
        middle = (good + bad) // 2
        if _compile_joined(kept[:middle], flags) is None:
            bad = middle
        else:
            good = middle
    return bad - 1


def _report_invalid(source: str, pattern: str, reason: object) -> None:
    warn_once(
        ("pattern", source, pattern),
        "%s: ignoring invalid regular expression %r (%s)",
        source,
        pattern,
        reason,
    )


_LEADING_FLAGS: Final = re.compile(r"\(\?([aiLmsux]+)\)")


def _scoped(pattern: str) -> str:
    """``pattern`` as a group; leading global flags (``(?i)x``) become scoped (``(?i:x)``)."""
    match = _LEADING_FLAGS.match(pattern)
    if match is not None:
        return f"(?{match.group(1)}:{pattern[match.end() :]})"
    return f"(?:{pattern})"
