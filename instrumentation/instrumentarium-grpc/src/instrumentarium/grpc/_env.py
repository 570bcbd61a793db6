"""Names of the environment variables this package reads (no grpc import here)."""

from __future__ import annotations

from typing import Final

EXCLUDED_SERVICES_ENV: Final = "OTEL_PYTHON_GRPC_EXCLUDED_SERVICES"
