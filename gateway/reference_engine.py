"""A bundled, deterministic OpenAI-compatible upstream inference engine.

It stands in for vLLM / llama.cpp server: the gateway forwards to it by default,
its tests drive it, and the throughput benchmark uses it as the mock upstream, so
every handler does only cheap, deterministic work (msgspec encode/decode, a hash).

Replies are derived from the request alone (no model weights): chat echoes the last
user message, tools and JSON modes get example values built from their schemas,
embeddings are unit vectors seeded by a sha256 of the input. Token counts are
whitespace-split words.

Some model names inject upstream failures so the gateway's error paths can be tested;
see `FAILURE_MODELS`.

Run: python -m gateway.reference_engine --host 127.0.0.1 --port 8001 --models a,b
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import re
import struct
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

JSON = dict[str, Any]

SYSTEM_FINGERPRINT = "fp_reference"
DEFAULT_EMBEDDING_DIMENSIONS = 1024
MAX_EMBEDDING_DIMENSIONS = 8192
# A fixed timestamp keeps /v1/models byte-identical across runs.
MODEL_CREATED = 1_700_000_000
MODEL_OWNER = "reference-engine"
# Prompts at least this long report half their tokens as cached, so the gateway's
# cache accounting sees non-zero `cached_tokens` without a real prefix cache.
CACHE_MIN_PROMPT_TOKENS = 8
TOOL_ARGUMENT_SLICE = 8
DEFAULT_PORT = 8001
DEFAULT_SLOW_S = 30.0

MODEL_ERROR_500 = "ref-error-500"
MODEL_ERROR_400 = "ref-error-400"
MODEL_GARBAGE = "ref-garbage"
MODEL_SLOW = "ref-slow"
MODEL_DISCONNECT = "ref-disconnect"
FAILURE_MODELS = frozenset(
    {MODEL_ERROR_500, MODEL_ERROR_400, MODEL_GARBAGE, MODEL_SLOW, MODEL_DISCONNECT}
)

GARBAGE_BODY = b"<html><body>502 Bad Gateway: upstream melted</body></html>"
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()
_PIECE = re.compile(r"\s*\S+")
_SCALAR_EXAMPLES: dict[str, Any] = {
    "string": "example",
    "number": 1,
    "integer": 1,
    "boolean": True,
}


class EngineError(Exception):
    """An error answered in OpenAI's envelope, as a real engine would."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {
            "error": {"message": message, "type": error_type, "param": param, "code": code}
        }

    def response(self) -> Response:
        return json_response(self.body, self.status)


@dataclass
class StreamStats:
    """Counts of streamed responses; `streams_cancelled` proves disconnects are noticed."""

    streams_started: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0


@dataclass(frozen=True)
class Reply:
    """One assistant turn: text content or a single tool call, never both."""

    content: str | None
    tool_call: JSON | None
    finish_reason: str
    completion_tokens: int


@dataclass(frozen=True)
class Prompt:
    """One legacy-completion or embedding input: its echo text, token count and hash key."""

    text: str
    tokens: int
    key: bytes


def json_response(body: Any, status: int = 200) -> Response:
    return Response(_ENCODER.encode(body), status, media_type="application/json")


# --- request parsing -------------------------------------------------------------


