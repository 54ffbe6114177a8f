"""Failure injection: model names that make the engine fail the way real upstreams do."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from reference_engine.wire import EngineError

MODEL_ERROR_500 = "ref-error-500"
MODEL_ERROR_400 = "ref-error-400"
MODEL_GARBAGE = "ref-garbage"
MODEL_SLOW = "ref-slow"
MODEL_DISCONNECT = "ref-disconnect"
FAILURE_MODELS = frozenset(
    {MODEL_ERROR_500, MODEL_ERROR_400, MODEL_GARBAGE, MODEL_SLOW, MODEL_DISCONNECT}
)

GARBAGE_BODY = b"<html><body>502 Bad Gateway: upstream melted</body></html>"


class DroppedConnection(Response):
    """Starts a 200, sends part of the body, then returns without finishing it.

    An ASGI app that returns mid-body makes uvicorn close the socket, which is how
    a crashing upstream looks to the gateway (uvicorn logs one error line for it).
    """

    def __init__(self, media_type: str, partial_body: bytes, promised_length: int | None) -> None:
        super().__init__(media_type=media_type)
        # Replaces the content-length Starlette derives from the empty body: without one
        # uvicorn frames the body as chunked; a longer one makes the truncation explicit.
        self.raw_headers = [(b"content-type", media_type.encode())]
        if promised_length is not None:
            self.raw_headers.append((b"content-length", str(promised_length).encode()))
        self.partial_body = partial_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.partial_body, "more_body": True})


def injected_error_500() -> Response:
    message = f"engine crashed (injected by model {MODEL_ERROR_500})"
    return EngineError(500, message, error_type="server_error").response()


def injected_error_400() -> Response:
    return EngineError(400, "engine says no", param="temperature").response()


def injected_garbage(stream: bool) -> Response:
    if stream:
        return Response(
            b"data: {this is not json\n\ndata: [DONE]\n\n", media_type="text/event-stream"
        )
    return Response(GARBAGE_BODY, media_type="application/json")


def injected_disconnect(stream: bool) -> Response:
    if stream:
        partial = b'data: {"id":"chatcmpl-dropped","obj'
        return DroppedConnection("text/event-stream", partial, None)
    return DroppedConnection("application/json", b'{"id":"chatcmpl-dropped","obj', 4096)


async def sleep_unless_disconnected(request: Request, seconds: float) -> None:
    """Sleeps like a slow engine, but gives up early once the client has gone."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(0.1, left))
        if await request.is_disconnected():
            return
