"""Benchmark: the engines' client alone, gateway.upstream.http1 beside aiohttp.

Run as `python bench/upstream_client_bench.py` (`--rounds`, `--requests`,
`--concurrency`). One reference engine; in this process (uvloop), each client
sends `--requests` non-streamed chat completions to it, `--concurrency` at a
time, after a warm-up; rounds alternate the clients' order. Printed per client:
the CPU time of this process per request and the requests per second, medians
over rounds with every round's value. aiohttp comes from the `dev` extra (the
gateway itself no longer uses it). A benchmark: it exits 0 whatever it measures,
non-zero only when it could not measure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop
from gateway_bench import HOST, MODEL, positive_int, start_engine, stop_server

from gateway.upstream.http1 import Http1Client

BODY = b'{"model":"%s","messages":[{"role":"user","content":"hi"}]}' % MODEL.encode()
HEADERS = {"Content-Type": "application/json"}
Send = Callable[[], Awaitable[None]]


async def with_http1(url: str, run: Callable[[Send], Awaitable[None]]) -> None:
    client = Http1Client(connect_timeout_s=2)

    async def send() -> None:
        answer = await client.request(b"POST", url, BODY, HEADERS, 30)
        assert answer.status == 200, answer.status

    try:
        await run(send)
    finally:
        await client.close()


async def with_aiohttp(url: str, run: Callable[[Send], Awaitable[None]]) -> None:
    # The gateway's former settings (gateway/upstream/client.py before issue 11).
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=4)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                assert response.status == 200, response.status

        await run(send)


CLIENTS = {"http1": with_http1, "aiohttp": with_aiohttp}


def measure(client: str, url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """CPU µs per request and requests per second of one client, one round."""
    result: list[float] = []

    async def run(send: Send) -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                await send()

        await asyncio.gather(*(worker(10) for _ in range(concurrency)))  # warm-up
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        done = requests // concurrency * concurrency
        result.extend([(time.process_time() - cpu) / done * 1e6, done / (time.monotonic() - wall)])

    uvloop.run(CLIENTS[client](url, run))
    return result[0], result[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating rounds")
    parser.add_argument("--requests", type=positive_int, default=4000, help="per client and round")
    parser.add_argument("--concurrency", type=positive_int, default=32)
    args = parser.parse_args()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
    with tempfile.TemporaryDirectory(prefix="client-bench-") as tmp:
        try:
            engine = start_engine(Path(tmp), "reference engine")
        except RuntimeError as error:
            print(f"could not measure: {error}", file=sys.stderr)
            return 1
        try:
            url = f"http://{HOST}:{engine.port}/v1/chat/completions"
            for index in range(args.rounds):
                order = list(CLIENTS) if index % 2 == 0 else list(reversed(CLIENTS))
                for name in order:
                    samples[name].append(measure(name, url, args.requests, args.concurrency))
        finally:
            stop_server(engine)
    for name, rounds in samples.items():
        cpu = [round(c) for c, _ in rounds]
        rate = [round(r) for _, r in rounds]
        print(f"{name}: {statistics.median(cpu):.0f} µs CPU per request {tuple(cpu)}, ", end="")
        print(f"{statistics.median(rate):.0f} req/s {tuple(rate)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
