"""Benchmark: what the usage ledger costs the event loop, and how fast it writes.

Run as `python bench/ledger_bench.py` (or `make bench-ledger`); `--ledger URL`
writes to another ledger (e.g. a PostgreSQL database) instead of a SQLite file
in a temporary directory. A benchmark, not a test: it prints figures.

  observer   the cost of one `writer(outcome)` call on the request path (it only
             appends to a deque): median over `--repeats` runs of `--calls` calls,
             in ns per call, next to a bare `deque.append` for scale;
  lag        a ticker task on the event loop measures how late it wakes (the
             loop's lag: what every request on that loop would wait, p50, p99,
             max) while `--rate` outcomes a second arrive for `--seconds`, with no
             ledger, then with the ledger writing them;
  capacity   `--rows` outcomes queued at once, then the time until the database
             has acknowledged them all (rows/s), and the process's CPU time per
             row (what the ledger costs the gateway's CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.catalog import Prices
from gateway.observe import RequestOutcome, Usage, new_outcome_id
from gateway.ops.ledger.spool import Spool
from gateway.ops.ledger.store import open_store
from gateway.ops.ledger.writer import LedgerSettings, LedgerWriter

TICK_S = 0.001
ARRIVALS = 50  # outcomes queued per event-loop turn
PRICES = {
    "bench-model": Prices(input_per_mtok=0.15, cached_input_per_mtok=0.075, output_per_mtok=0.6)
}


def outcome(number: int) -> RequestOutcome:
    return RequestOutcome(
        outcome_id=new_outcome_id(),
        request_id=f"req_{time.time_ns()}_{number}",
        received_at=time.time(),
        endpoint="chat.completions",
        key_id="bench",
        model="bench-model",
        status=200,
        stream=False,
        usage=Usage(prompt_tokens=120, completion_tokens=40, cached_tokens=64),
        latency_s=0.001,
        first_chunk_s=None,
        error=None,
        stream_end=None,
    )


def writer_for(url: str, workdir: Path) -> LedgerWriter:
    spool = Spool(workdir / "spool.jsonl", 1024**3)
    return LedgerWriter(open_store(url, workdir), spool, PRICES, LedgerSettings())


def observer_ns(url: str, workdir: Path, calls: int, repeats: int) -> tuple[float, float]:
    outcomes = [outcome(n) for n in range(calls)]
    per_call, bare = [], []
    for _ in range(repeats):
        writer = writer_for(url, workdir)  # not started: only the request path is timed
        started = time.perf_counter_ns()
        for item in outcomes:
            writer(item)
        per_call.append((time.perf_counter_ns() - started) / calls)
        plain: deque[RequestOutcome] = deque()
        started = time.perf_counter_ns()
        for item in outcomes:
            plain.append(item)
        bare.append((time.perf_counter_ns() - started) / calls)
    return statistics.median(per_call), statistics.median(bare)


async def ticker(lags: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + TICK_S
        await asyncio.sleep(TICK_S)
        lags.append(loop.time() - due)


async def lags_while(work: Coroutine[Any, Any, None]) -> list[float]:
    """The 1 ms ticker's lateness while `work` runs."""
    lags: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(ticker(lags, stop))
    try:
        await work
    finally:
        stop.set()
        await task
    return lags


async def arrivals(writer: LedgerWriter | None, rate: int, seconds: float) -> None:
    """`rate` outcomes a second for `seconds`, a few every 10 ms, as requests would end."""
    per_tick = max(1, rate // 100)
    made = (outcome(n) for n in range(10**9))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(per_tick):
            item = next(made)
            if writer is not None:
                writer(item)
        await asyncio.sleep(0.01)


async def writer_run(url: str, workdir: Path, args: argparse.Namespace) -> Figures:
    no_ledger = await lags_while(arrivals(None, args.rate, args.seconds))
    writer = writer_for(url, workdir)
    await writer.start()
    await asyncio.sleep(0.2)  # connected, schema created
    with_ledger = await lags_while(arrivals(writer, args.rate, args.seconds))
    outcomes = [outcome(number) for number in range(args.rows)]  # built before the clock
    written = writer.written
    started, cpu_started = time.perf_counter(), time.process_time()
    for first in range(0, args.rows, ARRIVALS):  # queued over loop turns, as from requests
        for item in outcomes[first : first + ARRIVALS]:
            writer(item)
        await asyncio.sleep(0)
    deadline = started + 300
    while writer.written < written + args.rows and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    cpu_per_row = (time.process_time() - cpu_started) / args.rows
    await writer.stop()
    if writer.written < written + args.rows:
        raise SystemExit(f"only {writer.written - written} of {args.rows} rows within 300 s")
    return Figures(args.rows / elapsed, cpu_per_row, no_ledger, with_ledger)


@dataclass(frozen=True)
class Figures:
    rows_per_s: float
    cpu_per_row_s: float
    lags_without: list[float]
    lags_with: list[float]


def lag_line(name: str, lags: list[float]) -> str:
    ordered = sorted(lags)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    return (
        f"  {name}: p50 {statistics.median(ordered) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, "
        f"max {ordered[-1] * 1e3:.3f} ms ({len(ordered)} ticks)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ledger", help="ledger URL (default: a SQLite file in a temp dir)")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=50_000, help="for the writer's capacity")
    parser.add_argument("--rate", type=int, default=2_000, help="outcomes/s, for the lag")
    parser.add_argument("--seconds", type=float, default=5.0, help="of each lag run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        workdir = Path(tmp)
        url = args.ledger or f"sqlite:///{workdir / 'usage.sqlite3'}"
        observer, bare = observer_ns(url, workdir, args.calls, args.repeats)
        figures = asyncio.run(writer_run(url, workdir, args))
        description = writer_for(url, workdir).store.description
    print(f"ledger: {description if args.ledger else 'sqlite (temporary file)'}")
    print(f"observer call: {observer:.0f} ns (a bare deque.append: {bare:.0f} ns)")
    rate = f"{figures.rows_per_s:,.0f} rows/s"
    print(f"writer capacity: {args.rows} rows queued at once, all written at {rate}")
    print(f"process CPU per row written (queueing included): {figures.cpu_per_row_s * 1e6:.1f} us")
    print(f"event-loop lag (1 ms ticker), {args.rate} outcomes/s for {args.seconds} s:")
    print(lag_line("no ledger  ", figures.lags_without))
    print(lag_line("ledger on  ", figures.lags_with))
    return 0


if __name__ == "__main__":
    sys.exit(main())
