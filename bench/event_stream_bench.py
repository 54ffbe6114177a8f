"""Benchmark: the cost of one streamed answer's machinery, Starlette's vs the gateway's.

Run as `python bench/event_stream_bench.py`. In one process, no sockets: each
response class answers `--streams` one-chunk streams to an ASGI `send` that
does nothing, under an ASGI spec version of 2.3 (what uvicorn declares), so
Starlette's `StreamingResponse` runs its anyio task group with the disconnect
listener and `gateway.http.streaming.EventStream` its two asyncio tasks.
Printed per class: wall and CPU time per stream, median over `--rounds`
alternating rounds. A benchmark: it exits 0 whatever it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Sequence

import uvloop
from starlette.responses import StreamingResponse
from starlette.types import Message

from gateway.http.streaming import EventStream

SCOPE = {"type": "http", "asgi": {"spec_version": "2.3"}}


async def one_chunk() -> AsyncIterator[bytes]:
    yield b"data: {}\n\n"


async def per_stream(kind: type[StreamingResponse], streams: int) -> tuple[float, float]:
    never = asyncio.Event()  # the client never leaves: the listener is cancelled each time

    async def receive() -> Message:
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(streams):
        await kind(one_chunk())(SCOPE, receive, send)
    return (time.perf_counter() - wall) / streams, (time.process_time() - cpu) / streams


async def measure(streams: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    kinds: list[type[StreamingResponse]] = [StreamingResponse, EventStream]
    results: dict[str, list[tuple[float, float]]] = {k.__name__: [] for k in kinds}
    for index in range(rounds):
        for kind in kinds if index % 2 == 0 else kinds[::-1]:
            results[kind.__name__].append(await per_stream(kind, streams))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    for name, samples in uvloop.run(measure(args.streams, args.rounds)).items():
        wall = statistics.median(s[0] for s in samples) * 1e6
        cpu = statistics.median(s[1] for s in samples) * 1e6
        print(f"{name:<18} {wall:7.1f} us wall, {cpu:7.1f} us CPU per stream")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
