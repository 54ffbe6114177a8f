"""The metrics observer's cost per request outcome, in µs (it runs on the event loop).

Run as `python bench/metrics_bench.py` (or `make bench-metrics`). It measures,
each in a fresh process (prometheus_client picks its value store at import):

- multiprocess mode, as `python -m gateway.serve` runs it: values in mmap'ed
  files of a fresh PROMETHEUS_MULTIPROC_DIR;
- in memory, as a gateway built without gateway.serve counts.

Three kinds of outcome: a plain 200 with usage and upstream time, a finished
stream (first chunk, stream end, usage), a 400 validation refusal (its param
placed in the schema); and, for scale, one counter child's `inc()`. Best of
5 rounds of 20,000 calls each.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROUNDS, CALLS = 5, 20_000


def measure() -> dict[str, float]:
    """µs per call of each kind of outcome, in this process's mode."""
    from gateway.observe import RefusalInfo, RequestOutcome, Usage
    from gateway.ops.metrics.observer import gateway_metrics

    metrics = gateway_metrics(["chat-a"], ["team-a"])
    usage = Usage(prompt_tokens=120, completion_tokens=40, cached_tokens=64)
    refused = RefusalInfo("invalid_request_error", "messages[3].content", None, "bad")

    def outcome(status: int, stream: bool, **fields: Any) -> RequestOutcome:
        base: dict[str, Any] = {"usage": usage, "first_chunk_s": None, "error": None,
                                "stream_end": None, "upstream_s": None}  # fmt: skip
        return RequestOutcome(
            outcome_id="o0",
            request_id="req_0",
            received_at=0.0,
            endpoint="chat.completions",
            key_id="team-a",
            model="chat-a",
            latency_s=0.3,
            status=status,
            stream=stream,
            **{**base, **fields},
        )

    outcomes = {
        "plain 200": outcome(200, False, upstream_s=0.25),
        "stream": outcome(200, True, first_chunk_s=0.05, stream_end="done", upstream_s=0.04),
        "400 refusal": outcome(400, False, usage=None, error=refused),
    }
    results = {kind: best_us(functools.partial(metrics, o)) for kind, o in outcomes.items()}
    # The unit the observer is made of, measured alike: one cached child's inc().
    one = metrics.requests["chat.completions", "chat-a", 200]
    results["one counter inc"] = best_us(one.inc)
    return results


def best_us(call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            call()
        best = min(best, time.perf_counter() - started)
    return best / CALLS * 1e6


def run_mode(multiprocess: bool) -> dict[str, float]:
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with tempfile.TemporaryDirectory(prefix="metrics-bench-") as directory:
        if multiprocess:
            environment["PROMETHEUS_MULTIPROC_DIR"] = directory
        environment["PYTHONPATH"] = str(ROOT)
        answer = subprocess.run(
            [sys.executable, __file__, "--measure"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    results: dict[str, float] = {}
    for line in answer.stdout.splitlines():
        kind, _, micros = line.rpartition(" ")
        results[kind] = float(micros)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", action="store_true", help="measure in this process's mode")
    if parser.parse_args().measure:
        for kind, micros in measure().items():
            print(f"{kind} {micros:.3f}")
        return
    modes = {"multiprocess (gateway.serve)": run_mode(True), "in memory": run_mode(False)}
    kinds = list(next(iter(modes.values())))
    print(f"µs per outcome, best of {ROUNDS} rounds of {CALLS:,} calls")
    print("| mode | " + " | ".join(kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for mode, results in modes.items():
        print(f"| {mode} | " + " | ".join(f"{results[k]:.2f} µs" for k in kinds) + " |")


if __name__ == "__main__":
    main()
