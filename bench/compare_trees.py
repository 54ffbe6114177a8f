"""Benchmark: two or more checkouts of the gateway side by side, CPU per request first.

Run as `python bench/compare_trees.py OLD_TREE NEW_TREE [...]` (each a directory
holding a checkout, e.g. `git worktree add /tmp/old <commit>` or `git archive
<commit> | tar x -C /tmp/old`); `--rounds N`. A tree may carry settings of its
own, `TREE:NAME=VALUE,NAME=VALUE` (environment variables of its gateway):
`. .:GATEWAY_ACCESS_LOG=off` measures one setting's cost, side by side. A
benchmark, not a test: it prints what it measured and exits 0, non-zero only
when it could not measure.

On a shared machine raw throughput moves with whatever else runs; the CPU time
a gateway process spends per request moves much less, so this is what tells
whether a change made the hop cheaper. One reference engine, one gateway per
tree (`python -m gateway.serve` with that tree first on PYTHONPATH, the same
virtualenv), all started together; rounds alternate the trees' order. Per
round and tree: the median latency of 500 sequential requests at 1
connection, the gateway's CPU per request under wrk at 32 connections for 3 s
(after a 1 s warm-up), its CPU per short stream (300 sequential streamed chat
completions of a few words each) and their median time to first chunk. Printed:
medians over rounds with each round's value, so the noise shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway_bench import (  # bench/ is the script's directory, on sys.path
    HOST,
    MODEL,
    HttpError,
    LoadGenerator,
    Server,
    descendants,
    free_port,
    measure_latency,
    positive_int,
    raw_request,
    start_engine,
    start_server,
    stop_server,
    tree_cpu_seconds,
    wait_ready,
    write_gateway_config,
)
from stream_bench import stream_body, stream_request, timed_streams

CONNECTIONS = 32
LOAD_S = 3.0
STREAMS = 300


@dataclass
class Samples:
    latency_ms: list[float] = field(default_factory=list)
    cpu_per_request_us: list[float] = field(default_factory=list)
    cpu_per_stream_us: list[float] = field(default_factory=list)
    first_chunk_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Tree:
    """A checkout and the settings (environment variables) its gateway runs with."""

    label: str
    path: Path
    settings: dict[str, str]


def tree_argument(text: str) -> Tree:
    path, _, settings = text.partition(":") if "=" in text else (text, "", "")
    pairs = [item.partition("=") for item in settings.split(",") if item]
    if any(not sep or not name for name, sep, _ in pairs):
        raise argparse.ArgumentTypeError(f"expected TREE[:NAME=VALUE,...], got {text!r}")
    return Tree(text, Path(path).resolve(), {name: value for name, _, value in pairs})


def start_tree_gateway(tree: Tree, index: int, config: Path, workdir: Path) -> Server:
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(tree.path),
        GATEWAY_CONFIG=str(config),
        GATEWAY_HOST=HOST,
        GATEWAY_PORT=str(port),
        # Metrics (on by default) on a port of each tree's own; an empty value measures them off.
        GATEWAY_METRICS_PORT=os.environ.get("GATEWAY_METRICS_PORT", str(free_port())),
        GATEWAY_LOG_LEVEL="warning",
        GATEWAY_RPM="100000000",
        GATEWAY_TPM="1000000000000",
        # A usage ledger of each tree's own (the default's file would be shared by both).
        GATEWAY_LEDGER_URL=f"sqlite:///{workdir / f'usage-tree{index}.sqlite3'}",
    )
    env.update(tree.settings)
    argv = [sys.executable, "-m", "gateway.serve"]
    # In the tree's own directory: `python -m` puts the working directory before PYTHONPATH.
    server = start_server(f"tree{index} gateway", argv, port, env, workdir, cwd=tree.path)
    wait_ready(server, raw_request("GET", "/v1/models"))
    return server


def cpu_during(server: Server, work: Callable[[], object]) -> float:
    """Seconds of CPU the server spent while `work` ran."""
    pids = descendants(server.process.pid)  # its ledger writer process included
    before = tree_cpu_seconds(pids)
    work()
    after = tree_cpu_seconds(pids)
    if before is None or after is None:
        raise RuntimeError("no CPU times in /proc on this system")
    return after - before


def one_round(server: Server, load: LoadGenerator, samples: Samples) -> None:
    samples.latency_ms.append(measure_latency(server.port, 100, 500).median_us / 1000)
    load.run(server.port, CONNECTIONS, 1)
    results = []
    cpu = cpu_during(server, lambda: results.append(load.run(server.port, CONNECTIONS, LOAD_S)))
    if results[0].errors or not results[0].requests:
        raise HttpError(f"load errors: {results[0].errors}")
    samples.cpu_per_request_us.append(cpu / results[0].requests * 1e6)
    short = stream_request(stream_body(MODEL, None))
    timings = []
    cpu = cpu_during(server, lambda: timings.extend(timed_streams(server.port, short, 0, STREAMS)))
    samples.cpu_per_stream_us.append(cpu / STREAMS * 1e6)
    samples.first_chunk_ms.append(statistics.median(t.first_chunk_ns for t in timings) / 1e6)


def cell(values: list[float], digits: int) -> str:
    rounds = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{statistics.median(values):.{digits}f} ({rounds})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("trees", nargs="+", type=tree_argument)
    parser.add_argument("--rounds", type=positive_int, default=6)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="compare-trees-") as tmp:
        workdir = Path(tmp)
        servers: list[Server] = []
        try:
            engine = start_engine(workdir, "engine")
            servers.append(engine)
            config = write_gateway_config(workdir, engine.port)
            for index, tree in enumerate(args.trees):
                servers.append(start_tree_gateway(tree, index, config, workdir))
            samples = [Samples() for _ in args.trees]
            gateways = list(zip(samples, servers[1:], strict=True))
            load = LoadGenerator(workdir, "auto")
            for index in range(args.rounds):
                for tree_samples, server in gateways if index % 2 == 0 else gateways[::-1]:
                    one_round(server, load, tree_samples)
            engine_latency = measure_latency(engine.port, 100, 500).median_us / 1000
        except (RuntimeError, OSError, HttpError) as error:
            print(f"could not measure: {error!r}", file=sys.stderr)
            return 1
        finally:
            for server in reversed(servers):
                stop_server(server)
    print(
        f"load average at the end: {os.getloadavg()[0]:.2f}; engine alone: {engine_latency:.3f} ms"
    )
    for tree, s in zip(args.trees, samples, strict=True):
        print(f"{tree.label}:")
        print(f"  latency, 1 conn (ms):      {cell(s.latency_ms, 3)}")
        print(f"  CPU per request (us):      {cell(s.cpu_per_request_us, 0)}")
        print(f"  CPU per short stream (us): {cell(s.cpu_per_stream_us, 0)}")
        print(f"  time to first chunk (ms):  {cell(s.first_chunk_ms, 3)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