def decode_object(body: bytes) -> JSON:
    try:
        payload = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise EngineError(400, f"Request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise EngineError(400, "Request body must be a JSON object.")
    return payload


def require_model(payload: JSON) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise EngineError(400, "you must provide a model parameter", param="model")
    return model


def optional_positive_int(payload: JSON, key: str) -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EngineError(400, f"{key} must be a positive integer", param=key)
    return value


def completion_limit(payload: JSON) -> int | None:
    """`max_completion_tokens` supersedes the deprecated `max_tokens`, as in OpenAI's API."""
    limit = optional_positive_int(payload, "max_completion_tokens")
    return limit if limit is not None else optional_positive_int(payload, "max_tokens")


def wants_stream(payload: JSON) -> bool:
    return payload.get("stream") is True


def wants_usage_chunk(payload: JSON) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


# --- text helpers ----------------------------------------------------------------


def word_count(text: str) -> int:
    return len(text.split())


def truncate_words(text: str, limit: int | None) -> tuple[str, bool]:
    """Normalised single-spaced text, cut to `limit` words; True when it was cut."""
    words = text.split()
    if limit is not None and len(words) > limit:
        return " ".join(words[:limit]), True
    return " ".join(words), False


def stream_pieces(text: str) -> list[str]:
    """Word-sized deltas whose concatenation is exactly `text` (minus trailing space)."""
    return _PIECE.findall(text)


def stable_id(prefix: str, body: bytes) -> str:
    return prefix + hashlib.sha256(body).hexdigest()[:24]


def usage(prompt_tokens: int, completion_tokens: int) -> JSON:
    cached = prompt_tokens // 2 if prompt_tokens >= CACHE_MIN_PROMPT_TOKENS else 0
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


# --- JSON schema examples (tool arguments, json_schema replies) ---------------------


def schema_type(schema: JSON) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def example_value(schema: Any) -> Any:
    """A value satisfying simple schemas: enums, scalars, nested objects, arrays."""
    if not isinstance(schema, dict):
        return None
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema_type(schema)
    if kind == "object":
        return example_object(schema)
    if kind == "array":
        return []
    return _SCALAR_EXAMPLES.get(kind or "")


def example_object(schema: Any) -> JSON:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {name: example_value(sub) for name, sub in properties.items()}


# --- chat completions ------------------------------------------------------------


def message_text(content: Any) -> str:
    """Text of a message's content: a string or the text parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict))
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def chat_messages(payload: JSON) -> list[JSON]:
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise EngineError(400, "messages must be a non-empty array", param="messages")
    if not all(isinstance(m, dict) for m in messages):
        raise EngineError(400, "each message must be an object", param="messages")
    return messages


def last_user_text(messages: list[JSON]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return message_text(users[-1].get("content")) if users else ""


def chat_prompt_tokens(messages: list[JSON]) -> int:
    return sum(word_count(message_text(m.get("content"))) for m in messages)


def chosen_tool(payload: JSON) -> JSON | None:
    """The function to call: the one tool_choice names, else the first; None when off."""
    tools = payload.get("tools")
    choice = payload.get("tool_choice", "auto")
    if not isinstance(tools, list) or choice == "none":
        return None
    functions: list[JSON] = [
        t["function"]
        for t in tools
        if isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
    ]
    if not functions:
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return named_function(functions, choice)
    return functions[0]


def named_function(functions: list[JSON], choice: JSON) -> JSON:
    spec = choice.get("function")
    wanted = spec.get("name") if isinstance(spec, dict) else None
    for function in functions:
        if function.get("name") == wanted:
            return function
    raise EngineError(400, f"tool_choice names unknown function {wanted!r}", param="tool_choice")


def tool_call_reply(function: JSON, body: bytes) -> Reply:
    arguments = _ENCODER.encode(example_object(function.get("parameters"))).decode()
    name = str(function.get("name", ""))
    call = {
        "id": stable_id("call_", body + name.encode()),
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return Reply(None, call, "tool_calls", max(1, word_count(arguments)))


def formatted_content(payload: JSON, text: str) -> str | None:
    """JSON content for response_format json_object / json_schema; None means plain text."""
    response_format = payload.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        return _ENCODER.encode({"echo": " ".join(text.split())}).decode()
    if kind == "json_schema" and isinstance(response_format, dict):
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return _ENCODER.encode(example_object(schema)).decode()
    return None


def chat_reply(payload: JSON, messages: list[JSON], body: bytes) -> Reply:
    function = chosen_tool(payload)
    if function is not None:
        return tool_call_reply(function, body)
    text = last_user_text(messages)
    formatted = formatted_content(payload, text)
    if formatted is not None:
        # JSON replies are never truncated: a cut object would not parse.
        return Reply(formatted, None, "stop", max(1, word_count(formatted)))
    content, cut = truncate_words(f"Echo: {text}", completion_limit(payload))
    return Reply(content, None, "length" if cut else "stop", word_count(content))


def assistant_message(reply: Reply) -> JSON:
    message: JSON = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_call is not None:
        message["tool_calls"] = [reply.tool_call]
    return message


def response_base(object_name: str, response_id: str, model: str) -> JSON:
    return {
        "id": response_id,
        "object": object_name,
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def chat_completion(base: JSON, reply: Reply, prompt_tokens: int) -> JSON:
    choice = {
        "index": 0,
        "message": assistant_message(reply),
        "finish_reason": reply.finish_reason,
        "logprobs": None,
    }
    return {**base, "choices": [choice], "usage": usage(prompt_tokens, reply.completion_tokens)}


def content_deltas(content: str) -> list[JSON]:
    pieces = [{"content": piece} for piece in stream_pieces(content)]
    return [{"role": "assistant", "content": ""}, *pieces]


def tool_call_deltas(call: JSON) -> list[JSON]:
    """OpenAI's shape: the call's id and name first, then argument fragments by index."""
    header = {"index": 0, **call, "function": {"name": call["function"]["name"], "arguments": ""}}
    arguments: str = call["function"]["arguments"]
    fragments = [
        {
            "tool_calls": [
                {"index": 0, "function": {"arguments": arguments[i : i + TOOL_ARGUMENT_SLICE]}}
            ]
        }
        for i in range(0, len(arguments), TOOL_ARGUMENT_SLICE)
    ]
    return [{"role": "assistant", "content": None, "tool_calls": [header]}, *fragments]


def chat_chunk(base: JSON, delta: JSON, finish_reason: str | None) -> JSON:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {**base, "choices": [choice]}


def chat_chunks(base: JSON, reply: Reply, prompt_tokens: int, include_usage: bool) -> list[JSON]:
    if reply.tool_call is not None:
        deltas = tool_call_deltas(reply.tool_call)
    else:
        deltas = content_deltas(reply.content or "")
    chunks = [chat_chunk(base, delta, None) for delta in deltas]
    chunks.append(chat_chunk(base, {}, reply.finish_reason))
    return with_usage_chunk(
        chunks, base, usage(prompt_tokens, reply.completion_tokens), include_usage
    )


def with_usage_chunk(chunks: list[JSON], base: JSON, totals: JSON, include: bool) -> list[JSON]:
    """OpenAI sends `usage: null` on every chunk, then one choice-less chunk with the totals."""
    if not include:
        return chunks
    for chunk in chunks:
        chunk["usage"] = None
    return [*chunks, {**base, "choices": [], "usage": totals}]


# --- legacy completions ----------------------------------------------------------


def text_prompt(text: str) -> Prompt:
    return Prompt(text, word_count(text), text.encode())


def token_prompt(tokens: list[int]) -> Prompt:
    return Prompt(" ".join(map(str, tokens)), len(tokens), b"tokens:" + _ENCODER.encode(tokens))


def is_token_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value
    )


def parse_prompts(value: Any, param: str) -> list[Prompt]:
    """A string, strings, one token array or token arrays: one Prompt per input."""
    if isinstance(value, str):
        return [text_prompt(value)]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return [text_prompt(v) for v in value]
        if is_token_list(value):
            return [token_prompt(value)]
        if all(is_token_list(v) and v for v in value):
            return [token_prompt(v) for v in value]
    raise EngineError(
        400, f"{param} must be a string, array of strings or token arrays", param=param
    )


def completion_text(prompt: Prompt, limit: int | None) -> tuple[str, str]:
    text, cut = truncate_words(f"Echo: {prompt.text}", limit)
    return text, "length" if cut else "stop"


def text_choice(index: int, text: str, finish_reason: str | None) -> JSON:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}


def legacy_completion(base: JSON, prompts: list[Prompt], limit: int | None) -> JSON:
    texts = [completion_text(p, limit) for p in prompts]
    choices = [text_choice(i, text, reason) for i, (text, reason) in enumerate(texts)]
    prompt_tokens = sum(p.tokens for p in prompts)
    completion_tokens = sum(word_count(text) for text, _ in texts)
    return {**base, "choices": choices, "usage": usage(prompt_tokens, completion_tokens)}


def legacy_chunks(
    base: JSON, prompts: list[Prompt], limit: int | None, include: bool
) -> list[JSON]:
    chunks: list[JSON] = []
    completion_tokens = 0
    for index, prompt in enumerate(prompts):
        text, reason = completion_text(prompt, limit)
        completion_tokens += word_count(text)
        chunks += [{**base, "choices": [text_choice(index, p, None)]} for p in stream_pieces(text)]
        chunks.append({**base, "choices": [text_choice(index, "", reason)]})
    totals = usage(sum(p.tokens for p in prompts), completion_tokens)
    return with_usage_chunk(chunks, base, totals, include)


# --- embeddings ------------------------------------------------------------------


@lru_cache(maxsize=256)
def unit_vector(digest: bytes, dimensions: int) -> tuple[float, ...]:
    """Deterministic L2-normalised vector: the digest seeds a SHAKE stream of int16s."""
    raw = hashlib.shake_256(digest).digest(2 * dimensions)
    values = struct.unpack(f"<{dimensions}h", raw)
    norm = math.sqrt(math.fsum(v * v for v in values)) or 1.0
    return tuple(v / norm for v in values)


def embedding_dimensions(payload: JSON) -> int:
    dimensions = optional_positive_int(payload, "dimensions")
    if dimensions is None:
        return DEFAULT_EMBEDDING_DIMENSIONS
    if dimensions > MAX_EMBEDDING_DIMENSIONS:
        raise EngineError(
            400, f"dimensions must be <= {MAX_EMBEDDING_DIMENSIONS}", param="dimensions"
        )
    return dimensions


def embeddings(payload: JSON, model: str) -> JSON:
    # encoding_format is deliberately ignored: like many real engines this one always
    # answers float lists, and converting to base64 is the gateway's job.
    prompts = parse_prompts(payload.get("input"), "input")
    dimensions = embedding_dimensions(payload)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": unit_vector(hashlib.sha256(p.key).digest(), dimensions),
        }
        for i, p in enumerate(prompts)
    ]
    tokens = sum(p.tokens for p in prompts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# --- failure injection -----------------------------------------------------------


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


# --- the engine ------------------------------------------------------------------

Handler = Callable[[JSON, str, bytes], Response]


class ReferenceEngine:
    """Configuration and stream counters shared by the route handlers."""

    def __init__(self, models: Sequence[str], stream_delay_s: float, slow_s: float) -> None:
        self.models = list(models)
        self.stream_delay_s = stream_delay_s
        self.slow_s = slow_s
        self.stats = StreamStats()

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
            yield b"data: " + _ENCODER.encode(chunk) + b"\n\n"
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

    def model_list(self) -> JSON:
        data = [
            {"id": m, "object": "model", "created": MODEL_CREATED, "owned_by": MODEL_OWNER}
            for m in self.models
        ]
        return {"object": "list", "data": data}


# --- app factory and CLI ---------------------------------------------------------


def post_route(path: str, engine: ReferenceEngine, handler: Handler) -> Route:
    async def endpoint(request: Request) -> Response:
        return await engine.serve(request, handler)

    return Route(path, endpoint, methods=["POST"])


def get_route(path: str, answer: Callable[[], Response]) -> Route:
    async def endpoint(request: Request) -> Response:
        return answer()

    return Route(path, endpoint, methods=["GET"])


def create_app(
    models: Sequence[str] = (),
    stream_delay_s: float = 0.0,
    slow_s: float = DEFAULT_SLOW_S,
) -> Starlette:
    """The engine app; `app.state.engine` is its `ReferenceEngine` (config and stats).

    `models` empty means any model name is served (and /v1/models lists none).
    """
    engine = ReferenceEngine(models, stream_delay_s, slow_s)
    routes = [
        get_route("/health", lambda: PlainTextResponse("ok")),
        get_route("/v1/models", lambda: json_response(engine.model_list())),
        get_route("/debug/stats", lambda: json_response(asdict(engine.stats))),
        post_route("/v1/chat/completions", engine, engine.chat),
        post_route("/v1/completions", engine, engine.completions),
        post_route("/v1/embeddings", engine, engine.embeddings),
    ]
    app = Starlette(routes=routes)
    app.state.engine = engine
    return app


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--models", default="", help="comma-separated served model ids; empty: any")
    parser.add_argument("--stream-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--slow", type=float, default=DEFAULT_SLOW_S, help=f"{MODEL_SLOW} delay, s")
    return parser.parse_args(argv)


def split_models(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    app = create_app(split_models(args.models), args.stream_delay, args.slow)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
