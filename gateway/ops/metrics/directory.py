"""The run's directory of prometheus_client's multiprocess mode (standard library only).

prometheus_client decides at import whether a process keeps its values in
memory or in files of PROMETHEUS_MULTIPROC_DIR, so `python -m gateway.serve`
makes the directory and sets the variable before it imports anything that
imports prometheus_client: the workers it starts inherit the variable, and
with one worker the server itself counts into the directory too. A fresh
directory per run, as prometheus_client requires (values of an earlier run
would be summed in); set by the operator, the variable names where the run's
directories go.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def fresh_multiprocess_dir() -> Path:
    """A new, empty directory for this run's value files, named in the environment."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError(
            "prometheus_client was imported before its multiprocess directory was set: "
            "this process would keep its metrics in memory, where no scrape sees them"
        )
    parent = os.environ.get(MULTIPROC_ENV) or None
    path = Path(tempfile.mkdtemp(prefix="gateway-metrics-", dir=parent))
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def remove_multiprocess_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
