"""Benchmark: what the gateway adds to a streamed chat completion, against the engine alone.

Run as `python bench/stream_bench.py` (or `make bench-stream`); `--markdown`
prints the tables as Markdown for the README. A benchmark, not a test: it
exits 0 whether or not the targets are met, non-zero only when it could not
measure (a server did not start, a stream failed or came back incomplete).

Started on loopback, shared with `bench/gateway_bench.py` (its helpers):
the bundled reference engine twice, and `python -m gateway.serve` in front of
both (as deployed: uvicorn, uvloop, the guarded httptools protocol, one
worker, rate limits too high to throttle):

  engine          `python -m reference_engine`, sending each stream's chunks
                  as fast as it can
  paced engine    the same with `--stream-delay` (a real model's pace: one
                  chunk every `--pace-ms`), for the concurrent streams

Measured, each through the gateway and from the engine alone, in alternating
rounds (which target goes first alternates), medians over rounds:

  time to first chunk   1 connection, keep-alive, sequential (this process,
                        raw socket, garbage collector off): a streamed chat
                        completion of a few words; from the request's send to
                        the first complete `data:` event. Added = gateway
                        minus engine, paired per round.
  relay throughput      1 connection: a stream of `--chunks` small chunks
                        (`max_tokens: N, ignore_eos: true`: the engine's reply
                        is exactly N words, one chunk each), read to its end;
                        chunks/s = data events received / time from send to
                        the stream's last byte; the share is gateway over
                        engine, paired per round.

Then once, `--streams` concurrent streams of `--stream-chunks` chunks from the
paced engine, all open at the same time (checked: each has its first chunk
before any has ended), through the gateway and then from the paced engine
alone: the CPU time the front process (the gateway; the engine alone) spent
per chunk relayed (from /proc, over the whole run) and its resident memory
per open stream (VmRSS when every stream is open minus VmRSS just before they
were opened, over the number of streams; the first such run of the process,
so memory freed by earlier streams does not hide what these hold).

Targets (issue 11): added time to first chunk <= 0.5 ms; relay throughput
>= 70% of the engine alone's chunks/s.

Everything is bounded: start-up, each stream (REQUEST_TIMEOUT_S per read) and
each phase; the servers are stopped on the way out (SIGTERM included).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gateway_bench import (  # bench/ is the script's directory, on sys.path
    API_KEY,
    GATEWAY,
    HOST,
    MAX_HEADER_BYTES,
    MODEL,
    PATH,
    REQUEST_TIMEOUT_S,
    HttpError,
    Server,
    descendants,
    exit_on_sigterm,
    positive_float,
    positive_int,
    start_engine,
    start_gateway,
    stop_server,
    tree_cpu_seconds,
    write_gateway_config,
)

ENGINE: Final = "engine alone"
PACED: Final = "paced engine"
PACED_MODEL: Final = "reference-chat-paced"

TARGET_ADDED_FIRST_CHUNK_MS: Final = 0.5
TARGET_RELAY_SHARE: Final = 0.70

PHASE_TIMEOUT_S: Final = 300.0
END_OF_CHUNKED: Final = b"0\r\n\r\n"
EVENT: Final = b"data: "
DONE: Final = b"data: [DONE]"


def stream_body(model: str, chunks: int | None) -> bytes:
    """A streamed chat completion; `chunks`: exactly that many content chunks."""
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": "Stream a few words to the benchmark."}],
        "stream": True,
    }
    if chunks is not None:
        body |= {"max_tokens": chunks, "ignore_eos": True}
    return json.dumps(body, separators=(",", ":")).encode()


def stream_request(body: bytes) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def expected_events(chunks: int) -> int:
    """The role chunk, N content chunks, the finish chunk and [DONE]."""
    return chunks + 3


# ---- one stream at a time -------------------------------------------------------


@dataclass(frozen=True)
class StreamTiming:
    first_chunk_ns: int
    total_ns: int
    events: int


def check_head(head: bytes) -> None:
    status = head.split(b" ", 2)[1] if head.startswith(b"HTTP/1.") else b"?"
    if status != b"200":
        raise HttpError(f"stream answered {head[:200]!r}")
    if b"transfer-encoding: chunked" not in head.lower():
        raise HttpError("a stream without chunked transfer encoding")


class StreamConnection:
    """A blocking keep-alive connection reading one chunked event stream at a time."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT_S)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def stream(self, raw: bytes) -> StreamTiming:
        clock = time.perf_counter_ns
        start = clock()
        self._sock.sendall(raw)
        buffer = bytearray()
        body_at = first = 0
        while not (body_at and buffer.endswith(END_OF_CHUNKED)):
            data = self._sock.recv(262144)
            if not data:
                raise HttpError("connection closed mid-stream")
            buffer += data
            if not body_at:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEADER_BYTES:
                        raise HttpError("response head too large")
                    continue
                check_head(bytes(buffer[:end]))
                body_at = end + 4
            if not first and buffer.find(b"\n\n", body_at) >= 0:
                first = clock()
        total = clock() - start
        body = bytes(buffer[body_at:])
        if DONE not in body:
            raise HttpError(f"stream ended without [DONE]: {body[-200:]!r}")
        return StreamTiming(first - start, total, body.count(EVENT))

    def close(self) -> None:
        self._sock.close()


