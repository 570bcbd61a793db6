"""The HTTP client suite shared with instrumentarium-requests and -urllib3, run against
``urllib.request.urlopen`` through the ``client`` fixture of this package's conftest: the test
classes of ``tests/support/http_client_suite.py`` (its ``__all__``)."""

from tests.support.http_client_suite import *  # noqa: F403
