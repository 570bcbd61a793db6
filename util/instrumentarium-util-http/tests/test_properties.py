"""Property tests for every parser of untrusted input: URLs, queries, headers, env values.

Each parser must never raise on any input; redaction must never let a listed secret through, must
be idempotent, and must leave URLs without secrets exactly as they were.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from instrumentarium.util.config import compile_patterns, split_comma_list
from instrumentarium.util.http import (
    DEFAULT_KNOWN_METHODS,
    DEFAULT_SENSITIVE_QUERY_PARAMS,
    OTHER_METHOD,
    REDACTED,
    ExcludedUrls,
    HeaderCapture,
    MethodNormalizer,
    parse_status_line,
    protocol_version,
    redact_query,
    redact_url,
    remove_url_credentials,
    synthetic_user_agent_type,
)
from instrumentarium.util.semconv import DEFAULT, DOMAINS, DUP, STABLE, opt_in_modes

MODEST = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- building blocks ---------------------------------------------------------------------------

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
# Characters a query key or value may hold besides '&', '=', '#': sub-delims, '@', ':', '/', '?'
# and the encoding characters '%' and '+'.
QUERY_CHARS = UNRESERVED + "!$'()*,;:@/?+% "

percent_escape = st.integers(0, 255).map(lambda b: f"%{b:02X}") | st.integers(0, 255).map(
    lambda b: f"%{b:02x}"
)
query_piece = st.lists(
    st.text(alphabet=QUERY_CHARS, min_size=1, max_size=3)
    | percent_escape
    | st.sampled_from(["://", "@", "%20", "+", "=", "REDACTED", "http://u:p@h/"]),
    max_size=5,
).map("".join)
safe_piece = st.text(alphabet=QUERY_CHARS, max_size=6) | percent_escape


def _is_sensitive(key: str) -> bool:
    # In a fragment, "#/route?token=..." puts a parameter after a '?': check each piece.
    return any(
        unquote_plus(piece).strip().lower() in DEFAULT_SENSITIVE_QUERY_PARAMS
        for piece in key.split("?")
    )


key = st.lists(safe_piece, min_size=0, max_size=3).map("".join).filter(lambda k: "=" not in k)
non_sensitive_key = key.filter(lambda k: not _is_sensitive(k))
# "key", "key=" or "key=value"
pair = non_sensitive_key | st.tuples(non_sensitive_key, query_piece).map("=".join)
non_sensitive_query = st.lists(pair, max_size=6).map("&".join)

host = st.sampled_from(
    ["h", "example.com", "127.0.0.1", "h:8080", "[::1]", "[2001:db8::1]:443", "xn--bcher-kva.ch"]
)
path_segment = st.text(alphabet=UNRESERVED + "!$'()*,;:@%", min_size=1, max_size=8)
path = st.lists(path_segment, max_size=4).map(lambda parts: "/" + "/".join(parts))
base = st.one_of(
    st.tuples(st.sampled_from(["http", "https", "HTTP", "wss"]), host, path).map(
        lambda t: f"{t[0]}://{t[1]}{t[2]}"
    ),
    path,  # an origin-form request target, as servers see it
)


@st.composite
def clean_urls(draw: st.DrawFn) -> str:
    """A URL without userinfo and without any sensitive parameter, query and fragment."""
    url = draw(base)
    if draw(st.booleans()):
        url += "?" + draw(non_sensitive_query)
    if draw(st.booleans()):
        url += "#" + draw(non_sensitive_query)
    return url


def _encode_name(draw: st.DrawFn, name: str) -> str:
    out = []
    for original in name:
        char = original.swapcase() if original.isalpha() and draw(st.booleans()) else original
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from([f"%{ord(char):02X}", f"%{ord(char):02x}"])))
        else:
            out.append(char)
    return "".join(out)


@st.composite
def urls_with_secret(draw: st.DrawFn) -> tuple[str, str, str]:
    """``(url, name, value)``: a URL whose query holds ``name=value`` for a sensitive name."""
    name = draw(st.sampled_from(sorted(DEFAULT_SENSITIVE_QUERY_PARAMS)))
    encoded = _encode_name(draw, name)
    value = draw(
        st.text(alphabet=UNRESERVED, min_size=1, max_size=12).filter(lambda v: v != REDACTED)
    )
    before = draw(st.lists(pair, max_size=3))
    after = draw(st.lists(pair | st.just(f"{encoded}={value}"), max_size=3))
    query = "&".join([*before, f"{encoded}={value}", *after])
    url = draw(base) + "?" + query
    if draw(st.booleans()):
        url += "#" + draw(non_sensitive_query)
    return url, name, value


def _leaked(redacted_query: str, name: str, value: str) -> list[tuple[str, str]]:
    return [
        (k, v)
        for k, v in parse_qsl(redacted_query, keep_blank_values=True)
        if k.strip().lower() == name and v == value
    ]


# --- URLs and queries --------------------------------------------------------------------------


class TestRedactionProperties:
    @MODEST
    @given(urls_with_secret())
    @example(("https://h/p?%73IG=abc", "sig", "abc"))
    @example(("/p?a=1&X-Amz-Signature=v&x%2Damz%2Dsignature=v", "x-amz-signature", "v"))
    def test_listed_secret_never_leaks(self, case: tuple[str, str, str]) -> None:
        """No ``name=value`` pair for a listed name survives, whatever its case or encoding."""
        url, name, value = case
        redacted = redact_url(url)
        assert not _leaked(urlsplit(redacted).query, name, value)

    @MODEST
    @given(urls_with_secret())
    def test_listed_secret_never_leaks_from_bare_query(self, case: tuple[str, str, str]) -> None:
        """``redact_query`` on the query alone gives the same guarantee."""
        url, name, value = case
        query = urlsplit(url).query
        assert not _leaked(redact_query(query), name, value)

    @MODEST
    @given(urls_with_secret())
    def test_redaction_keeps_everything_but_values(self, case: tuple[str, str, str]) -> None:
        """Redaction changes nothing but values: the same number of ``&``-separated parts, and
        each part keeps its name."""
        query = urlsplit(case[0]).query
        url = "https://h/p?" + query
        redacted = redact_url(url).partition("?")[2]
        before, after = query.split("&"), redacted.split("&")
        assert len(before) == len(after)
        for original, new in zip(before, after):
            assert new == original or (
                new.partition("=")[0] == original.partition("=")[0]
                and new.partition("=")[2] == REDACTED
            )

    @MODEST
    @given(clean_urls())
    @example("/share?url=https://user@example.com/")
    @example("https://h/p?a=1&b=&c#frag")
    def test_clean_urls_are_unchanged(self, url: str) -> None:
        """A URL without userinfo or sensitive parameters is returned exactly as given."""
        assert redact_url(url) == url

    @MODEST
    @given(st.one_of(clean_urls(), urls_with_secret().map(lambda c: c[0]), st.text()))
    @example("http://a@b@c/?sig=1#token=2")
    def test_redaction_is_idempotent(self, url: str) -> None:
        """Redacting a redacted URL changes nothing."""
        once = redact_url(url)
        assert redact_url(once) == once

    @MODEST
    @given(st.text())
    def test_query_redaction_is_idempotent(self, query: str) -> None:
        """Redacting a redacted query changes nothing, for any string."""
        once = redact_query(query)
        assert redact_query(once) == once

    @MODEST
    @given(st.text(), st.text())
    def test_credentials_never_leak(self, user: str, password: str) -> None:
        """Whatever the userinfo, none of it is left in the authority."""
        safe_user = re.sub(r"[/?#@\[\]]", "", user)
        safe_password = re.sub(r"[/?#@\[\]]", "", password)
        url = f"https://{safe_user}:{safe_password}@host.example/p?q=1"
        assert remove_url_credentials(url) == "https://REDACTED:REDACTED@host.example/p?q=1"

    @MODEST
    @given(st.text())
    def test_remove_credentials_never_raises(self, url: str) -> None:
        """Any string is accepted and a string comes back."""
        assert isinstance(remove_url_credentials(url), str)


# --- header names and values -------------------------------------------------------------------

printable = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
header_name = st.text(printable, max_size=20) | st.sampled_from(
    ["Content-Type", "X-Custom_Header", "authorization", "SET-COOKIE", "x--y", "_"]
)


class TestHeaderProperties:
    @MODEST
    @given(st.lists(st.tuples(header_name, st.text(max_size=20)), max_size=8))
    def test_attributes_never_raise_and_are_well_formed(
        self, headers: list[tuple[str, str]]
    ) -> None:
        """Any header list gives attributes named ``http.request.header.<lower_name>``, each
        one string: the header's values joined with ``,`` in order, sanitised ones replaced."""
        capture = HeaderCapture.from_config("SERVER", request=[".*"], sensitive=["auth", "cookie"])
        attributes = capture.request.attributes(headers)
        joined: dict[str, list[str]] = {}
        for header, value in headers:
            key = "http.request.header." + header.strip().lower().replace("-", "_")
            joined.setdefault(key, []).append(value)
        assert set(attributes) == set(joined)
        for name, values in attributes.items():
            assert values == ["[REDACTED]"] or values == [",".join(joined[name])]
            assert name.startswith("http.request.header.")
            suffix = name[len("http.request.header.") :]
            assert suffix == suffix.lower()
            assert "-" not in suffix
            assert all(isinstance(v, str) for v in values)
            if "auth" in suffix or "cookie" in suffix:
                assert set(values) == {"[REDACTED]"}

    @MODEST
    @given(
        st.lists(st.text(max_size=10), max_size=4),
        st.lists(st.text(max_size=10), max_size=3),
        st.lists(st.tuples(st.text(max_size=8), st.text(max_size=5)), max_size=4),
    )
    def test_any_configuration_never_raises(
        self, patterns: list[str], sensitive: list[str], headers: list[tuple[str, str]]
    ) -> None:
        """Arbitrary (even invalid) patterns are accepted and capturing never raises."""
        capture = HeaderCapture.from_config(
            "CLIENT", request=patterns, response=patterns, sensitive=sensitive
        )
        for direction in (capture.request, capture.response):
            assert isinstance(direction.attributes(headers), dict)