def timed_streams(port: int, raw: bytes, warmup: int, count: int) -> list[StreamTiming]:
    connection = StreamConnection(port)
    try:
        for _ in range(warmup):
            connection.stream(raw)
        gc.collect()
        gc.disable()
        try:
            return [connection.stream(raw) for _ in range(count)]
        finally:
            gc.enable()
    finally:
        connection.close()


# ---- rounds: first chunk and relay throughput ------------------------------------


@dataclass
class Samples:
    first_chunk_us: list[float] = field(default_factory=list)
    chunks_per_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    rounds: int
    warmup: int
    first_chunk_requests: int
    chunks: int
    relay_streams: int
    streams: int
    stream_chunks: int
    pace_ms: float


def run_rounds(targets: dict[str, Server], settings: Settings, quiet: bool) -> dict[str, Samples]:
    samples = {name: Samples() for name in targets}
    short = stream_request(stream_body(MODEL, None))
    long = stream_request(stream_body(MODEL, settings.chunks))
    names = list(targets)
    for index in range(settings.rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            port = targets[name].port
            firsts = timed_streams(port, short, settings.warmup, settings.first_chunk_requests)
            relays = timed_streams(port, long, 2, settings.relay_streams)
            for relay in relays:
                if relay.events != expected_events(settings.chunks):
                    raise HttpError(f"{name}: {relay.events} events, not {settings.chunks + 3}")
            first_us = statistics.median(t.first_chunk_ns for t in firsts) / 1000
            rate = statistics.median(t.events / t.total_ns * 1e9 for t in relays)
            samples[name].first_chunk_us.append(first_us)
            samples[name].chunks_per_s.append(rate)
            if not quiet:
                print(
                    f"  round {index + 1}/{settings.rounds} {name:<15} first chunk "
                    f"{first_us / 1000:.3f} ms  relay {rate:,.0f} chunks/s",
                    file=sys.stderr,
                    flush=True,
                )
    return samples


# ---- many concurrent streams -----------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass(frozen=True)
class Concurrent:
    streams: int
    chunks: int  # data events received, all streams
    seconds: float
    cpu_us_per_chunk: float
    rss_per_stream_kib: float
    rss_idle_mib: float


class OpenStreams:
    """Counts the streams that have their first chunk and those that have ended."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.first = 0
        self.ended = 0
        self.all_open = asyncio.Event()
        self.rss_all_open = 0

    def first_chunk(self, pid: int) -> None:
        self.first += 1
        if self.first == self.total:
            if self.ended:
                raise HttpError(f"{self.ended} streams ended before all were open")
            self.rss_all_open = rss_bytes(pid)
            self.all_open.set()


async def _stream_counted(port: int, raw: bytes, streams: OpenStreams, pid: int) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
        check_head(head)
        body = bytearray()
        counted = False
        while not body.endswith(END_OF_CHUNKED):
            data = await asyncio.wait_for(reader.read(65536), REQUEST_TIMEOUT_S)
            if not data:
                raise HttpError("connection closed mid-stream")
            body += data
            if not counted and b"\n\n" in body:
                counted = True
                streams.first_chunk(pid)
        streams.ended += 1
        if DONE not in body:
            raise HttpError("stream ended without [DONE]")
        return body.count(EVENT)
    finally:
        writer.close()


async def _concurrent(port: int, pid: int, count: int, chunks: int) -> Concurrent:
    raw = stream_request(stream_body(PACED_MODEL, chunks))
    streams = OpenStreams(count)
    rss_idle = rss_bytes(pid)
    pids = descendants(pid)  # the gateway's ledger writer process included
    cpu_before = tree_cpu_seconds(pids)
    start = time.monotonic()
    events = await asyncio.wait_for(
        asyncio.gather(*(_stream_counted(port, raw, streams, pid) for _ in range(count))),
        PHASE_TIMEOUT_S,
    )
    seconds = time.monotonic() - start
    cpu_after = tree_cpu_seconds(pids)
    if cpu_before is None or cpu_after is None:
        raise RuntimeError("no CPU times in /proc on this system")
    if any(e != expected_events(chunks) for e in events):
        raise HttpError(f"incomplete streams: {sorted(set(events))} events")
    total = sum(events)
    return Concurrent(
        streams=count,
        chunks=total,
        seconds=seconds,
        cpu_us_per_chunk=(cpu_after - cpu_before) / total * 1e6,
        rss_per_stream_kib=(streams.rss_all_open - rss_idle) / count / 1024,
        rss_idle_mib=rss_idle / 2**20,
    )


def concurrent_streams(server: Server, settings: Settings) -> Concurrent:
    try:
        import uvloop

        return uvloop.run(
            _concurrent(server.port, server.process.pid, settings.streams, settings.stream_chunks)
        )
    except ImportError:  # pragma: no cover - uvloop is a gateway dependency
        return asyncio.run(
            _concurrent(server.port, server.process.pid, settings.streams, settings.stream_chunks)
        )


# ---- report ----------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    first_chunk_ms: dict[str, float]
    chunks_per_s: dict[str, float]
    added_first_ms: float
    added_range_ms: tuple[float, float]
    share: float
    share_range: tuple[float, float]
    concurrent: dict[str, Concurrent]


def summarise(samples: dict[str, Samples], concurrent: dict[str, Concurrent]) -> Summary:
    engine, gateway = samples[ENGINE], samples[GATEWAY]
    added = [
        (g - e) / 1000 for g, e in zip(gateway.first_chunk_us, engine.first_chunk_us, strict=True)
    ]
    shares = [g / e for g, e in zip(gateway.chunks_per_s, engine.chunks_per_s, strict=True)]
    return Summary(
        first_chunk_ms={n: statistics.median(s.first_chunk_us) / 1000 for n, s in samples.items()},
        chunks_per_s={n: statistics.median(s.chunks_per_s) for n, s in samples.items()},
        added_first_ms=statistics.median(added),
        added_range_ms=(min(added), max(added)),
        share=statistics.median(shares),
        share_range=(min(shares), max(shares)),
        concurrent=concurrent,
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def verdict_lines(summary: Summary, settings: Settings) -> list[str]:
    low, high = summary.added_range_ms
    share_low, share_high = summary.share_range
    return [
        f"added time to first chunk (gateway - engine): {summary.added_first_ms:.3f} ms "
        f"(rounds {low:.3f}..{high:.3f}); target <= {TARGET_ADDED_FIRST_CHUNK_MS} ms: "
        f"{verdict(summary.added_first_ms <= TARGET_ADDED_FIRST_CHUNK_MS)}",
        f"relay throughput, a stream of {settings.chunks} chunks: {summary.share:.1%} of the "
        f"engine alone's chunks/s (rounds {share_low:.1%}..{share_high:.1%}); target >= "
        f"{TARGET_RELAY_SHARE:.0%}: {verdict(summary.share >= TARGET_RELAY_SHARE)}",
    ]


def concurrent_lines(summary: Summary, settings: Settings) -> list[str]:
    lines = []
    for name, run in summary.concurrent.items():
        lines.append(
            f"{settings.streams} concurrent streams of {settings.stream_chunks} chunks "
            f"({settings.pace_ms:g} ms apart), {name}: {run.cpu_us_per_chunk:.1f} us CPU per "
            f"chunk, {run.rss_per_stream_kib:,.0f} KiB RSS per open stream (idle "
            f"{run.rss_idle_mib:.0f} MiB); {run.chunks:,} chunks in {run.seconds:.1f} s"
        )
    return lines


def environment_lines(settings: Settings, load_average: float) -> list[str]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: {cpus} CPUs shared by this client, the gateway and the engines; "
        f"load average (1 min) at start {load_average:.2f}",
        f"first chunk: {settings.first_chunk_requests} streams per round after "
        f"{settings.warmup} warm-up, 1 connection; relay: {settings.relay_streams} streams of "
        f"{settings.chunks} chunks per round, 1 connection; {settings.rounds} rounds, "
        "alternating order, medians",
    ]


def render(summary: Summary, settings: Settings, load_average: float, markdown: bool) -> str:
    rows = [
        (name, summary.first_chunk_ms[name], summary.chunks_per_s[name])
        for name in (ENGINE, GATEWAY)
    ]
    if markdown:
        table = [
            f"| target | time to first chunk, 1 conn | chunks/s, {settings.chunks}-chunk stream |",
            "|---|---:|---:|",
            *(f"| {n} | {f:.3f} ms | {r:,.0f} |" for n, f, r in rows),
            "",
        ]
        bullets = verdict_lines(summary, settings) + concurrent_lines(summary, settings)
        notes = environment_lines(settings, load_average)
        return "\n".join([*table, *(f"- **{b}**" for b in bullets), *(f"- {n}" for n in notes)])
    header = f"{'target':<16}{'first chunk':>14}{'chunks/s':>12}"
    return "\n".join(
        [
            "Streaming benchmark: the gateway in front of the engine vs the engine alone",
            *environment_lines(settings, load_average),
            "",
            header,
            "-" * len(header),
            *(f"{n:<16}{f:>11.3f} ms{r:>12,.0f}" for n, f, r in rows),
            "",
            *verdict_lines(summary, settings),
            *concurrent_lines(summary, settings),
        ]
    )


# ---- command line ----------------------------------------------------------------


@contextmanager
def running_servers(workdir: Path, pace_ms: float) -> Iterator[dict[str, Server]]:
    """The engine, the paced engine and the gateway in front of both; stopped on exit."""
    servers: list[Server] = []
    try:
        engine = start_engine(workdir, ENGINE)
        servers.append(engine)
        paced = start_engine(workdir, PACED, "--stream-delay", str(pace_ms / 1000))
        servers.append(paced)
        config = write_gateway_config(workdir, engine.port, {PACED_MODEL: paced.port})
        servers.append(start_gateway(workdir, config))
        yield {ENGINE: engine, PACED: paced, GATEWAY: servers[-1]}
    finally:
        for server in reversed(servers):
            stop_server(server)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--markdown", action="store_true", help="print Markdown for the README")
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating rounds")
    parser.add_argument("--warmup", type=positive_int, default=100, help="untimed streams")
    parser.add_argument("--first-chunk-requests", type=positive_int, default=500)
    parser.add_argument("--chunks", type=positive_int, default=500, help="relayed stream size")
    parser.add_argument("--relay-streams", type=positive_int, default=20, help="per round")
    parser.add_argument("--streams", type=positive_int, default=200, help="concurrent streams")
    parser.add_argument("--stream-chunks", type=positive_int, default=100)
    parser.add_argument("--pace-ms", type=positive_float, default=50.0, help="between chunks")
    parser.add_argument("--quiet", action="store_true", help="no per-round progress")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(
        args.rounds,
        args.warmup,
        args.first_chunk_requests,
        args.chunks,
        args.relay_streams,
        args.streams,
        args.stream_chunks,
        args.pace_ms,
    )
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    load_average = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="stream-bench-") as tmp:
        try:
            with running_servers(Path(tmp), args.pace_ms) as servers:
                targets = {ENGINE: servers[ENGINE], GATEWAY: servers[GATEWAY]}
                samples = run_rounds(targets, settings, args.quiet)
                # The gateway first: its first run of many streams (see the docstring).
                concurrent = {
                    GATEWAY: concurrent_streams(servers[GATEWAY], settings),
                    ENGINE: concurrent_streams(servers[PACED], settings),
                }
        except (RuntimeError, OSError, HttpError, subprocess.TimeoutExpired) as error:
            print(f"stream benchmark could not measure: {error!r}", file=sys.stderr)
            return 1
    print(render(summarise(samples, concurrent), settings, load_average, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
