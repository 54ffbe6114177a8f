"""Where the metrics are served: one listener of its own, never the API's port.

`python -m gateway.serve` runs every worker's metrics in prometheus_client's
multiprocess mode, with one worker as with several, so there is one way to
serve them:

1. `gateway.ops.metrics.directory.fresh_multiprocess_dir()`, before anything
   imports prometheus_client (this module included).
2. `MetricsListener.start()` in the supervising process (the only process
   with one worker): prometheus_client's HTTP server, in a thread, on
   `metrics.host:metrics.port`, with a registry holding only a
   MultiProcessCollector over the directory, so every worker's values are
   summed and nothing is counted twice.
3. A worker's exit: uvicorn's supervisor has no hook for it, so before each
   scrape the listener calls `mark_process_dead` for each process whose live
   gauge files remain but which no longer runs (its counters stay: counters
   never go down); the directory is removed when the run ends.
"""

from __future__ import annotations

import glob
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


class LiveWorkers(Collector):
    """Every process's values from the directory, after forgetting the live gauges of
    processes that have exited (mark_process_dead)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._reaping = threading.Lock()  # scrapes run in threads: one removes a file once
        # prometheus_client's multiprocess module is not annotated (nor below).
        self._files = MultiProcessCollector(None, str(path))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        with self._reaping:
            for pid in exited_processes(self._path):
                mark_process_dead(pid, str(self._path))  # type: ignore[no-untyped-call]
        metrics: Iterable[Metric] = self._files.collect()  # type: ignore[no-untyped-call]
        return metrics


def exited_processes(path: Path) -> list[int]:
    """The processes that left live gauge files in `path` and no longer run."""
    files = glob.glob(os.path.join(glob.escape(str(path)), "gauge_live*_*.db"))
    pids = {int(m.group(1)) for f in files if (m := _LIVE_GAUGE_FILE.fullmatch(Path(f).name))}
    return sorted(pid for pid in pids if not _running(pid))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class MetricsListener:
    """prometheus_client's HTTP server over the run's directory, in a daemon thread."""

    def __init__(self, host: str, port: int, path: Path) -> None:
        self.host, self.port, self.path = host, port, path
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Raises OSError when the port cannot be bound (in use, not allowed)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(LiveWorkers(self.path))
        self._server, self._thread = start_http_server(self.port, self.host, registry)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