# --- environment values ------------------------------------------------------------------------

REGEX_FRAGMENTS = [
    "a", "/health", "(", ")", "[", "]", "*", "?", "+", "|", "\\", ".", "^", "$", "{2}",
    "(?i)", "(?x)", "#", "\\d", ",", " ",
]  # fmt: skip
regex_like = st.lists(st.sampled_from(REGEX_FRAGMENTS), max_size=6).map("".join)


class TestEnvironmentValueProperties:
    @MODEST
    @given(st.text())
    def test_split_comma_list(self, value: str) -> None:
        """Items are non-empty, stripped and comma-free, and nothing else is lost."""
        items = split_comma_list(value)
        for item in items:
            assert item
            assert item == item.strip()
            assert "," not in item
        assert re.sub(r"[\s,]", "", ",".join(items)) == re.sub(r"[\s,]", "", value)

    # Python's own ``re`` warns about some user patterns ("[[": FutureWarning; "a(?i)" on 3.9 and
    # 3.10: DeprecationWarning). Those warnings are about the pattern, not about our code, and must
    # not be turned into errors here.
    @pytest.mark.filterwarnings("ignore::FutureWarning")
    @pytest.mark.filterwarnings("ignore:Flags not at the start:DeprecationWarning")
    @MODEST
    @given(st.lists(regex_like | st.text(max_size=8), max_size=5))
    @example(["(?i)/health"])
    @example(["(?x)a # comment", "b"])
    def test_compile_patterns_never_raises(self, patterns: list[str]) -> None:
        """Any list of patterns compiles to one regex or None; invalid ones are skipped."""
        compiled = compile_patterns(patterns, source="TEST_VAR")
        assert compiled is None or isinstance(compiled, re.Pattern)
        if compiled is not None:
            compiled.search("http://h/health?x=1")

    @pytest.mark.filterwarnings("ignore::FutureWarning")
    @pytest.mark.filterwarnings("ignore:Flags not at the start:DeprecationWarning")
    @MODEST
    @given(st.lists(regex_like, max_size=4).map(",".join), st.text())
    @example("(?i)/health", "http://h/HEALTH")
    def test_excluded_urls_never_raise(self, value: str, url: str) -> None:
        """Any variable value configures, and any URL is matched without raising."""
        excluded = ExcludedUrls(split_comma_list(value), source="TEST_VAR")
        assert isinstance(excluded.matches(url), bool)
        assert (excluded.explain(url) is not None) <= excluded.matches(url)

    @MODEST
    @given(
        st.lists(
            st.sampled_from(
                ["http", "http/dup", "HTTP", "database", "rpc/dup", "messaging", " ", "x", ""]
            )
            | st.text(max_size=6),
            max_size=6,
        ).map(",".join)
    )
    def test_opt_in_modes(self, value: str) -> None:
        """Every domain gets a mode; ``/dup`` wins, then the bare domain, else the default."""
        modes = opt_in_modes(value)
        tokens = {t.strip() for t in value.split(",")}
        assert set(modes) == set(DOMAINS)
        for domain in DOMAINS:
            if f"{domain}/dup" in tokens:
                assert modes[domain] is DUP
            elif domain in tokens:
                assert modes[domain] is STABLE
            else:
                assert modes[domain] is DEFAULT

    @MODEST
    @given(st.text(max_size=12) | st.sampled_from(["get", " GET ", "query", "ß", "\u0131"]))
    @example("_OTHER")
    def test_method_normalizer(self, raw: str) -> None:
        """A known method comes back upper-cased, anything else as ``_OTHER``, and the original
        is reported only when it differs."""
        method, original = MethodNormalizer().normalize(raw)
        assert method == OTHER_METHOD or method in DEFAULT_KNOWN_METHODS
        assert original is None or original != method
        if raw.strip().upper() in DEFAULT_KNOWN_METHODS:
            assert method == raw.strip().upper()
        capture_all, _ = MethodNormalizer(capture_all=True).normalize(raw)
        assert capture_all == (raw.strip().upper() or OTHER_METHOD)

    @MODEST
    @given(st.text())
    @example("200 OK")
    @example("1_000 weird")
    def test_parse_status_line(self, status: str) -> None:
        """Any status line gives an int, and ``NNN reason`` gives NNN."""
        code = parse_status_line(status)
        assert isinstance(code, int)
        if re.fullmatch(r"[0-9]{3}( .*)?", status, re.DOTALL):
            assert code == int(status[:3])

    @MODEST
    @given(st.none() | st.text())
    def test_protocol_version(self, value: str | None) -> None:
        """``HTTP/x`` gives ``x``, empty gives None, and nothing raises."""
        version = protocol_version(value)
        if not value:
            assert version is None
        elif value.startswith("HTTP/"):
            assert version == value[5:]

    @MODEST
    @given(st.none() | st.text())
    def test_synthetic_user_agent_type(self, value: str | None) -> None:
        """Any user agent is classified as ``test``, ``bot`` or nothing."""
        kind = synthetic_user_agent_type(value)
        assert kind in (None, "test", "bot")
        if value and "alwayson" in value.lower():
            assert kind == "test"
