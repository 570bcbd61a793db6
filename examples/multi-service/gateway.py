"""The gateway (FastAPI under uvicorn): ``POST /orders`` checks the order and forwards it to the
orders service over HTTP (``requests``), answering with what it got back.

No OpenTelemetry code: its server span comes from the ``fastapi`` entry point, its client span
from ``requests``. The demo launches it with ``OTEL_PYTHON_FASTAPI_EXCLUDE_SPANS=receive,send``,
so each request is one server span, without upstream's per-message ``http send`` spans.
"""

from __future__ import annotations

import os
import socket

import requests
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from service_common import announce_ready, exit_on_sigterm

ORDERS_URL = os.environ.get("DEMO_ORDERS_URL", "http://127.0.0.1:8001/orders")

app = FastAPI()
session = requests.Session()


@app.post("/orders")
def place_order(order: dict[str, object]) -> JSONResponse:
    # A plain `def`: FastAPI runs it in its thread pool, with the request's context.
    if not order.get("item"):
        raise HTTPException(status_code=400, detail="no item")
    answer = session.post(ORDERS_URL, json=order, timeout=10)
    return JSONResponse(answer.json(), status_code=answer.status_code)


def main() -> None:
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler
    # that was there before it: ours, which exits through SystemExit, so the SDK flushes.
    exit_on_sigterm()
    # Bind first, so the launcher learns the port before uvicorn starts serving it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(os.environ.get("DEMO_PORT", "0"))))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    announce_ready(sock.getsockname()[1])
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
