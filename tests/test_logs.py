"""The one log handler: a burst of one warning is written once, then as a count."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.config_errors import ConfigError
from gateway.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("gateway.limits.ratelimit", level, __file__, 1, message, args, None)


def test_repeats_within_the_window_are_dropped_and_counted_on_the_next_one_after() -> None:
    clock = Clock()
    repeats = RepeatFilter(window_s=10, clock=clock)
    template = "Redis unavailable: %r"
    assert repeats.filter(record(template, "refused"))
    for second in range(1, 10):
        clock.now = second
        assert not repeats.filter(record(template, f"timeout {second}"))
    clock.now = 10.5
    later = record(template, "refused again")
    assert repeats.filter(later)
    assert later.getMessage() == (
        "Redis unavailable: 'refused again' (and 9 more like it in the last 10 s)"
    )


def test_different_warnings_and_info_lines_are_never_dropped() -> None:
    repeats = RepeatFilter(window_s=10, clock=Clock())
    assert repeats.filter(record("first kind"))
    assert repeats.filter(record("second kind"))
    assert all(repeats.filter(record("engines serving", level=logging.INFO)) for _ in range(5))


def test_a_bad_log_level_or_format_stops_start_up_naming_the_setting() -> None:
    path = Path(__file__).resolve().parents[1] / "config" / "gateway.yaml"
    with pytest.raises(ConfigError, match=r"logging\.level must be one of debug"):
        load_config(path, {"GATEWAY_LOG_LEVEL": "loud"})
    with pytest.raises(ConfigError, match=r"logging\.format: Invalid format"):
        load_config(path, {"GATEWAY_LOG_FORMAT": "no fields"})
