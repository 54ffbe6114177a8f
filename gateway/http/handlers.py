"""The request handlers that the generated routes call.

One forwarded request is a sequence of named stages (`Gateway._answer`):
authenticate, read the body, admit it against the key's limits, validate it
with the endpoint's generated validator, resolve the model, apply the
matrix's rules, forward to the engine, rewrite the answer; then account: its
outcome goes to the app's observers (gateway.observe), once, whether it was
answered, refused or streamed. Every failure on the way is an ApiError,
answered in OpenAI's envelope: by the forwarded endpoints' lean ASGI path
itself (gateway.http.lean), by the app's exception handlers for the rest.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import UNSET
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from gateway import deadlines
from gateway.anchors import endpoint_anchor
from gateway.catalog import IndexedCatalog, Model
from gateway.config import ROOT
from gateway.errors import ApiError
from gateway.http import lean, responses, stream_usage
from gateway.http.auth import KeyRecord, KeyStore
from gateway.http.content_encoding import read_body
from gateway.http.drain import DRAIN, Drain, shutting_down
from gateway.http.lean import JsonAnswer, LeanProxy
from gateway.http.responses import ResponseKind
from gateway.http.streaming import EventStream
from gateway.limits.bodies import BodyBudget, body_too_slow
from gateway.limits.ratelimit import RateLimiter, rate_limit_error
from gateway.observe import Observers, StreamEnd, Trace, Usage, usage_of
from gateway.ops.request_ids import scope_request_id
from gateway.upstream import serving
from gateway.upstream.client import (
    Reply,
    Upstream,
    garbage_error,
    passthrough_error,
    sse_data_batches,
    transport_error,
)
from gateway.upstream.health import HealthMonitor
from gateway.upstream.http1 import StreamedResponse, UpstreamError
from gateway.validation.rules import Applied, Rule, apply_rules
from gateway.validation.validator import Validator

Handler = Callable[[Request], Awaitable[Response]]
Stages = Callable[[Request, "Trace"], Awaitable[Response]]

log = logging.getLogger(__name__)

_split_top_level = msgspec.json.Decoder(dict[str, msgspec.Raw])
_decode = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode
_DONE = b"data: [DONE]\n\n"
_GENERATED = ROOT / "generated"


class JSONBytes(Response):
    media_type = "application/json"


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """What the matrix says about one forwarded endpoint, bound by the generated routes."""

    validator: Validator[Any]
    upstream_path: str
    rules: tuple[Rule, ...]
    categories: tuple[str, ...]  # the model categories this endpoint serves
    response: ResponseKind

    @property
    def key(self) -> str:
        return self.validator.endpoint

    @property
    def endpoint(self) -> str:
        return f"POST /v1{self.upstream_path}"


class ObservedStream(EventStream):
    """A streamed answer whose end, however it comes, is reported once to the observers.

    The relay reports how it ended; if it never ran or was left suspended (the
    client gone before or between chunks), closing it here runs its `finally`
    now rather than whenever the generator is collected.
    """

    def __init__(self, chunks: AsyncGenerator[bytes], trace: Trace, **kwargs: Any) -> None:
        super().__init__(chunks, **kwargs)
        self._chunks = chunks
        self._trace = trace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._chunks.aclose()
            self._trace.stream_ended("client_gone", None)  # a no-op if the relay reported


class AnyMethod:
    """A handler that Starlette's `Route` serves for every HTTP method.

    `Route` without `methods` serves a plain function for GET and HEAD only, so
    POST /v1/batches would answer 404 Invalid URL; an ASGI app gets every method.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


