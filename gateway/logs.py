"""The gateway's logging: one handler on stderr, configured level and format.

Everything (the gateway's loggers and uvicorn's) goes through the root
logger's single handler, so every line carries a time, a level and a logger
name. A warning repeated in a burst (one per refused request while Redis is
down) is written once; the repeats within `REPEAT_WINDOW_S` are counted and
the count is written with the next occurrence after the window.

A line written while a request is handled names its id (`(request req_…)`
after the message, or wherever the format puts `%(request_id)s`), so an
engine failure's warning can be found from the `x-request-id` a client
quotes (gateway.ops.request_ids). The access log (gateway.ops.access_log)
has a handler of its own on stderr that writes its JSON lines as they are,
at `logging.access_level`; `logging.access: off` silences it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from gateway.ops.access_log import LOGGER as ACCESS_LOGGER
from gateway.ops.request_ids import NO_REQUEST, RequestIdFilter

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


class RequestLineFormatter(logging.Formatter):
    """The configured format; a line logged during a request ends with that request's id,
    unless the format places `%(request_id)s` itself."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", NO_REQUEST)
        if request_id == NO_REQUEST or "%(request_id)" in self._fmt_text:
            return line
        return f"{line} (request {request_id})"

    @property
    def _fmt_text(self) -> str:
        return self._fmt or ""


def dict_config(
    level: str, format: str, access: str = "json", access_level: str = "info"
) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the process: one handler, uvicorn's loggers included,
    and the access log's own handler (JSON lines as they are)."""
    access_logger = {
        "handlers": ["access"] if access == "json" else [],
        "propagate": False,
        "level": access_level.upper() if access == "json" else "CRITICAL",
    }
    uvicorn = {
        name: {"handlers": [], "propagate": True, "level": level.upper()}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"repeats": {"()": RepeatFilter}, "request_ids": {"()": RequestIdFilter}},
        "formatters": {
            "line": {"()": RequestLineFormatter, "fmt": format},
            "message": {"format": "%(message)s"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["request_ids", "repeats"],
            },
            "access": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "message",
            },
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # uvicorn's own handlers are replaced: its loggers propagate to the one above.
        "loggers": {**uvicorn, ACCESS_LOGGER: access_logger},
    }
