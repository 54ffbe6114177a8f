"""When the guarded protocol's answers reach the socket (gateway.http.guard): each body
message as it is sent (an answer's head in the same write as its body), not at the end
of the event-loop turn that sent it."""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from test_coalesce import RecordingTransport
from uvicorn.server import ServerState

from gateway.http.guard import GuardedHttpToolsProtocol

REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}"


def serve_one(app: ASGIApp, real: RecordingTransport) -> None:
    """`app` under the guarded protocol, on `real`, for one request."""

    async def run() -> None:
        config = uvicorn.Config(
            app, http=GuardedHttpToolsProtocol, log_config=None, access_log=False
        )
        config.load()
        protocol = GuardedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        protocol.connection_made(real)
        try:
            protocol.data_received(REQUEST)
            for _ in range(10):  # bounded: the app's task runs in the next turns
                await asyncio.sleep(0)
        finally:
            protocol.connection_lost(None)

    asyncio.run(run())


def test_a_complete_answer_is_written_before_the_turn_that_completed_it_ends() -> None:
    real = RecordingTransport()
    written_when_app_returned: list[list[bytes]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-length", b"2"), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})
        written_when_app_returned.append(list(real.writes))  # same turn, still running

    serve_one(app, real)
    [writes] = written_when_app_returned
    assert len(writes) == 1  # head and body still in one write
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\n{}")


def test_a_streams_chunk_is_written_in_the_turn_that_sent_it() -> None:
    real = RecordingTransport()
    written_after_each_chunk: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        start = {"type": "http.response.start", "status": 200, "headers": []}
        await send({**start, "headers": [(b"content-type", b"text/event-stream")]})
        for event in (b"data: 1\n\n", b"data: 2\n\n"):
            await send({"type": "http.response.body", "body": event, "more_body": True})
            written_after_each_chunk.append(len(real.writes))
            await asyncio.sleep(0)  # the next chunk comes in a later turn
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    serve_one(app, real)
    assert written_after_each_chunk == [1, 2]  # the head went with the first chunk
    assert real.writes[0].endswith(b"\r\n\r\n9\r\ndata: 1\n\n\r\n")
