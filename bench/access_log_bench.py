"""Benchmark: what one access-log line costs the request that writes it.

Run as `python bench/access_log_bench.py` (or `make bench-access-log`). The
observer (gateway.ops.access_log.AccessLog) gets the same streamed outcome
`--lines` times, through the handler `gateway.serve` configures (gateway.logs:
the access logger's own message-only StreamHandler), writing to a file under
/tmp as the deployed process writes to its redirected stderr; then with
`logging.access: off` (the observer left out: nothing runs) for reference.
Prints the median over `--rounds` of the time per line. A benchmark, not a
test: it always exits 0 when it could measure.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gateway.logs import dict_config
from gateway.observe import RequestOutcome, Usage, new_outcome_id
from gateway.ops.access_log import AccessLog

OUTCOME = RequestOutcome(
    outcome_id=new_outcome_id(),
    request_id="req_5f0c4e1b9a2d4c7e8f1a3b5c7d9e0f12",
    received_at=time.time(),
    endpoint="chat.completions",
    key_id="local-dev",
    model="reference-chat",
    status=200,
    stream=True,
    usage=Usage(prompt_tokens=412, completion_tokens=96, cached_tokens=128),
    latency_s=0.183412,
    first_chunk_s=0.021344,
    error=None,
    stream_end="done",
)


def per_line_us(lines: int) -> float:
    observer = AccessLog()
    started = time.perf_counter_ns()
    for _ in range(lines):
        observer(OUTCOME)
    return (time.perf_counter_ns() - started) / lines / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "stderr.log"
        with target.open("w") as stream:
            sys.stderr = stream  # the handler's stream, as a deployed process's redirected stderr
            logging.config.dictConfig(dict_config("warning", "%(message)s"))
            timings = [per_line_us(args.lines) for _ in range(args.rounds)]
            sys.stderr = sys.__stderr__
        written = len(target.read_text().splitlines())
    print(f"access log: {statistics.median(timings):.2f} us per line (median of {args.rounds}")
    print(f"  rounds of {args.lines:,}; rounds {min(timings):.2f}..{max(timings):.2f} us;")
    print(f"  {written:,} lines written to a file); logging.access: off runs nothing (0 us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
