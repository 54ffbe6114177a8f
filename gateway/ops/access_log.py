"""The access log: one JSON line per answered request, on the `gateway.access` logger.

An observer (gateway.observe) that turns each `RequestOutcome` into one line:

    {"time": "2026-12-01T16:05:09.125Z", "request_id": "req_…", "key_id": "local-dev",
     "model": "reference-chat", "endpoint": "chat.completions", "status": 200,
     "latency_ms": 3.412, "prompt_tokens": 9, "completion_tokens": 12, "cached_tokens": null,
     "stream": true, "first_chunk_ms": 1.204, "stream_end": "done",
     "error_type": null, "error_param": null, "error_code": null}

`time` is the request's arrival (UTC), latencies are milliseconds, tokens are
the engine's own counts (null where it reported none), `error_*` the fields of
the refusal the client got (or of the error event that ended a stream). Every
key is always present, so a log pipeline can type its columns once. A line
is a msgspec Struct encoded in one call (only when a handler formats it); the
lines of one event-loop turn are one `logging` record, so the handler
(gateway.logs: its own, message-only, on stderr) writes them with one system
call, after that turn's answers went out. `make bench-access-log` measures it.
`logging.access: off` (`GATEWAY_ACCESS_LOG=off`) leaves the observer out.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import Literal

import msgspec

from gateway.observe import RequestOutcome

LOGGER = "gateway.access"
AccessLogMode = Literal["json", "off"]

log = logging.getLogger(LOGGER)


class AccessLine(msgspec.Struct, frozen=True):
    time: str
    request_id: str
    key_id: str | None
    model: str | None
    endpoint: str
    status: int
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    stream: bool
    first_chunk_ms: float | None
    stream_end: str | None
    error_type: str | None
    error_param: str | None
    error_code: str | None


_encode = msgspec.json.Encoder().encode


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def utc_time(seconds: float) -> str:
    """`2026-12-01T16:05:09.125Z`: ISO 8601 in UTC, to the millisecond (never rounded up).

    The formatted second is cached: the lines of one second share it."""
    whole = int(seconds)
    return f"{_second(whole)}.{int((seconds - whole) * 1000):03d}Z"


def access_line(outcome: RequestOutcome) -> AccessLine:
    usage, error = outcome.usage, outcome.error
    first = outcome.first_chunk_s
    return AccessLine(
        time=utc_time(outcome.received_at),
        request_id=outcome.request_id,
        key_id=outcome.key_id,
        model=outcome.model,
        endpoint=outcome.endpoint,
        status=outcome.status,
        latency_ms=round(outcome.latency_s * 1000, 3),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        cached_tokens=usage.cached_tokens if usage else None,
        stream=outcome.stream,
        first_chunk_ms=round(first * 1000, 3) if first is not None else None,
        stream_end=outcome.stream_end,
        error_type=error.type if error else None,
        error_param=error.param if error else None,
        error_code=error.code if error else None,
    )


class _Lines:
    """Encoded only if a handler formats the record (a disabled level costs nothing)."""

    __slots__ = ("_outcomes",)

    def __init__(self, outcomes: Sequence[RequestOutcome]) -> None:
        self._outcomes = outcomes

    def __str__(self) -> str:
        return "\n".join([_encode(access_line(outcome)).decode() for outcome in self._outcomes])


class AccessLog:
    """The observer: one INFO record on `gateway.access` per event-loop turn's outcomes
    (gateway.observe.Observers), its message their lines, so the handler writes them in
    one call; a lone outcome is a record of one line."""

    def __call__(self, outcome: RequestOutcome, /) -> None:
        self.observe_batch((outcome,))

    def observe_batch(self, outcomes: Sequence[RequestOutcome], /) -> None:
        if log.isEnabledFor(logging.INFO):
            # `makeRecord` + `handle` is `log.info` without its search of the stack for the
            # caller's file and line (a fifth of the cost; the line names no caller).
            args = (_Lines(outcomes),)
            log.handle(log.makeRecord(LOGGER, logging.INFO, __file__, 0, "%s", args, None))

    def __repr__(self) -> str:
        return "AccessLog()"
