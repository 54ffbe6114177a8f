"""From the IR and the matrix's constraints to the runtime schema nodes.

The same nodes drive both emitted forms of a validator: the msgspec Structs of
the fast path and the schema table of the error path, so the two cannot
disagree about what a field is.
"""

from __future__ import annotations

import dataclasses

from gateway.validation import schema as s
from generator import ir
from generator.errors import GeneratorError
from generator.matrix import Constraints, Endpoint

_PREFERRED_TAGS = ("role", "type")


class SchemaBuilder:
    """Turns IR types into schema nodes, one Object node per (object, tag)."""

    def __init__(self, surface: ir.Surface) -> None:
        self._surface = surface
        self.objects: dict[str, s.Object] = {}
        self.sdk_objects: dict[str, ir.ObjectDef] = {}
        self._tags: dict[tuple[str, str | None], str] = {}

    def node(self, t: ir.TypeRef, where: str, tag_field: str | None = None) -> s.Node:
        if isinstance(t, ir.Scalar):
            return s.Scalar(t.kind)
        if isinstance(t, ir.Null):
            return s.Null()
        if isinstance(t, ir.AnyJson):
            return s.AnyJson()
        if isinstance(t, ir.Enum):
            return s.Enum(t.values)
        if isinstance(t, ir.Array):
            return s.Array(self.node(t.items, f"{where}[]"))
        if isinstance(t, ir.Map):
            return s.Map(self.node(t.values, f"{where}{{}}"))
        if isinstance(t, ir.ObjectRef):
            return self._object(t.name, tag_field, where)
        return self._union(t, where)

    def _object(self, name: str, tag_field: str | None, where: str) -> s.Object:
        """One node per use: a branch of a tagged union differs from a lone object.

        msgspec treats the tag of a lone tagged Struct as optional, while the SDK
        requires it, so an object used both ways gets two nodes (and Structs).
        """
        variant = self._variant_name(name, tag_field)
        if variant not in self.objects:
            definition = self._surface.objects[name]
            fields = tuple(
                s.Field(f.name, self.node(f.type, f"{name}.{f.name}"), f.required)
                for f in definition.fields
            )
            self.objects[variant] = s.Object(variant, fields, tag_field)
            self.sdk_objects[variant] = definition
        return self.objects[variant]

    def _variant_name(self, name: str, tag_field: str | None) -> str:
        key = (name, tag_field)
        if key not in self._tags:
            self._tags[key] = name if tag_field is None else f"{name}Tagged"
        return self._tags[key]

    def _union(self, t: ir.Union, where: str) -> s.Node:
        refs = [o for o in t.options if isinstance(o, ir.ObjectRef)]
        tag = self._tag_field(refs, where) if len(refs) > 1 else None
        return s.OneOf(tuple(self.node(o, where, tag) for o in t.options))

    def _tag_field(self, refs: list[ir.ObjectRef], where: str) -> str:
        """The field whose single literal value tells the union's objects apart."""
        definitions = [self._surface.objects[r.name] for r in refs]
        candidates = [
            name
            for name in _PREFERRED_TAGS
            if all(_single_literal(d.field(name)) is not None for d in definitions)
        ]
        values = (
            [_single_literal(d.field(candidates[0])) for d in definitions] if candidates else []
        )
        if not candidates or len(set(values)) != len(values):
            names = ", ".join(r.name for r in refs)
            raise GeneratorError(f"{where}: no tag field tells apart the union of {names}")
        return candidates[0]


def _single_literal(field: ir.Field | None) -> ir.LiteralValue | None:
    if field is None or not field.required or not isinstance(field.type, ir.Enum):
        return None
    return field.type.values[0] if len(field.type.values) == 1 else None


def validated_nodes(
    builder: SchemaBuilder, root: ir.ObjectDef, endpoint: Endpoint
) -> list[tuple[str, s.Node]]:
    """The schema node of each field the matrix validates, constrained, in the SDK's order."""
    return [
        (f.name, constrain(builder.node(f.type, f.name), endpoint.validated[f.name]))
        for f in root.fields
        if f.name in endpoint.validated
    ]


def constrain(node: s.Node, c: Constraints) -> s.Node:
    """Apply the matrix's constraints to the branches of a field's type they fit."""
    if isinstance(node, s.OneOf):
        return s.OneOf(tuple(constrain(option, c) for option in node.options))
    if isinstance(node, s.Scalar) and node.kind in ("integer", "number"):
        return dataclasses.replace(node, minimum=c.minimum, maximum=c.maximum)
    if isinstance(node, s.Array):
        return dataclasses.replace(
            node, min_items=c.min_items, max_items=c.max_items, size_message=c.size_message
        )
    if isinstance(node, s.Map):
        values = node.values
        if isinstance(values, s.Scalar) and values.kind == "string":
            values = dataclasses.replace(values, max_length=c.value_max_length)
        elif isinstance(values, s.Scalar):
            values = dataclasses.replace(values, minimum=c.value_minimum, maximum=c.value_maximum)
        return s.Map(values, c.max_properties, c.key_max_length)
    return node


def msgspec_expressible(node: s.Node) -> bool:
    """Whether msgspec can decode this union itself (one branch per JSON kind)."""
    if not isinstance(node, s.OneOf):
        return True
    kinds = [_json_kind(o) for o in node.options]
    untagged_objects = [
        o
        for o in node.options
        if isinstance(o, s.Map) or (isinstance(o, s.Object) and o.tag_field is None)
    ]
    objects = kinds.count("object")
    distinct = len(set(kinds) - {"object"}) == len([k for k in kinds if k != "object"])
    return distinct and (objects <= 1 or not untagged_objects)


def _json_kind(node: s.Node) -> str:
    if isinstance(node, s.Scalar):
        return {"integer": "number"}.get(node.kind, node.kind)
    if isinstance(node, s.Enum):
        return "string" if all(isinstance(v, str) for v in node.values) else "literal"
    if isinstance(node, s.Array):
        return "array"
    if isinstance(node, s.Object | s.Map):
        return "object"
    return type(node).__name__