class Gateway:
    """The shared state of the handlers: catalog, keys, limits, engines."""

    def __init__(
        self,
        catalog: IndexedCatalog,
        keys: KeyStore,
        limiter: RateLimiter,
        upstream: Upstream,
        health: HealthMonitor,
        max_body_bytes: int,
        docs_url: str,
        bodies: BodyBudget | None = None,
        body_timeout_s: float = 30.0,
        drain: Drain = DRAIN,
        observers: Observers | None = None,
    ) -> None:
        self.catalog = catalog
        self.keys = keys
        self.limiter = limiter
        self.upstream = upstream
        self.health = health
        self.max_body_bytes = max_body_bytes
        self.docs_url = docs_url
        self.bodies = bodies or BodyBudget(4 * max_body_bytes)
        self.body_timeout_s = body_timeout_s
        self.drain = drain
        self.observers = observers or Observers()

    async def admit(self, request: Request, tokens: int) -> tuple[KeyRecord, dict[str, str]]:
        """Authenticate and count one request; the rate-limit headers for its answer."""
        key = self.keys.authenticate(request.headers.get("authorization"))
        return key, await self.count(key, tokens)

    async def count(self, key: KeyRecord, tokens: int) -> dict[str, str]:
        """Count one request against the key's limits; the rate-limit headers for its answer."""
        decision = await self.limiter.acquire(key.id, key.rpm, key.tpm, tokens)
        if not decision.allowed:
            raise rate_limit_error(decision, key.id, key.rpm, key.tpm)
        return decision.headers

    async def body(self, scope: Scope, receive: Receive) -> bytes:
        """The request body, refused with a 413 past `max_body_bytes` without reading it all.

        A compressed body is decoded (gateway.http.content_encoding): the limit
        is on its decoded size. A 408 when it does not arrive within
        `body_timeout_s`, a 503 when the process already holds its budget of
        bodies (see gateway.limits.bodies).
        """
        declared = lean.header(scope, b"content-length") or ""
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large(int(declared))
        self.bodies.reserve(scope, int(declared) if declared.isdigit() else 0)
        encoding = lean.header(scope, b"content-encoding")
        try:
            async with deadlines.timeout(self.body_timeout_s):
                # Each chunk is counted against the process's budget as it arrives.
                chunks = lean.BodyChunks(
                    receive, lambda received: self.bodies.reserve(scope, received)
                )
                body = await read_body(chunks, encoding, self.max_body_bytes, self._too_large)
        except TimeoutError:
            raise body_too_slow(self.body_timeout_s) from None
        self.bodies.reserve(scope, len(body))  # decoded, it may hold more
        return body

    def _too_large(self, size: int) -> ApiError:
        return ApiError(
            413,
            f"Request body too large: {size} bytes or more, but at most "
            f"{self.max_body_bytes} bytes are accepted.",
        )

    def model(self, model_id: str) -> Model:
        """The catalog's model, or 404 `model_not_found` (gateway.upstream.serving)."""
        model = self.catalog.model(model_id)
        if model is None:
            raise serving.not_found(model_id)
        return model

    def require_serving(self, model: Model) -> None:
        """A 503 for a catalog model whose engine failed its last health check."""
        if not serving.is_serving(model, self.health.serving):
            raise serving.not_serving(model, self.health.interval_s)

    def proxy(
        self,
        validator: Validator[Any],
        upstream_path: str,
        rules: tuple[Rule, ...],
        categories: tuple[str, ...],
        response: ResponseKind,
    ) -> LeanProxy:
        """The ASGI handler of a validated, forwarded endpoint (chat, completions, embeddings).

        `categories` are the model categories the matrix maps to this endpoint,
        `response` the rewrite its answers get (gateway.http.responses). It is
        served without Starlette's Request and Response (gateway.http.lean).
        """
        route = ProxyRoute(validator, upstream_path, rules, categories, response)

        def stages(scope: Scope, receive: Receive, trace: Trace) -> Awaitable[lean.Answer]:
            return self._answer(scope, receive, route, trace)

        return LeanProxy(route.key, stages, self.observers, self.docs_url)

    def observed(self, endpoint: str, stages: Stages) -> Handler:
        """`stages` as a handler whose outcome goes to the observers once, however it ends.

        A refusal (ApiError) or a crash is reported as it propagates to the app's
        handlers; a stream reports when it ends (ObservedStream); any other
        answer as it is returned.
        """

        async def handle(request: Request) -> Response:
            trace = Trace(endpoint, self.observers, request_id=scope_request_id(request.scope))
            try:
                answer = await stages(request, trace)
            except ApiError as error:
                trace.refused(error)
                raise
            except Exception:
                trace.crashed()
                raise
            if not trace.stream:
                trace.answered(answer.status_code)
            return answer

        return handle

    async def _answer(
        self, scope: Scope, receive: Receive, route: ProxyRoute, trace: Trace
    ) -> lean.Answer:
        """The stages of a forwarded request, in order; each failure is an ApiError."""
        key = self.keys.authenticate(lean.header(scope, b"authorization"))
        trace.key_id = key.id
        body = await self.body(scope, receive)
        estimate = estimate_tokens(body)
        headers = await self.count(key, estimate)
        with ErrorsCarry(headers):
            with self._refunded_if_refused(key, estimate):  # the engine never saw these
                typed = route.validator.validate(body)
                trace.stream = getattr(typed, "stream", None) is True
                model = self.resolve(typed.model, route)
                trace.model = model.id
                applied = apply_rules(typed, model, route.rules)
                self.require_serving(model)  # after every 400: they do not depend on the engine
            # A stream always asks the engine for usage (the ledger and TPM need it);
            # the client gets the usage chunk only if it asked for it.
            relay_usage = stream_usage.client_asked(typed)
            ask_usage = trace.stream and not relay_usage
            forwarded = forward_body(body, model.upstream_model, applied, ask_usage)
            del body  # not held while the engine answers: the forwarded copy replaces it
            url = f"{self.catalog.base_urls[model.id]}{route.upstream_path}"
            answer_headers = {**headers, **applied.headers}
            settle = self._settler(key, estimate)
            if trace.stream:
                stream = StreamPlan(model, trace, withhold_usage=ask_usage, settle=settle)
                return await self._stream(url, forwarded, answer_headers, stream)
            with trace.upstream():
                reply = await self.forward(url, forwarded, model, trace.request_id)
            trace.usage = usage_of(reply.payload)
            settle(trace.usage)
            payload = rewrite(route.response, reply.payload, model, typed)
            return JsonAnswer(reply.status, _encode(payload), answer_headers)

    def resolve(self, model_id: str, route: ProxyRoute) -> Model:
        """The catalog model the request names, if this endpoint serves its category."""
        model = self.model(model_id)
        _require_category(model, route.categories, route.endpoint)
        return model

    async def forward(
        self, url: str, body: bytes, model: Model, request_id: str | None = None
    ) -> Reply:
        """The engine's JSON answer; counted as in flight for the shutdown's drain."""
        async with self.drain.bounded():
            return await self.upstream.post_json(url, body, model.id, request_id)

    async def _stream(
        self, url: str, body: bytes, headers: dict[str, str], plan: StreamPlan
    ) -> Response:
        model, trace = plan.model, plan.trace
        async with self.drain.bounded():
            with trace.upstream():
                upstream = await self.upstream.open_stream(url, body, model.id, trace.request_id)
        return ObservedStream(
            relay(upstream, model, self.docs_url, self.drain, trace, plan),
            trace,
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache"},
        )

    def _refunded_if_refused(self, key: KeyRecord, estimate: int) -> RefundIfRefused:
        """A request the gateway refuses before forwarding used no tokens: its estimate goes
        back to the key's bucket (its request still counts against RPM, as on api.openai.com
        a refused request does)."""
        return RefundIfRefused(self.limiter, key, estimate)

    def _settler(self, key: KeyRecord, estimate: int) -> Callable[[Usage | None], None]:
        """Corrects the key's token bucket by what the engine really used, once it is known.

        The request was charged `estimate` tokens before the engine answered; the
        difference goes back (or is taken) without the answer waiting for it
        (gateway.limits.ratelimit: `settle`). No usage reported: the estimate stands.
        """

        def settle(usage: Usage | None) -> None:
            used = used_tokens(usage)
            if used is not None and used != estimate:
                self.limiter.settle(key.id, key.rpm, key.tpm, used - estimate)

        return settle

    def models(self) -> Handler:
        """GET /v1/models: OpenAI's Model shape plus `category`, serving models only.

        On a path with a `{model}` parameter, that one model (`models.retrieve`).
        """

        async def handle(request: Request, trace: Trace) -> Response:
            key, headers = await self.admit(request, 0)
            trace.key_id = key.id
            engines = self.health.serving
            model_id = request.path_params.get("model")
            if model_id is not None:
                with ErrorsCarry(headers):
                    model = self.model(model_id)
                    trace.model = model.id
                    self.require_serving(model)
                    return JSONBytes(_encode(_model_object(model)), headers=headers)
            data = [
                _model_object(m)
                for m in sorted(self.catalog.models.values(), key=lambda m: m.id)
                if serving.is_serving(m, engines)
            ]
            return JSONBytes(_encode({"object": "list", "data": data}), headers=headers)

        return self.observed("models", handle)

    def unsupported(self, key: str, note: str) -> AnyMethod:
        """An endpoint the matrix marks unsupported: the page's note says what to use.

        Answered for every method (POST /v1/batches as well as GET /v1/files), with
        the rate-limit headers of any authenticated answer.
        """

        async def handle(request: Request, trace: Trace) -> Response:
            record, headers = await self.admit(request, 0)
            trace.key_id = record.id
            raise ApiError(
                404,
                f"{request.method} {request.url.path} is not supported by this gateway. {note}",
                anchor=endpoint_anchor(key),
                headers=headers,
            )

        return AnyMethod(self.observed(key, handle))

    def trailing_slash(self) -> AnyMethod:
        """A served path with a trailing slash: api.openai.com's Invalid URL, after authentication.

        Not Starlette's redirect: a 307 would be answered to anyone, before the
        key is checked, and clients do not follow it with the body anyway.
        """

        async def handle(request: Request) -> Response:
            _, headers = await self.admit(request, 0)
            raise ApiError(
                404,
                f"Invalid URL ({request.method} {request.url.path})",
                anchor="endpoints",
                headers=headers,
            )

        return AnyMethod(handle)

    def document(self, name: str, media_type: str) -> Handler:
        """A generated document (the compatibility page), served as committed."""
        path = _GENERATED / name

        async def handle(request: Request) -> Response:
            if not path.exists():
                raise ApiError(404, f"Invalid URL ({request.method} {request.url.path})")
            return FileResponse(path, media_type=media_type)

        return handle


