"""prometheus_client's multiprocess values with the cached process id (gateway.ops.metrics.pid):
no getpid per write, the values still read back by the exposure's collector, and a forked
child still writes files of its own. In a fresh interpreter: the value class is chosen as
prometheus_client is imported, with PROMETHEUS_MULTIPROC_DIR set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, os, sys
calls = 0
real_getpid = os.getpid
def counting_getpid():
    global calls
    calls += 1
    return real_getpid()

from gateway.ops.metrics.observer import gateway_metrics
from prometheus_client import CollectorRegistry, Counter, values
from prometheus_client.multiprocess import MultiProcessCollector

gateway_metrics(["m"], ["k"])  # the gateway's own metrics: made with the installed class
counter = Counter("probe_total", "a probe", ["who"])
os.getpid = counting_getpid
for _ in range(100):
    counter.labels("parent").inc()
writes_calls = calls
os.getpid = real_getpid
child = os.fork()
if child == 0:
    counter.labels("child").inc(5)
    os._exit(0)
os.waitpid(child, 0)
registry = CollectorRegistry()
MultiProcessCollector(registry)
samples = {
    s.labels["who"]: s.value
    for metric in registry.collect() if metric.name == "probe"
    for s in metric.samples if s.name == "probe_total"
}
files = sorted(name for name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
print(json.dumps({"cached": getattr(values.ValueClass, "_cached_pid", False),
                  "getpid_calls": writes_calls, "samples": samples, "files": files,
                  "pids": [real_getpid(), child]}))
"""


def test_multiprocess_values_skip_getpid_per_write_and_a_forked_child_writes_its_own_file(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["cached"] is True
    assert seen["getpid_calls"] == 0  # os.getpid's default: one call per write, 100 here
    assert seen["samples"] == {"parent": 100.0, "child": 5.0}
    parent, child = seen["pids"]
    assert f"counter_{parent}.db" in seen["files"] and f"counter_{child}.db" in seen["files"]
