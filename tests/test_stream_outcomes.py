"""How the stream relay reports a stream's end for the ends a reference engine cannot
produce on demand: the engine's own error event, and a bug in the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.catalog import Model
from gateway.http.drain import Drain
from gateway.http.handlers import relay
from gateway.observe import Observers, RequestOutcome, Trace

MODEL = Model(id="chat-plain", category="text", engine="e", upstream_model="u")
ERROR_EVENT = b'data: {"error": {"message": "engine overloaded", "type": "server_error"}}\n\n'
CHUNK = b'data: {"id": "c", "object": "chat.completion.chunk", "choices": []}\n\n'


class EngineResponse:
    """The two parts of gateway.upstream.http1's StreamedResponse the relay uses."""

    def __init__(self, *reads: bytes) -> None:
        self.reads = list(reads)
        self.closed = False

    async def read_some(self) -> bytes:
        return self.reads.pop(0) if self.reads else b""

    def close(self, *, finished: bool = False) -> None:
        self.closed = True


def relayed(*reads: bytes) -> tuple[list[bytes], list[RequestOutcome], EngineResponse]:
    """What the relay yields (one item per write to the client) for the engine's `reads`."""
    outcomes: list[RequestOutcome] = []
    trace = Trace("chat.completions", Observers([outcomes.append]), stream=True)
    engine = EngineResponse(*reads)

    async def run() -> list[bytes]:
        upstream: Any = engine
        return [chunk async for chunk in relay(upstream, MODEL, "http://d", Drain(), trace)]

    return asyncio.run(run()), outcomes, engine


def test_engines_own_error_event_ends_the_stream_as_an_engine_error_with_its_words() -> None:
    chunks, [outcome], engine = relayed(CHUNK + ERROR_EVENT + b"data: [DONE]\n\n")
    events = b"".join(chunks).split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""] and b"engine overloaded" in events[1]
    assert (outcome.stream_end, outcome.status) == ("engine_error", 200)
    assert outcome.error is not None and outcome.error.message == "engine overloaded"
    assert outcome.error.type == "server_error" and engine.closed


def test_events_of_one_read_go_out_in_one_write_and_later_reads_are_not_held_back() -> None:
    chunks, [outcome], _ = relayed(CHUNK + CHUNK, CHUNK[:20], CHUNK[20:] + b"data: [DONE]\n\n")
    relayed_chunk = (
        b'data: {"id":"c","object":"chat.completion.chunk","choices":[]}\n\n'  # re-encoded
    )
    assert chunks == [relayed_chunk * 2, relayed_chunk + b"data: [DONE]\n\n"]
    assert outcome.stream_end == "done"


def test_stream_the_engine_closes_without_done_is_truncated() -> None:
    _, [outcome], _ = relayed(CHUNK)
    assert (outcome.stream_end, outcome.error) == ("truncated", None)


def test_bug_while_relaying_reports_the_stream_as_crashed_and_propagates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(payload: Any, model: Model) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr("gateway.http.responses.completion", broken)
    outcomes: list[RequestOutcome] = []
    trace = Trace("chat.completions", Observers([outcomes.append]), stream=True)

    async def run() -> None:
        upstream: Any = EngineResponse(CHUNK)
        async for _ in relay(upstream, MODEL, "http://d", Drain(), trace):
            pass

    with pytest.raises(KeyError):
        asyncio.run(run())
    assert [o.stream_end for o in outcomes] == ["crashed"]
