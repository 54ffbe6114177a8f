"""The gateway's logging: one handler on stderr, configured level and format.

Everything (the gateway's loggers and uvicorn's) goes through the root
logger's single handler, so every line carries a time, a level and a logger
name. A warning repeated in a burst (one per refused request while Redis is
down) is written once; the repeats within `REPEAT_WINDOW_S` are counted and
the count is written with the next occurrence after the window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

REPEAT_WINDOW_S = 10.0


class RepeatFilter(logging.Filter):
    """Let the first of a run of identical warnings through, then a count per window.

    Identical means the same logger and the same message template (the
    arguments, e.g. the exception text, may differ).
    """

    def __init__(
        self, window_s: float = REPEAT_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._runs: dict[tuple[str, str], tuple[float, int]] = {}  # -> (window start, suppressed)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        started, suppressed = self._runs.get(key, (float("-inf"), 0))
        if now - started < self._window_s:
            self._runs[key] = (started, suppressed + 1)
            return False
        self._runs[key] = (now, 0)
        if suppressed:
            repeats = f"(and {suppressed} more like it in the last {self._window_s:g} s)"
            record.msg = f"{record.msg} {repeats}"
        return True


def dict_config(level: str, format: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the process: one handler, uvicorn's loggers included."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"repeats": {"()": RepeatFilter}},
        "formatters": {"line": {"format": format}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["repeats"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # uvicorn's own handlers are replaced: its loggers propagate to the one above.
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