class _OnRefusal:
    """A context manager that acts on an ApiError raised inside and lets it go on up.

    A class rather than a `contextlib.contextmanager`: it is on every request's path, and a
    generator-based one costs a generator and its frame each time."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if isinstance(error, ApiError):
            self.refused(error)

    def refused(self, error: ApiError) -> None:
        raise NotImplementedError


class RefundIfRefused(_OnRefusal):
    """On an ApiError inside, gives `estimate` tokens back to the key's bucket."""

    __slots__ = ("estimate", "key", "limiter")

    def __init__(self, limiter: RateLimiter, key: KeyRecord, estimate: int) -> None:
        self.limiter = limiter
        self.key = key
        self.estimate = estimate

    def refused(self, error: ApiError) -> None:
        self.limiter.settle(self.key.id, self.key.rpm, self.key.tpm, -self.estimate)


class ErrorsCarry(_OnRefusal):
    """Errors raised inside carry `headers` too (every counted answer has the rate-limit ones)."""

    __slots__ = ("headers",)

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def refused(self, error: ApiError) -> None:
        error.headers = {**self.headers, **error.headers}


def rewrite(kind: ResponseKind, payload: dict[str, Any], model: Model, typed: Any) -> Any:
    """The engine's answer as the client gets it (see gateway.http.responses)."""
    if kind == "embeddings":
        encoding = typed.encoding_format if typed.encoding_format is not UNSET else "float"
        return responses.embeddings(payload, encoding)
    return responses.completion(payload, model)


