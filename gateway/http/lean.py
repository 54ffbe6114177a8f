"""The forwarded endpoints' ASGI path: no Starlette `Request`, `Response` or exception wrapping.

Chat, completions and embeddings are nearly all of the traffic, so their
handler (`LeanProxy`) is a plain ASGI app: it reads its headers from the
scope and its body from `receive`, and answers, successes and refusals alike,
with one `http.response.start` and one `http.response.body` of bytes encoded
once. What it sends is what Starlette's `Response`/`JSONResponse` sent for
the same answer: the same headers in the same order (the answer's own, then
`content-length`, then `content-type`), the same compact JSON. `lean_routes`
finds these handlers among the generated routes, so the app's outer layer
(gateway.http.edge) can call them without Starlette's router on the way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import msgspec
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import ApiError
from gateway.observe import Observers, Trace
from gateway.ops.request_ids import scope_request_id

_encode = msgspec.json.Encoder().encode
_JSON_TYPE = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """A JSON answer already encoded: sent as one head and one body."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    async def send(self, send: Send) -> None:
        await send_json(send, self.status, self.body, self.headers)


Answer = JsonAnswer | ASGIApp  # a JSON answer, or a streamed one (an ASGI app of its own)
Stages = Callable[[Scope, Receive, Trace], Awaitable[Answer]]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a (lower-case) request header, as Starlette's `Headers.get` reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class BodyChunks:
    """The request body's chunks as they arrive; `ClientDisconnect` if the client leaves
    first. `counted(received)` sees the running total after each chunk.

    A class, not an async generator: an event loop registers every async generator it
    runs (a WeakSet entry and a finalizer each), a cost per request for nothing here.
    """

    def __init__(self, receive: Receive, counted: Callable[[int], None]) -> None:
        self._receive = receive
        self._counted = counted
        self._received = 0
        self._done = False

    def __aiter__(self) -> BodyChunks:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            message = await self._receive()
            if message["type"] == "http.request":
                self._done = not message.get("more_body", False)
                chunk: bytes = message.get("body", b"")
                if chunk:
                    self._received += len(chunk)
                    self._counted(self._received)
                    return chunk
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect()
        raise StopAsyncIteration


def raw_headers(headers: Mapping[str, str], length: int) -> list[tuple[bytes, bytes]]:
    """Starlette's header order: the answer's own, then its length and JSON type."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    names = {name for name, _ in raw}
    if b"content-length" not in names:
        raw.append((b"content-length", str(length).encode("latin-1")))
    if b"content-type" not in names:
        raw.append(_JSON_TYPE)
    return raw


async def send_json(send: Send, status: int, body: bytes, headers: Mapping[str, str]) -> None:
    start = {"type": "http.response.start", "status": status}
    await send({**start, "headers": raw_headers(headers, len(body))})
    await send({"type": "http.response.body", "body": body})


def error_answer(error: ApiError, docs_url: str) -> JsonAnswer:
    """An ApiError as the app's error handler answered it: its status, envelope and headers."""
    return JsonAnswer(error.status, _encode(error.envelope(docs_url)), error.headers)


class LeanProxy:
    """A forwarded endpoint's ASGI handler: its outcome goes to the observers once.

    A refusal (ApiError) is answered here; a crash is reported and goes on up
    to the crash guard (gateway.http.edge); a stream reports when it ends
    (handlers.ObservedStream); any other answer once it is sent.
    """

    def __init__(self, endpoint: str, stages: Stages, observers: Observers, docs_url: str) -> None:
        self.endpoint = endpoint
        self.stages = stages
        self.observers = observers
        self.docs_url = docs_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace = Trace(self.endpoint, self.observers, request_id=scope_request_id(scope))
        try:
            answer = await self.stages(scope, receive, trace)
        except ApiError as error:
            try:
                await error_answer(error, self.docs_url).send(send)
            finally:
                trace.refused(error)
            return
        except Exception:
            trace.crashed()
            raise
        if isinstance(answer, JsonAnswer):
            try:
                await answer.send(send)
            finally:
                trace.answered(answer.status)
        else:
            await answer(scope, receive, send)


def lean_routes(routes: Iterable[BaseRoute]) -> dict[str, ASGIApp]:
    """The generated routes served by a `LeanProxy` for POST only, by their (static) path."""
    return {
        route.path: route.app
        for route in routes
        if isinstance(route, Route)
        and isinstance(route.app, LeanProxy)
        and route.methods == {"POST"}
        and not route.param_convertors
    }
