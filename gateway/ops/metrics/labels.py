"""Label values that stay bounded whatever clients send: label cardinality is an attack surface.

A refusal's `param` is built from the request: array indices
(`messages[3].content`) and the keys of maps (`metadata.<any key>`,
`logit_bias.<token>`) come from the client. `ParamLabels` turns a param into
its place in the endpoint's generated schema (`messages[].content`,
`metadata.*`), so there are only as many label values as the schema has
places; a param the schema does not have (an engine's own 400, say) is
`other`, and no param at all is `""`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.validation.schema import Array, Map, Node, Object, OneOf

NO_PARAM = ""
OTHER = "other"  # a param that is no place of the endpoint's schema

_INDEX = re.compile(r"\[\d+\]")
_NAME = re.compile(r"[^.\[\]]+")


class ParamLabels:
    """The bounded label of each endpoint's refusal params (endpoint key -> root schema)."""

    def __init__(self, schemas: Mapping[str, Object]) -> None:
        self._schemas = dict(schemas)

    def label(self, endpoint: str, param: str | None) -> str:
        if param is None:
            return NO_PARAM
        schema = self._schemas.get(endpoint)
        place = None if schema is None else _place(schema, "." + param)
        return OTHER if place is None else place[1:]


def _place(node: Node, rest: str) -> str | None:
    """`rest` (what follows the path so far) as a schema place, or None if it is not one."""
    if not rest:
        return ""
    if isinstance(node, OneOf):
        return _first_place(node.options, rest)
    if isinstance(node, Object):
        return _field_place(node, rest)
    if isinstance(node, Array):
        index = _INDEX.match(rest)
        if index is None:
            return None
        inner = _place(node.items, rest[index.end() :])
        return None if inner is None else "[]" + inner
    if isinstance(node, Map):
        return _map_place(node, rest)
    return None  # a scalar, enum, null or any-JSON value has no places inside


def _first_place(options: tuple[Node, ...], rest: str) -> str | None:
    for option in options:
        place = _place(option, rest)
        if place is not None:
            return place
    return None


def _field_place(node: Object, rest: str) -> str | None:
    name = _NAME.match(rest, 1) if rest.startswith(".") else None
    if name is None:
        return None
    field = next((f for f in node.fields if f.name == name.group()), None)
    if field is None:
        return None
    inner = _place(field.type, rest[name.end() :])
    return None if inner is None else f".{field.name}{inner}"


def _map_place(node: Map, rest: str) -> str | None:
    """A map's key may hold any character: the key is the shortest prefix after which
    the rest is a place of the map's values (all of it, when the values are leaves)."""
    if not rest.startswith(".") or len(rest) < 2:
        return None
    for end in range(2, len(rest) + 1):
        if end == len(rest) or rest[end] in ".[":
            inner = _place(node.values, rest[end:])
            if inner is not None:
                return ".*" + inner
    return None
