"""YAML loading that remembers the line of every value, for error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


def load_with_lines(path: Path) -> tuple[Any, dict[Location, int]]:
    """The YAML document as plain data, and the 1-based line of each path in it."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    lines: dict[Location, int] = {}
    data = _convert(node, (), lines) if node is not None else None
    return data, lines


def _convert(node: yaml.Node, where: Location, lines: dict[Location, int]) -> Any:
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader("").construct_object(key_node)  # scalars only
            lines[(*where, key)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, (*where, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*where, i), lines) for i, item in enumerate(node.value)]
    return yaml.SafeLoader("").construct_object(node)


def nearest_line(lines: dict[Location, int], where: Location) -> int:
    """The line of `where`, or of its closest ancestor that has one."""
    for length in range(len(where), -1, -1):
        if where[:length] in lines:
            return lines[where[:length]]
    return 1
