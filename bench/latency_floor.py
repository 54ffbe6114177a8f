"""Benchmark: the floor of a Python hop at one connection, beside the engine and the gateway.

Run as `python bench/latency_floor.py` (`--rounds N`, `--requests N`). Three
targets on loopback, measured alike (gateway_bench's sequential client, rounds
alternating the order, medians): the reference engine alone; a minimal hop in
front of it (this file's `--hop` mode: a uvloop server that parses the request
with httptools and forwards its body with the gateway's own engine client,
`gateway.upstream.http1`, then writes the engine's answer back: no ASGI, no
validation, limits, ids or observers); and the gateway as deployed, everything
on. Printed per target: the median latency, what it adds to the engine's, and
the CPU its front process spent per request. What the minimal hop adds is
about as little as a hop written in Python on uvloop can add on the machine;
the gateway's distance from it is what its own layers cost at one connection.
Printed first, the machine's own price of a hop: the round trip of one byte
between two processes over a socket pair (each blocked until the other
answers), with the CPUs otherwise idle, then with a busy loop at the lowest
priority on each CPU keeping them from idling. On a virtual machine an idle
virtual CPU halts, and waking it costs the host a round trip of its own: the
difference is what each wake-up costs, and a hop adds two to every request
(to the engine and back). A benchmark, not a test: exit 0 whatever it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import httptools
import uvloop
from gateway_bench import (  # bench/ is the script's directory, on sys.path
    BODY,
    GATEWAY,
    HOST,
    MOCK,
    PATH,
    Server,
    child_env,
    cpu_seconds,
    free_port,
    measure_latency,
    positive_int,
    raw_request,
    running_servers,
    start_server,
    stop_server,
    wait_ready,
)

from gateway.upstream.http1 import Http1Client

HOP = "minimal hop"
WARMUP = 200
PING_PONGS = 20_000
SPIN = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass"


def round_trip_us(count: int = PING_PONGS) -> float:
    """The median round trip of one byte to a child process and back, in µs."""
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:  # the echo: until its end of the pair closes
        ours.close()
        while data := theirs.recv(64):
            theirs.send(data)
        os._exit(0)
    theirs.close()
    try:
        times = []
        for _ in range(count):
            start = time.perf_counter_ns()
            ours.send(b"x")
            ours.recv(64)
            times.append(time.perf_counter_ns() - start)
    finally:
        ours.close()
        os.waitpid(child, 0)
    return statistics.median(times) / 1000


@contextmanager
def cpus_kept_busy() -> Iterator[None]:
    """One busy loop per CPU at the lowest priority (bounded to a minute each)."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", SPIN], preexec_fn=lambda: os.nice(19))
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        time.sleep(0.2)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def print_wake_up_cost() -> None:
    idle = round_trip_us()
    with cpus_kept_busy():
        busy = round_trip_us()
    print(
        f"process round trip: {idle:.1f} us with idle CPUs, {busy:.1f} us with busy ones "
        f"(a wake-up from idle: ~{(idle - busy) / 2:.0f} us)"
    )


class MinimalHop(asyncio.Protocol):
    """One client connection: each request's body forwarded, the engine's answer relayed."""

    def __init__(self, client: Http1Client, engine_url: str) -> None:
        self.client = client
        self.engine_url = engine_url
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        asyncio.get_running_loop().create_task(self.answer(body))

    async def answer(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        reply = await self.client.request(b"POST", self.engine_url, body, headers, 10.0)
        head = b"HTTP/1.1 %d OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        if self.transport is not None:
            self.transport.write(head % (reply.status, len(reply.body)) + reply.body)


async def serve_hop(port: int, engine_url: str) -> None:
    client = Http1Client(connect_timeout_s=2.0)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: MinimalHop(client, engine_url), HOST, port)
    await server.serve_forever()


def start_hop(workdir: Path, engine: Server) -> Server:
    port = free_port()
    argv = [sys.executable, __file__, "--hop", str(port), str(engine.port)]
    hop = start_server(HOP, argv, port, child_env({}), workdir)
    try:
        wait_ready(hop, raw_request("POST", PATH, BODY))
    except BaseException:
        stop_server(hop)
        raise
    return hop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--requests", type=positive_int, default=2000)
    parser.add_argument("--hop", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hop:
        port, engine_port = args.hop
        uvloop.run(serve_hop(port, f"http://{HOST}:{engine_port}{PATH}"))
        return 0
    print_wake_up_cost()
    with (
        tempfile.TemporaryDirectory(prefix="latency-floor-") as tmp,
        running_servers(Path(tmp)) as servers,
    ):
        hop = start_hop(Path(tmp), servers[MOCK])
        try:
            targets = {MOCK: servers[MOCK], HOP: hop, GATEWAY: servers[GATEWAY]}
            medians, cpus = measure(targets, args.rounds, args.requests)
        finally:
            stop_server(hop)
    engine = statistics.median(medians[MOCK])
    for name in targets:
        median = statistics.median(medians[name])
        rounds = ", ".join(f"{value / 1000:.3f}" for value in medians[name])
        added = "" if name == MOCK else f", adds {(median - engine) / 1000:+.3f} ms"
        print(
            f"{name:15s} median {median / 1000:.3f} ms{added} (rounds {rounds}); "
            f"CPU {statistics.median(cpus[name]):.0f} us per request"
        )
    return 0


def measure(
    targets: dict[str, Server], rounds: int, requests: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per target: each round's median latency (µs) and its front process's CPU per request."""
    medians: dict[str, list[float]] = {name: [] for name in targets}
    cpus: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            server = targets[name]
            before = cpu_seconds(server.process.pid)
            latency = measure_latency(server.port, WARMUP, requests)
            after = cpu_seconds(server.process.pid)
            medians[name].append(latency.median_us)
            if before is not None and after is not None:
                cpus[name].append((after - before) / (WARMUP + requests) * 1e6)
    return medians, cpus


if __name__ == "__main__":
    sys.exit(main())
