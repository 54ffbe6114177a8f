"""Talking to the inference engines: one pooled HTTP/1.1 client, errors mapped.

The client is gateway.upstream.http1 (httptools' parser, a keep-alive pool),
chosen by measurement over httpx, aiohttp, pyreqwest and rnet (README, issue
11). Every failure of an engine
becomes an OpenAI-shaped error: refused -> 503, timeout -> 504, garbage or a
5xx -> 502; an engine's own 4xx is passed through with its message and param.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.errors import ApiError
from gateway.upstream.http1 import ConnectFailed, Http1Client, StreamedResponse, UpstreamError

log = logging.getLogger(__name__)

_JSON = {"Content-Type": "application/json"}
_decoder = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    payload: Any


class Upstream:
    """The engines' HTTP client; `start` inside the event loop, `close` at shutdown."""

    def __init__(self, connect_timeout_s: float, timeout_s: float) -> None:
        self._connect_timeout_s = connect_timeout_s
        # A whole answer within `timeout_s`; a stream may outlast it while the engine
        # keeps sending: it bounds the wait for the answer and for each next chunk instead.
        self._timeout_s = timeout_s
        self._client: Http1Client | None = None

    async def start(self) -> None:
        # Idle connections are dropped before the engine's own keep-alive timeout
        # (uvicorn, vLLM's server: 5 s); a request that still races the engine's
        # close is sent once more on a fresh connection (gateway.upstream.http1).
        self._client = Http1Client(self._connect_timeout_s, idle_s=4.0)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    @property
    def client(self) -> Http1Client:
        assert self._client is not None, "Upstream.start() was not awaited"
        return self._client

    async def post_json(
        self, url: str, body: bytes, model: str, request_id: str | None = None
    ) -> Reply:
        """POST a JSON body and decode the JSON answer; engine failures become ApiErrors.

        `request_id` goes to the engine as `X-Request-Id` (vLLM uses it as its own id)."""
        try:
            answer = await self.client.request(
                b"POST", url, body, _headers(request_id), self._timeout_s
            )
        except (TimeoutError, UpstreamError) as error:
            raise _failed(error, model, url) from error
        return Reply(answer.status, _payload(answer.status, answer.body, model))

    async def open_stream(
        self, url: str, body: bytes, model: str, request_id: str | None = None
    ) -> StreamedResponse:
        """Start a streamed POST; the caller must `close()` the response it gets."""
        try:
            response = await self.client.open(
                b"POST", url, body, _headers(request_id), self._timeout_s
            )
        except (TimeoutError, UpstreamError) as error:
            raise _failed(error, model, url) from error
        if response.status >= 400:
            try:
                raw = await response.read_all()
            except (TimeoutError, UpstreamError) as error:
                raise _failed(error, model, url) from error
            finally:
                response.close()
            _payload(response.status, raw, model)  # raises the mapped error
        return response

    async def healthy(self, base_url: str) -> bool:
        """Whether the engine answers its model listing with a 200 right now."""
        try:
            answer = await self.client.request(b"GET", f"{base_url}/models", b"", {}, 2.0)
        except (TimeoutError, UpstreamError):
            return False
        return answer.status == 200


def _headers(request_id: str | None) -> dict[str, str]:
    return _JSON if request_id is None else {**_JSON, "X-Request-Id": request_id}


async def sse_data_batches(response: StreamedResponse) -> AsyncIterator[list[bytes]]:
    """The payloads of the `data:` lines that each read of the body completed, as they arrive.

    An engine writes events faster than one is relayed; taken together, those that
    arrived in one read cost the relay one write to the client instead of one each.
    """
    pending = b""
    while chunk := await response.read_some():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        batch = [line[5:].strip() for line in lines if line.startswith(b"data:")]
        if batch:
            yield batch
    if pending.startswith(b"data:"):
        yield [pending[5:].strip()]


def _failed(error: BaseException, model: str, url: str) -> ApiError:
    """The client's error for an engine that could not be reached or read, logged once here."""
    mapped = transport_error(error, model)
    log.warning("engine of model %s failed on %s (%s): %r", model, url, mapped.status, error)
    return mapped


def transport_error(error: BaseException, model: str) -> ApiError:
    if isinstance(error, TimeoutError):
        return ApiError(504, f"The engine serving model '{model}' timed out.", type="server_error")
    if isinstance(error, ConnectFailed):
        return ApiError(
            503,
            f"The engine serving model '{model}' is unavailable. Please retry shortly.",
            type="server_error",
        )
    return garbage_error(model)


def garbage_error(model: str) -> ApiError:
    return ApiError(
        502,
        f"The engine serving model '{model}' returned an invalid response.",
        type="server_error",
    )


def _payload(status: int, raw: bytes, model: str) -> Any:
    try:
        payload = _decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        payload = None
    if status >= 500:
        log.warning("engine of model %s answered HTTP %s", model, status)
        raise ApiError(
            502, f"The engine serving model '{model}' failed (HTTP {status}).", type="server_error"
        )
    if status >= 400:
        raise passthrough_error(status, payload, model)
    if not isinstance(payload, dict):
        log.warning("engine of model %s answered HTTP %s with no JSON object", model, status)
        raise garbage_error(model)
    return payload


def passthrough_error(status: int, payload: Any, model: str) -> ApiError:
    """An engine's 4xx in OpenAI's envelope, keeping its message and param.

    Engines differ: OpenAI's `{"error": {...}}`, vLLM's flat `{"object": "error", ...}`
    with an integer code. OpenAI's codes are strings, so integers are dropped.
    """
    inner = payload.get("error", payload) if isinstance(payload, dict) else {}
    if not isinstance(inner, dict):
        inner = {"message": str(inner)}
    message = inner.get("message")
    kind = inner.get("type")
    param = inner.get("param")
    code = inner.get("code")
    return ApiError(
        400 if status == 422 else status,
        message if isinstance(message, str) else f"The engine refused the request (HTTP {status}).",
        type=kind if isinstance(kind, str) else "invalid_request_error",
        param=param if isinstance(param, str) else None,
        code=code if isinstance(code, str) else None,
    )
