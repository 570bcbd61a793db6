"""The front end (Flask): ``GET /checkout?item=dice&qty=2`` places an order with the orders
service over HTTP (``requests``) and answers with what it got back.

Its one manual span, ``checkout``, sits between the server span of the request and the client
span of the call to the orders service.
"""

from __future__ import annotations

import os

import requests
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from opentelemetry import trace
from service_common import announce_ready, exit_on_sigterm
from werkzeug.serving import make_server

ORDERS_URL = os.environ.get("DEMO_ORDERS_URL", "http://127.0.0.1:8001/orders")

tracer = trace.get_tracer("demo.frontend")
app = Flask(__name__)
session = requests.Session()


@app.get("/checkout")
def checkout() -> ResponseReturnValue:
    item = request.args.get("item", "dice")
    quantity = request.args.get("qty", default=1, type=int)
    with tracer.start_as_current_span("checkout") as span:
        span.set_attribute("demo.item", item)
        answer = session.post(ORDERS_URL, json={"item": item, "quantity": quantity}, timeout=10)
        order = answer.json()
        span.set_attribute("demo.order_id", str(order.get("order_id", "")))
    return jsonify(order), answer.status_code


def main() -> None:
    exit_on_sigterm()
    server = make_server("127.0.0.1", int(os.environ.get("DEMO_PORT", "0")), app, threaded=True)
    announce_ready(server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