def _model_object(model: Model) -> dict[str, Any]:
    """OpenAI's Model shape, plus the `category` that says which endpoint serves it."""
    return {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": model.owned_by,
        "category": model.category,
    }


def _require_category(model: Model, categories: tuple[str, ...], endpoint: str) -> None:
    if model.category not in categories:
        raise ApiError(
            404,
            f"Model '{model.id}' (category {model.category}) is not served on {endpoint}. "
            "See model discovery for the category → endpoint mapping.",
            param="model",
            anchor="model-discovery",
        )


def estimate_tokens(body: bytes) -> int:
    """Tokens charged against the key's TPM before the engine answers: ~4 bytes each."""
    return len(body) // 4 + 1


def used_tokens(usage: Usage | None) -> int | None:
    """Prompt plus completion tokens as the engine reported them; None if it did not."""
    if usage is None or usage.prompt_tokens is None:
        return None
    return usage.prompt_tokens + (usage.completion_tokens or 0)


def forward_body(
    body: bytes, upstream_model: str, applied: Applied | None = None, ask_usage: bool = False
) -> bytes:
    """The client's body with only `model` (and what the rules apply) replaced.

    Splitting at the top level keeps every other value as raw JSON bytes, so
    unknown and unvalidated fields reach the engine exactly as sent; a rule's
    system messages go before the client's messages, which stay as sent.
    `ask_usage` sets `stream_options.include_usage` (gateway.http.stream_usage).
    """
    fields = _split_top_level.decode(body)
    fields["model"] = msgspec.Raw(_encode(upstream_model))
    if ask_usage:
        fields["stream_options"] = stream_usage.asking_for_usage(fields.get("stream_options"))
    if applied is not None:
        for rewrite in applied.rewrites:
            fields[rewrite.field] = msgspec.Raw(_encode(rewrite.value))
        if applied.system_messages and "messages" in fields:
            fields["messages"] = _prepended(fields["messages"], applied.system_messages)
    return _encode(fields)


