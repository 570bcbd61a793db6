"""A FastAPI app with no OpenTelemetry code, served by uvicorn in the cross-process tests
(``tests/test_uvicorn_fastapi.py``): everything comes from the ``fastapi`` entry point."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, BackgroundTasks, FastAPI, WebSocket
from fastapi.responses import StreamingResponse

log = logging.getLogger("uvicorn_app")
app = FastAPI()
router = APIRouter()


@router.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


app.include_router(router, prefix="/api")


@app.get("/health")
async def health() -> str:
    return "ok"


@app.get("/boom")
async def boom() -> None:
    raise ValueError("boom")


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(5):
            yield f"chunk {index}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


def _after(name: str) -> None:
    log.warning("background for %s", name)


@app.post("/echo")
async def echo(body: dict[str, str], tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(_after, body.get("name", ""))
    return body


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        if text == "bye":
            break
        await websocket.send_text(text.upper())
    await websocket.close()
