"""JSON schema examples: the values given as tool arguments and json_schema replies."""

from __future__ import annotations

from typing import Any

from reference_engine.wire import JSON

_SCALAR_EXAMPLES: dict[str, Any] = {
    "string": "example",
    "number": 1,
    "integer": 1,
    "boolean": True,
}


def schema_type(schema: JSON) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def example_value(schema: Any) -> Any:
    """A value satisfying simple schemas: enums, scalars, nested objects, arrays."""
    if not isinstance(schema, dict):
        return None
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema_type(schema)
    if kind == "object":
        return example_object(schema)
    if kind == "array":
        return []
    return _SCALAR_EXAMPLES.get(kind or "")


def example_object(schema: Any) -> JSON:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {name: example_value(sub) for name, sub in properties.items()}
