"""The one place a request's outcome is seen: the hook the ledger, metrics and access log attach to.

Every answered request of an endpoint of the matrix (the forwarded ones:
chat, completions, embeddings; the model listing; the unsupported ones) ends
in exactly one `RequestOutcome`, handed to each observer the app was built
with: after the answer for a plain request, when the stream ends (however it
ends) for a streamed one, and with the error's type, param and code when the
gateway or the engine refused it. Not observed: routing misses, trailing
slashes and the documents (/docs, /openapi.json), which no route of the
matrix answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast, runtime_checkable

from gateway.errors import ApiError
from gateway.random_hex import RANDOM_HEX

log = logging.getLogger(__name__)

# How a stream ended: the engine's [DONE]; the engine failing or stalling, or sending
# an error event of its own (the client got an error event); the shutdown's drain
# period running out; the client leaving; the engine closing the stream without
# [DONE]; a bug in the gateway (logged by gateway.http.crash).
StreamEnd = Literal["done", "engine_error", "drain", "client_gone", "truncated", "crashed"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the engine reported them; None where it did not say."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class RefusalInfo:
    """What the client was told when the request was refused (OpenAI's error fields)."""

    type: str
    param: str | None
    code: str | None
    message: str


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    # This outcome's own id, always the gateway's: unique even when clients reuse their
    # X-Client-Request-Id, so a ledger keyed on it never drops a request as a duplicate.
    outcome_id: str
    request_id: str  # the x-request-id the client got (gateway.ops.request_ids)
    received_at: float  # wall-clock time of the request's arrival, seconds since the epoch
    endpoint: str  # the matrix's endpoint key, e.g. "chat.completions"
    key_id: str | None  # None before authentication succeeded
    model: str | None  # the catalog model id, once resolved
    status: int  # the HTTP status the client got (200 for a stream that started)
    stream: bool  # a valid request that asked for a stream
    usage: Usage | None
    latency_s: float  # from the request's arrival to its answer (a stream's end)
    first_chunk_s: float | None  # streams: to the first chunk sent to the client
    error: RefusalInfo | None  # a refusal, or the error event that ended a stream
    stream_end: StreamEnd | None
    # Waiting for the engine: its whole answer, or a stream's response headers; None
    # when the request never reached an engine.
    upstream_s: float | None = None


class Observer(Protocol):
    """Called once per answered request; must not block (it runs on the event loop)."""

    def __call__(self, outcome: RequestOutcome, /) -> None: ...


@runtime_checkable
class BatchObserver(Protocol):
    """An observer that takes one event-loop turn's outcomes at once (`observe_batch`),
    to write them together: one metrics write per label child, one access-log write."""

    def __call__(self, outcome: RequestOutcome, /) -> None: ...

    def observe_batch(self, outcomes: Sequence[RequestOutcome], /) -> None: ...


class Observers:
    """The observers the app was built with; one failing observer never fails a request.

    Outcomes are delivered at the end of the event-loop turn they were reported in,
    together: after the answers of that turn were written to their sockets (the
    transport writes at the end of the turn too, gateway.http.coalesce, and was
    asked first), so no observer's work delays an answer. Outside an event loop
    (scripts, tests) an outcome is delivered at once.
    """

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self._observers = tuple((o, isinstance(o, BatchObserver)) for o in observers)
        self._pending: list[RequestOutcome] = []

    def notify(self, outcome: RequestOutcome) -> None:
        if not self._pending:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._deliver([outcome])
                return
            loop.call_soon(self.flush)
        self._pending.append(outcome)

    def flush(self) -> None:
        """Delivers what is pending now (the app's shutdown calls it before the observers')."""
        outcomes, self._pending = self._pending, []
        if outcomes:
            self._deliver(outcomes)

    def _deliver(self, outcomes: list[RequestOutcome]) -> None:
        for observer, takes_batches in self._observers:
            if takes_batches:
                try:
                    cast(BatchObserver, observer).observe_batch(outcomes)
                except Exception:
                    log.exception("observer %r failed on %d outcomes", observer, len(outcomes))
                continue
            for outcome in outcomes:
                try:
                    observer(outcome)
                except Exception:
                    log.exception("observer %r failed on a %s outcome", observer, outcome.endpoint)


def new_request_id() -> str:
    """A fresh id in api.openai.com's shape: `req_` and 32 hex digits."""
    return f"req_{RANDOM_HEX.hex(16)}"


def new_outcome_id() -> str:
    """32 hex digits: the clock in nanoseconds, then 64 random bits. Unique like a random id,
    but ids made later sort later, so the ledger's primary-key index grows at its end
    instead of splitting pages all over (`make bench-ledger`: about 40 % less CPU per row)."""
    return f"{time.time_ns():016x}{RANDOM_HEX.hex(8)}"


@dataclass(slots=True)
class Trace:
    """What is known about one request so far, filled in stage by stage; reported once."""

    endpoint: str
    observers: Observers
    request_id: str = field(default_factory=new_request_id)
    outcome_id: str = field(default_factory=new_outcome_id)
    received_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    key_id: str | None = None
    model: str | None = None
    stream: bool = False
    usage: Usage | None = None
    first_chunk_s: float | None = None
    upstream_s: float | None = None
    reported: bool = False

    def answered(self, status: int) -> None:
        self._report(status, None, None)

    def refused(self, error: ApiError) -> None:
        self._report(error.status, refusal(error), None)

    def crashed(self) -> None:
        self._report(500, RefusalInfo("server_error", None, None, "unhandled error"), None)

    def stream_ended(self, end: StreamEnd, error: ApiError | None) -> None:
        self._report(200, refusal(error) if error is not None else None, end)

    def first_chunk(self) -> None:
        if self.first_chunk_s is None:
            self.first_chunk_s = time.perf_counter() - self.started

    def upstream(self) -> UpstreamTimer:
        """Times the wait for the engine inside, however it ends (a failure took time too)."""
        return UpstreamTimer(self)

    def _report(self, status: int, error: RefusalInfo | None, end: StreamEnd | None) -> None:
        if self.reported:  # a stream's end can be seen twice (relay, response): once only
            return
        self.reported = True
        outcome = RequestOutcome(
            outcome_id=self.outcome_id,
            request_id=self.request_id,
            received_at=self.received_at,
            endpoint=self.endpoint,
            key_id=self.key_id,
            model=self.model,
            status=status,
            stream=self.stream,
            usage=self.usage,
            latency_s=time.perf_counter() - self.started,
            first_chunk_s=self.first_chunk_s,
            error=error,
            stream_end=end,
            upstream_s=self.upstream_s,
        )
        self.observers.notify(outcome)


class UpstreamTimer:
    """`Trace.upstream`'s context manager (a class: it is on every forwarded request's path)."""

    __slots__ = ("started", "trace")

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        self.trace.upstream_s = time.perf_counter() - self.started


def refusal(error: ApiError) -> RefusalInfo:
    return RefusalInfo(error.type, error.param, error.code, error.message)


def usage_of(payload: Any) -> Usage | None:
    """The `usage` object of an engine's answer or last chunk, if it has one."""
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        cached_tokens=_count(cached),
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