def _prepended(messages: msgspec.Raw, contents: list[str]) -> msgspec.Raw:
    """`messages` (a validated, non-empty array, as raw bytes) after system messages."""
    raw = bytes(messages).strip()
    added = b",".join(_encode({"role": "system", "content": c}) for c in contents)
    return msgspec.Raw(b"[" + added + b"," + raw[1:])


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """How one stream is relayed: whose it is, and what happens to the engine's usage."""

    model: Model
    trace: Trace
    withhold_usage: bool = False  # the gateway asked for it, the client did not
    settle: Callable[[Usage | None], None] | None = None  # the TPM correction at the end


async def relay(
    upstream: StreamedResponse,
    model: Model,
    docs: str,
    drain: Drain = DRAIN,
    trace: Trace | None = None,
    plan: StreamPlan | None = None,
) -> AsyncGenerator[bytes]:
    """Relay an engine's event stream chunk by chunk, rewriting each chunk.

    When the client goes away Starlette cancels this generator; closing the
    engine's response in `finally` then stops the generation upstream too.
    At the end of a shutdown's drain period `drain` fails the engine's
    response, and the stream ends with an error event saying so. `trace`
    gets the time to the first chunk, the usage of the last chunk that has
    one, and how the stream ended. With `plan.withhold_usage` the client
    does not see the usage it did not ask for (gateway.http.stream_usage);
    `plan.settle` gets the stream's usage when it ends.
    """
    withhold = plan is not None and plan.withhold_usage
    drain.track_stream(upstream)
    end: StreamEnd = "client_gone"  # unless the loop below gets further
    error: ApiError | None = None  # what the stream's error event said, if it had one
    events: list[bytes] = []  # the rewritten events of one read, sent in one write
    try:
        async for batch in sse_data_batches(upstream):
            if trace is not None:
                trace.first_chunk()
            for data in batch:
                if data == b"[DONE]":
                    end = "engine_error" if error is not None else "done"
                    events.append(_DONE)
                    yield b"".join(events)
                    return
                chunk = _decode.decode(data)
                if isinstance(chunk, dict) and "error" in chunk:  # the engine's own error event
                    error = passthrough_error(500, chunk, model.id)
                    log.warning("engine of model %s sent an error event: %s", model.id, data)
                chunk = _rewritten_chunk(chunk, model, trace)
                if withhold and stream_usage.withheld(chunk):
                    continue
                events.append(b"data: " + _encode(chunk) + b"\n\n")
            if events:  # a read may hold only what is withheld
                yield b"".join(events)
                events.clear()
        end = "engine_error" if error is not None else "truncated"
    except (UpstreamError, TimeoutError, msgspec.DecodeError) as failure:
        # Headers are gone already: say it the way OpenAI's stream does, as an error event
        # (after the events of the same read that came before the failure).
        end = "drain" if drain.expired else "engine_error"
        error = shutting_down() if drain.expired else _stream_error(failure, model)
        log.warning("stream of model %s ended (%s): %r", model.id, end, failure)
        events.append(b"data: " + _encode(error.envelope(docs)) + b"\n\n")
        yield b"".join(events)
    except Exception:
        end = "crashed"  # logged by gateway.http.crash
        raise
    finally:
        drain.forget_stream(upstream)
        upstream.close(finished=end in ("done", "engine_error"))  # else it stops the engine
        if plan is not None and plan.settle is not None and trace is not None:
            plan.settle(trace.usage)
        if trace is not None:
            trace.stream_ended(end, error)


def _stream_error(failure: Exception, model: Model) -> ApiError:
    """An engine that stalls mid-stream timed out; anything else is an invalid response."""
    if isinstance(failure, TimeoutError):
        return transport_error(failure, model.id)
    return garbage_error(model.id)


def _rewritten_chunk(chunk: Any, model: Model, trace: Trace | None) -> Any:
    if isinstance(chunk, dict) and "error" not in chunk:
        usage = usage_of(chunk)  # the last chunk has it when include_usage asked for it
        if usage is not None and trace is not None:
            trace.usage = usage
        return responses.completion(chunk, model)
    return chunk
