"""The SDK surface as a sorted, reviewable JSON file (and back, for bump diffs)."""

from __future__ import annotations

import json
from typing import Any

from generator import ir
from generator.classify import forwarded_fields, validated_fields
from generator.matrix import Matrix


def type_text(t: ir.TypeRef) -> str:
    """A compact, readable spelling: `string | null`, `array<ImageURL>`, `"a" | "b"`."""
    if isinstance(t, ir.Scalar):
        return t.kind
    if isinstance(t, ir.Null):
        return "null"
    if isinstance(t, ir.AnyJson):
        return "any"
    if isinstance(t, ir.Enum):
        return " | ".join(json.dumps(v) for v in t.values)
    if isinstance(t, ir.Array):
        return f"array<{type_text(t.items)}>"
    if isinstance(t, ir.Map):
        return f"map<{type_text(t.values)}>"
    if isinstance(t, ir.ObjectRef):
        return t.name
    return " | ".join(type_text(o) for o in t.options)


def surface_document(surface: ir.Surface, matrix: Matrix) -> dict[str, Any]:
    """What a reviewer reads on an SDK bump: every request field, sorted."""
    return {
        "sdk": f"openai=={surface.sdk_version}",
        "endpoints": {
            e.name: _endpoint(surface, matrix, e)
            for e in sorted(surface.endpoints, key=lambda e: e.name)
        },
        "objects": {
            name: {
                "sdk_path": obj.sdk_path,
                "fields": {f.name: _field(f) for f in sorted(obj.fields, key=lambda f: f.name)},
            }
            for name, obj in sorted(surface.objects.items())
        },
    }


def _endpoint(surface: ir.Surface, matrix: Matrix, endpoint: ir.Endpoint) -> dict[str, Any]:
    entry = matrix.endpoint(endpoint.name)
    return {
        "method": endpoint.method,
        "path": endpoint.path,
        "request": endpoint.root,
        "sdk_classes": list(endpoint.sdk_classes),
        "validated": sorted(f.name for f in validated_fields(entry, surface)),
        "forwarded_unvalidated": sorted(forwarded_fields(entry, surface)),
    }


def _field(f: ir.Field) -> dict[str, Any]:
    return {
        "type": type_text(f.type),
        "required": f.required,
        "nullable": f.nullable,
        "sdk_path": f.sdk_path,
        "annotation": f.annotation,
    }


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
