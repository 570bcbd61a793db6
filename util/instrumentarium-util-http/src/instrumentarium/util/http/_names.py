"""Attribute and instrument names, old (pre-stable) and stable, and histogram buckets.

Kept as plain strings so that the hot path does not import the semantic-conventions package's
large modules; ``tests/test_names.py`` checks every one against that package.
"""

from __future__ import annotations

from typing import Final

from instrumentarium.util.metrics import DURATION_BUCKETS_S as _DURATION_BUCKETS_S
from instrumentarium.util.metrics import SDK_DEFAULT_BUCKETS_MS as _SDK_DEFAULT_BUCKETS_MS

# --- old (pre-stable) HTTP and network attributes -------------------------------------------
HTTP_METHOD: Final = "http.method"
HTTP_URL: Final = "http.url"
HTTP_TARGET: Final = "http.target"
HTTP_HOST: Final = "http.host"
HTTP_SCHEME: Final = "http.scheme"
HTTP_STATUS_CODE: Final = "http.status_code"
HTTP_FLAVOR: Final = "http.flavor"
HTTP_USER_AGENT: Final = "http.user_agent"
HTTP_SERVER_NAME: Final = "http.server_name"
NET_HOST_NAME: Final = "net.host.name"
NET_HOST_PORT: Final = "net.host.port"
NET_PEER_IP: Final = "net.peer.ip"
NET_PEER_NAME: Final = "net.peer.name"
NET_PEER_PORT: Final = "net.peer.port"

# --- stable HTTP attributes -------------------------------------------------------------------
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_REQUEST_METHOD_ORIGINAL: Final = "http.request.method_original"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_ROUTE: Final = "http.route"
URL_FULL: Final = "url.full"
URL_PATH: Final = "url.path"
URL_QUERY: Final = "url.query"
URL_SCHEME: Final = "url.scheme"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
CLIENT_ADDRESS: Final = "client.address"
CLIENT_PORT: Final = "client.port"
NETWORK_PROTOCOL_VERSION: Final = "network.protocol.version"
NETWORK_PEER_ADDRESS: Final = "network.peer.address"
NETWORK_PEER_PORT: Final = "network.peer.port"
USER_AGENT_ORIGINAL: Final = "user_agent.original"
USER_AGENT_SYNTHETIC_TYPE: Final = "user_agent.synthetic.type"
ERROR_TYPE: Final = "error.type"

# --- instruments ------------------------------------------------------------------------------
HTTP_SERVER_DURATION: Final = "http.server.duration"  # old, ms
HTTP_SERVER_REQUEST_DURATION: Final = "http.server.request.duration"  # stable, s
HTTP_SERVER_ACTIVE_REQUESTS: Final = "http.server.active_requests"
HTTP_SERVER_REQUEST_SIZE: Final = "http.server.request.size"  # old
HTTP_SERVER_RESPONSE_SIZE: Final = "http.server.response.size"  # old
HTTP_SERVER_REQUEST_BODY_SIZE: Final = "http.server.request.body.size"  # stable
HTTP_SERVER_RESPONSE_BODY_SIZE: Final = "http.server.response.body.size"  # stable
HTTP_CLIENT_DURATION: Final = "http.client.duration"  # old, ms
HTTP_CLIENT_REQUEST_DURATION: Final = "http.client.request.duration"  # stable, s
HTTP_CLIENT_REQUEST_SIZE: Final = "http.client.request.size"  # old
HTTP_CLIENT_RESPONSE_SIZE: Final = "http.client.response.size"  # old
HTTP_CLIENT_REQUEST_BODY_SIZE: Final = "http.client.request.body.size"  # stable
HTTP_CLIENT_RESPONSE_BODY_SIZE: Final = "http.client.response.body.size"  # stable

# Old durations are integer milliseconds with the SDK's default buckets; stable durations are
# seconds with the buckets the specification recommends (defined in instrumentarium.util.metrics).
DURATION_BUCKETS_MS: Final = _SDK_DEFAULT_BUCKETS_MS
DURATION_BUCKETS_S: Final = _DURATION_BUCKETS_S

# --- metric attribute allow-lists (bounded: never raw paths or ids) ---------------------------
SERVER_DURATION_ATTRS_OLD: Final = (
    HTTP_METHOD, HTTP_HOST, HTTP_SCHEME, HTTP_STATUS_CODE, HTTP_FLAVOR, HTTP_SERVER_NAME,
    NET_HOST_NAME, NET_HOST_PORT,
)  # fmt: skip
SERVER_DURATION_ATTRS_NEW: Final = (
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
    NETWORK_PROTOCOL_VERSION, URL_SCHEME,
)  # fmt: skip
SERVER_ACTIVE_ATTRS_OLD: Final = (
    HTTP_METHOD,
    HTTP_HOST,
    HTTP_SCHEME,
    HTTP_FLAVOR,
    HTTP_SERVER_NAME,
)
SERVER_ACTIVE_ATTRS_NEW: Final = (HTTP_REQUEST_METHOD, URL_SCHEME)
CLIENT_DURATION_ATTRS_OLD: Final = (
    HTTP_STATUS_CODE, HTTP_HOST, HTTP_METHOD, HTTP_FLAVOR, HTTP_SCHEME, NET_PEER_PORT,
    NET_PEER_NAME,
)  # fmt: skip
CLIENT_DURATION_ATTRS_NEW: Final = (
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, NETWORK_PROTOCOL_VERSION,
    SERVER_ADDRESS, SERVER_PORT, URL_SCHEME,
)  # fmt: skip
