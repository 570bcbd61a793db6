"""The orders service (Django, one file): ``POST /orders`` with ``{"item", "quantity"}`` gives
the order an id, reserves it with the inventory service over gRPC and hands it to the notifier,
a Celery worker (``notifier.confirm_order``, through the Redis broker).

This module is also the Django settings module (``DJANGO_SETTINGS_MODULE=orders_app``) and the
URL configuration; ``python orders_app.py`` serves it with Werkzeug's WSGI server.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import grpc
from django.http import HttpRequest, JsonResponse
from django.urls import path
from notifier import confirm_order

# -- settings ------------------------------------------------------------------------------

SECRET_KEY = "demo-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "orders_app"
MIDDLEWARE: list[str] = []  # instrumentarium-django inserts its middleware first
INSTALLED_APPS: list[str] = []
USE_TZ = True

INVENTORY_ADDRESS = os.environ.get("DEMO_INVENTORY_ADDRESS", "127.0.0.1:50051")

# -- the gRPC client: generic stubs, JSON on the wire (no generated code) --------------------


def _to_json(message: Any) -> bytes:
    return json.dumps(message).encode()


_channel: grpc.Channel | None = None


def reserve(order: dict[str, Any]) -> dict[str, Any]:
    global _channel  # one channel per process, made on first use
    if _channel is None:
        _channel = grpc.insecure_channel(INVENTORY_ADDRESS)
    call = _channel.unary_unary(
        "/demo.Inventory/Reserve", request_serializer=_to_json, response_deserializer=json.loads
    )
    answer: dict[str, Any] = call(order, timeout=10)
    return answer


# -- views -------------------------------------------------------------------------------


def place_order(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse({"error": "POST an order"}, status=405)
    body = json.loads(request.body or b"{}")
    order = {
        "order_id": uuid.uuid4().hex,
        "item": str(body.get("item", "dice")),
        "quantity": int(body.get("quantity", 1)),
    }
    reservation = reserve(order)
    confirm_order.delay(order["order_id"])
    return JsonResponse({**order, "reserved_total": reservation["reserved_total"]}, status=201)


urlpatterns = [path("orders", place_order)]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_app")
    from django.core.wsgi import get_wsgi_application
    from service_common import announce_ready, exit_on_sigterm
    from werkzeug.serving import make_server

    exit_on_sigterm()
    application = get_wsgi_application()
    server = make_server(
        "127.0.0.1", int(os.environ.get("DEMO_PORT", "0")), application, threaded=True
    )
    announce_ready(server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if _channel is not None:
            _channel.close()


if __name__ == "__main__":
    main()
