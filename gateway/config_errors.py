"""The one exception every configuration loader raises for a bad file.

It is a `ValueError` so callers that only care about "bad input" can catch that,
and its message always starts with the file name so a failed start-up points
straight at the line to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or malformed."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def read_yaml(path: Path, what: str) -> Any:
    """The YAML document of a configuration file (`what`: "keys file", "catalog", …)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(path, f"cannot read {what}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(path, f"not valid YAML: {error}") from None
