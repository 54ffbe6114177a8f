"""The engine: configuration, stream counters and the route handlers that share them."""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from reference_engine.chat import (
    chat_chunks,
    chat_completion,
    chat_messages,
    chat_prompt_tokens,
    chat_reply,
)
from reference_engine.embeddings import embeddings
from reference_engine.failures import (
    FAILURE_MODELS,
    MODEL_ERROR_400,
    MODEL_ERROR_500,
    MODEL_GARBAGE,
    MODEL_SLOW,
    injected_disconnect,
    injected_error_400,
    injected_error_500,
    injected_garbage,
    sleep_unless_disconnected,
)
from reference_engine.legacy import legacy_chunks, legacy_completion
from reference_engine.prompts import parse_prompts
from reference_engine.requests import (
    decode_object,
    optional_positive_int,
    require_model,
    wants_stream,
    wants_usage_chunk,
)
from reference_engine.text import stable_id
from reference_engine.wire import (
    ENCODER,
    JSON,
    EngineError,
    json_response,
    response_base,
)

# A fixed timestamp keeps /v1/models byte-identical across runs.
MODEL_CREATED = 1_700_000_000
MODEL_OWNER = "reference-engine"
# The last request bodies kept for /debug/received: enough for one test's requests,
# bounded so a long benchmark run does not grow the engine.
RECEIVED_KEPT = 32

Handler = Callable[[JSON, str, bytes], Response]


@dataclass
class StreamStats:
    """Counts of streamed responses; `streams_cancelled` proves disconnects are noticed."""

    streams_started: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0


class ReferenceEngine:
    """Configuration and stream counters shared by the route handlers."""

    def __init__(self, models: Sequence[str], stream_delay_s: float, slow_s: float) -> None:
        self.models = list(models)
        self.stream_delay_s = stream_delay_s
        self.slow_s = slow_s
        self.stats = StreamStats()
        # (path, body, X-Request-Id) of the last POSTs exactly as they arrived: what a
        # gateway forwarded, and the request id it forwarded with it (vLLM honours one too).
        self.received: deque[tuple[str, bytes, str | None]] = deque(maxlen=RECEIVED_KEPT)

    def check_served(self, model: str) -> None:
        if self.models and model not in self.models:
            raise EngineError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )

    async def serve(self, request: Request, handler: Handler) -> Response:
        """Decode, apply failure injection and the served-model check, then answer."""
        try:
            body = await request.body()
            request_id = request.headers.get("x-request-id")
            self.received.append((request.url.path, body, request_id))
            payload = decode_object(body)
            model = require_model(payload)
            if model == MODEL_SLOW:
                await sleep_unless_disconnected(request, self.slow_s)
            elif model in FAILURE_MODELS:
                return self.injected_failure(model, wants_stream(payload))
            else:
                self.check_served(model)
            return handler(payload, model, body)
        except EngineError as exc:
            return exc.response()

    def injected_failure(self, model: str, stream: bool) -> Response:
        if model == MODEL_ERROR_500:
            return injected_error_500()
        if model == MODEL_ERROR_400:
            return injected_error_400()
        if model == MODEL_GARBAGE:
            return injected_garbage(stream)
        return injected_disconnect(stream)

    def sse(self, chunks: list[JSON]) -> StreamingResponse:
        return StreamingResponse(
            self.counted(self.sse_events(chunks)), media_type="text/event-stream"
        )

    async def sse_events(self, chunks: list[JSON]) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(chunks):
            if index and self.stream_delay_s > 0:
                await asyncio.sleep(self.stream_delay_s)
            yield b"data: " + ENCODER.encode(chunk) + b"\n\n"
        yield b"data: [DONE]\n\n"

    async def counted(self, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Counts the stream; a disconnect cancels it mid-iteration, leaving completed False."""
        self.stats.streams_started += 1
        completed = False
        try:
            async for event in events:
                yield event
            completed = True
        finally:
            if completed:
                self.stats.streams_completed += 1
            else:
                self.stats.streams_cancelled += 1

    def chat(self, payload: JSON, model: str, body: bytes) -> Response:
        messages = chat_messages(payload)
        reply = chat_reply(payload, messages, body)
        prompt_tokens = chat_prompt_tokens(messages)
        if wants_stream(payload):
            base = response_base("chat.completion.chunk", stable_id("chatcmpl-", body), model)
            return self.sse(chat_chunks(base, reply, prompt_tokens, wants_usage_chunk(payload)))
        base = response_base("chat.completion", stable_id("chatcmpl-", body), model)
        return json_response(chat_completion(base, reply, prompt_tokens))

    def completions(self, payload: JSON, model: str, body: bytes) -> Response:
        prompts = parse_prompts(payload.get("prompt"), "prompt")
        limit = optional_positive_int(payload, "max_tokens")
        base = response_base("text_completion", stable_id("cmpl-", body), model)
        if wants_stream(payload):
            return self.sse(legacy_chunks(base, prompts, limit, wants_usage_chunk(payload)))
        return json_response(legacy_completion(base, prompts, limit))

    def embeddings(self, payload: JSON, model: str, body: bytes) -> Response:
        return json_response(embeddings(payload, model))

    def received_list(self) -> list[JSON]:
        """The kept request bodies, oldest first, base64 so that every byte shows as sent,
        with the `X-Request-Id` each came with (`request_id`, only when there was one)."""
        return [
            {
                "path": path,
                "body_base64": base64.b64encode(body).decode(),
                **({"request_id": request_id} if request_id is not None else {}),
            }
            for path, body, request_id in self.received
        ]

    def model_list(self) -> JSON:
        data = [
            {"id": m, "object": "model", "created": MODEL_CREATED, "owned_by": MODEL_OWNER}
            for m in self.models
        ]
        return {"object": "list", "data": data}
