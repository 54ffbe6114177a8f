"""Find the first problem in a request body and word it as api.openai.com does.

Runs only on the error path (the fast path is a typed msgspec decode), so it
favours clarity over speed. Fields are visited in the SDK's declaration
order, so one body always yields the same single error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.validation import wording
from gateway.validation.schema import AnyJson, Array, Enum, Map, Node, Null, Object, OneOf, Scalar


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong with a body: the param path, the message, and which check said so.

    `stage` is the matrix's stage of the check (`schema` for everything this
    module finds); `anchor` is the page's anchor of that check, when it has one
    of its own (else the field's).
    """

    param: str | None
    message: str
    stage: str = "schema"
    anchor: str | None = None


def explain(value: Any, node: Object) -> Problem | None:
    """The first problem in a decoded body (a dict) against the root object."""
    if not isinstance(value, dict):
        return Problem(None, wording.body_not_object(value))
    for field in node.fields:
        if field.missing_message is not None and field.name not in value:
            return Problem(None, field.missing_message)
    return _object(value, node, "")


def check(value: Any, node: Node, path: str) -> Problem | None:
    """The first problem of `value` at `path`, or None when it conforms."""
    if isinstance(node, OneOf):
        return _one_of(value, node, path)
    if not _kind_matches(value, node):
        return Problem(path, wording.wrong_type(path, wording.expected(node), value))
    if isinstance(node, Object):
        return _object(value, node, path)
    if isinstance(node, Array):
        return _array(value, node, path)
    if isinstance(node, Map):
        return _map(value, node, path)
    if isinstance(node, Enum):
        return _enum(value, node, path)
    if isinstance(node, Scalar):
        return _scalar(value, node, path)
    return None


def _kind_matches(value: Any, node: Node) -> bool:
    """Whether `value` has the JSON kind `node` wants (bool is never a number)."""
    if isinstance(node, AnyJson):
        return True
    if isinstance(node, Null):
        return value is None
    if isinstance(node, Object | Map):
        return isinstance(value, dict)
    if isinstance(node, Array):
        return isinstance(value, list)
    if isinstance(node, Enum):
        return any(type(value) is type(v) for v in node.values)
    if isinstance(node, Scalar):
        return _scalar_kind_matches(value, node.kind)
    return False


def _scalar_kind_matches(value: Any, kind: str) -> bool:
    if kind == "number":
        return type(value) in (int, float)
    return type(value) is {"string": str, "integer": int, "boolean": bool}[kind]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _object(value: dict[str, Any], node: Object, path: str) -> Problem | None:
    for field in node.fields:
        where = _join(path, field.name)
        if field.name not in value:
            if field.required:
                return Problem(where, wording.missing(where))
            continue
        problem = check(value[field.name], field.type, where)
        if problem is not None:
            return problem
    return None


def _array(value: list[Any], node: Array, path: str) -> Problem | None:
    size_problem = wording.array_size(path, len(value), node.min_items, node.max_items)
    if size_problem is not None:
        if node.size_message is not None:
            return Problem(None, node.size_message)
        return Problem(path, size_problem)
    for index, item in enumerate(value):
        problem = check(item, node.items, f"{path}[{index}]")
        if problem is not None:
            return problem
    return None


def _map(value: dict[str, Any], node: Map, path: str) -> Problem | None:
    if node.max_properties is not None and len(value) > node.max_properties:
        return Problem(path, wording.too_many_properties(path, len(value), node.max_properties))
    for key, item in value.items():
        if node.key_max_length is not None and len(key) > node.key_max_length:
            return Problem(path, wording.string_too_long(path, len(key), node.key_max_length))
        problem = check(item, node.values, _join(path, key))
        if problem is not None:
            return problem
    return None


def _enum(value: Any, node: Enum, path: str) -> Problem | None:
    if value in node.values:
        return None
    return Problem(path, wording.invalid_value(value, node.values))


def _scalar(value: Any, node: Scalar, path: str) -> Problem | None:
    if node.kind == "string":
        if node.max_length is not None and len(value) > node.max_length:
            return Problem(path, wording.string_too_long(path, len(value), node.max_length))
        return None
    if node.kind in ("integer", "number"):
        message = wording.out_of_range(path, node.kind, value, node.minimum, node.maximum)
        return None if message is None else Problem(path, message)
    return None


def _one_of(value: Any, node: OneOf, path: str) -> Problem | None:
    """Pick the branch by the value's JSON kind, then by tag for objects."""
    candidates = [option for option in node.options if _kind_matches(value, option)]
    if not candidates:
        return Problem(path, wording.wrong_type(path, wording.expected(node), value))
    objects = [c for c in candidates if isinstance(c, Object) and c.tag_field is not None]
    if objects:
        return _tagged(value, objects, path)
    problems = [check(value, option, path) for option in candidates]
    if any(problem is None for problem in problems):
        return None
    if len(set(problems)) == 1:
        return problems[0]  # every branch of this kind fails the same way: say that
    return Problem(path, wording.wrong_type(path, wording.expected(node), value))


def _tagged(value: dict[str, Any], options: list[Object], path: str) -> Problem | None:
    tag_field = options[0].tag_field
    assert tag_field is not None
    where = _join(path, tag_field)
    if tag_field not in value:
        return Problem(where, wording.missing(where))
    tag = value[tag_field]
    chosen = next((o for o in options if type(o.tag) is type(tag) and o.tag == tag), None)
    if chosen is None:
        tags = tuple(o.tag for o in options if o.tag is not None)
        if not isinstance(tag, str):
            return Problem(where, wording.wrong_type(where, "a string", tag))
        return Problem(where, wording.invalid_value(tag, tags))
    return _object(value, chosen, path)
