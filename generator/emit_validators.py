"""Emit one validator module per endpoint: msgspec Structs + the error-path schema."""

from __future__ import annotations

import dataclasses
import json
import re

from gateway.anchors import check_anchor
from gateway.validation import schema as s
from gateway.validation.wording import number_text
from generator import ir
from generator.errors import GeneratorError
from generator.matrix import CrossFieldRule, Endpoint, LaterCheck, check_stage
from generator.schema_build import SchemaBuilder, msgspec_expressible, validated_nodes

_PY_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


@dataclasses.dataclass(frozen=True)
class StructField:
    name: str
    annotation: str
    required: bool
    comment: str


@dataclasses.dataclass(frozen=True)
class StructDef:
    """One msgspec Struct of the fast path, with where it comes from."""

    class_name: str
    sdk_paths: tuple[str, ...]  # its SDK class, or the classes a request merges
    tag_field: str | None
    tag: str | None
    fields: tuple[StructField, ...]


@dataclasses.dataclass(frozen=True)
class SchemaField:
    name: str
    expression: str
    required: bool
    comment: str
    missing_message: str | None = None


@dataclasses.dataclass(frozen=True)
class SchemaDef:
    """One Object node of the error path, as a module-level constant."""

    constant: str
    name: str
    tag_field: str | None
    fields: tuple[SchemaField, ...]


@dataclasses.dataclass(frozen=True)
class CheckDef:
    """One check after the schema stage, as an expression of gateway.checks."""

    comment: str
    expression: str


@dataclasses.dataclass(frozen=True)
class ValidatorModule:
    endpoint: str
    method: str
    path: str
    module_name: str
    request_class: str
    structs: tuple[StructDef, ...]
    schemas: tuple[SchemaDef, ...]
    residual: tuple[tuple[int, str], ...]  # (index in SCHEMA.fields, field name)
    checks: tuple[CheckDef, ...] = ()


def module_name(endpoint_key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", endpoint_key.lower())


def build_module(
    surface: ir.Surface, endpoint: Endpoint, checks: tuple[LaterCheck, ...] = ()
) -> ValidatorModule:
    """`checks`: the endpoint's later checks in the matrix's order (`Matrix.later_checks`)."""
    root = surface.root(endpoint.key)
    builder = SchemaBuilder(surface)
    nodes = dict(validated_nodes(builder, root, endpoint))
    top = [
        (f, nodes[f.name], not msgspec_expressible(nodes[f.name]))
        for f in root.fields
        if f.name in nodes
    ]
    for obj in builder.objects.values():
        _require_expressible(obj)
    ordered = _dependency_order(builder.objects, [node for _, node, _ in top])
    root_struct = _root_struct(root, endpoint.key, top)
    root_schema = _root_schema(endpoint, root, top)
    return ValidatorModule(
        endpoint=endpoint.key,
        method=endpoint.method,
        path=endpoint.paths[0],
        module_name=module_name(endpoint.key),
        request_class=root.name,
        structs=(*(_struct(builder.sdk_objects[o.name], o) for o in ordered), root_struct),
        schemas=(*(_schema(builder.sdk_objects[o.name], o) for o in ordered), root_schema),
        residual=tuple((i, f.name) for i, (f, _, residual) in enumerate(top) if residual),
        checks=tuple(check_def(endpoint.key, c) for c in checks),
    )


def check_def(endpoint_key: str, check: LaterCheck) -> CheckDef:
    comment = f"matrix {endpoint_key} · {check_stage(check)} · {check.key}"
    common: dict[str, object] = {
        "key": check.key,
        "anchor": check_anchor(endpoint_key, check.key),
        "field": check.field,
    }
    if isinstance(check, CrossFieldRule):
        arguments: dict[str, object] = {
            **common,
            "requires_field": check.requires_field,
            "when": check.when,
            "message": " ".join(check.message.split()),
            "except_values": check.except_values,
        }
        return CheckDef(comment, f"CrossField({_arguments(arguments)})")
    bound: dict[str, object] = {
        **common,
        "stage": check.stage,
        "minimum": check.minimum,
        "maximum": check.maximum,
        "value_minimum": check.value_minimum,
        "value_maximum": check.value_maximum,
        "message": check.message,
    }
    return CheckDef(comment, f"Bound({_arguments(bound)})")


def _arguments(values: dict[str, object]) -> str:
    def text(value: object) -> str:
        if isinstance(value, float):
            return number_text(value)
        if isinstance(value, tuple):
            return _tuple([_literal(v) for v in value]) if value else "()"
        return _literal(value)

    return ", ".join(f"{k}={text(v)}" for k, v in values.items() if v is not None)


def _require_expressible(obj: s.Object) -> None:
    for field in obj.fields:
        if not msgspec_expressible(field.type):
            raise GeneratorError(f"{obj.name}.{field.name}: a nested union msgspec cannot decode")


def _dependency_order(objects: dict[str, s.Object], roots: list[s.Node]) -> list[s.Object]:
    """Objects after the objects they refer to (the SDK types have no cycles)."""
    ordered: dict[str, s.Object] = {}

    def visit(node: s.Node) -> None:
        for child in _children(node):
            visit(child)
        if isinstance(node, s.Object) and node.name not in ordered:
            ordered[node.name] = node

    for node in roots:
        visit(node)
    return list(ordered.values())


def _children(node: s.Node) -> tuple[s.Node, ...]:
    if isinstance(node, s.Object):
        return tuple(f.type for f in node.fields)
    if isinstance(node, s.Array):
        return (node.items,)
    if isinstance(node, s.Map):
        return (node.values,)
    if isinstance(node, s.OneOf):
        return node.options
    return ()


def _struct(definition: ir.ObjectDef, node: s.Object) -> StructDef:
    fields = tuple(
        StructField(
            f.name,
            field_annotation(t.type, t.required),
            t.required,
            _comment(f, definition.sdk_path),
        )
        for f, t in zip(definition.fields, node.fields, strict=True)
        if f.name != node.tag_field
    )
    tag = node.tag if node.tag_field else None
    return StructDef(
        node.name,
        _sdk_paths(definition.sdk_path),
        node.tag_field,
        str(tag) if tag is not None else None,
        fields,
    )


def _schema(definition: ir.ObjectDef, node: s.Object) -> SchemaDef:
    fields = tuple(
        SchemaField(f.name, expression(t.type), t.required, _comment(f, definition.sdk_path))
        for f, t in zip(definition.fields, node.fields, strict=True)
    )
    return SchemaDef(schema_constant(node.name), node.name, node.tag_field, fields)


def _root_struct(
    root: ir.ObjectDef, key: str, top: list[tuple[ir.Field, s.Node, bool]]
) -> StructDef:
    fields = tuple(
        StructField(
            f.name,
            "Any" if residual else field_annotation(node, f.required),
            f.required,
            _comment(f, root.sdk_path, key),
        )
        for f, node, residual in top
    )
    return StructDef(root.name, _sdk_paths(root.sdk_path), None, None, fields)


def _root_schema(
    endpoint: Endpoint, root: ir.ObjectDef, top: list[tuple[ir.Field, s.Node, bool]]
) -> SchemaDef:
    fields = tuple(
        SchemaField(
            f.name,
            expression(node),
            f.required,
            _comment(f, root.sdk_path, endpoint.key),
            endpoint.validated[f.name].missing_message,
        )
        for f, node, _ in top
    )
    return SchemaDef("SCHEMA", root.name, None, fields)


def _comment(field: ir.Field, class_path: str, matrix_key: str | None = None) -> str:
    """The field's SDK declaration, its path relative to the class the docstring names."""
    where = f"matrix {matrix_key}.{field.name} · " if matrix_key else ""
    return f"{where}{relative_path(field.sdk_path, class_path)}: {field.annotation}"


def relative_path(field_path: str, class_path: str) -> str:
    """`text` for a field of the class itself, `Base.text` for one a base in its module
    declares (a merged request names several classes), else the full path; a field
    merged from several classes (`A.stream | B.stream`) names each."""
    return " | ".join(_relative(path, class_path) for path in field_path.split(" | "))


def _relative(field_path: str, class_path: str) -> str:
    owner, _, name = field_path.rpartition(".")
    classes = _sdk_paths(class_path)
    if classes == (owner,):
        return name
    module, _, owner_name = owner.rpartition(".")
    if all(c.rpartition(".")[0] == module for c in classes):
        return f"{owner_name}.{name}"
    return field_path


def _sdk_paths(sdk_path: str) -> tuple[str, ...]:
    """The SDK classes of an object: one, or those a request's root merges (`A + B`)."""
    return tuple(sdk_path.split(" + "))


def schema_constant(object_name: str) -> str:
    return f"SCHEMA_{object_name}"


def _literal(value: object) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _meta(**bounds: float | None) -> str:
    given = [f"{k}={number_text(v)}" for k, v in bounds.items() if v is not None]
    return f"Meta({', '.join(given)})" if given else ""


def _annotated(base: str, meta: str) -> str:
    return f"Annotated[{base}, {meta}]" if meta else base


def field_annotation(node: s.Node, required: bool) -> str:
    """A Struct field's annotation: `UnsetType` marks an optional field, `None` goes last."""
    options = node.options if isinstance(node, s.OneOf) else (node,)
    present = [annotation(o) for o in options if not isinstance(o, s.Null)]
    unset = [] if required else ["UnsetType"]
    null = ["None"] if any(isinstance(o, s.Null) for o in options) else []
    return " | ".join(present + unset + null)


def _tuple(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def annotation(node: s.Node) -> str:
    """The msgspec type annotation of a node, constraints as `Meta`."""
    if isinstance(node, s.Scalar):
        meta = _meta(ge=node.minimum, le=node.maximum, max_length=node.max_length)
        return _annotated(_PY_SCALARS[node.kind], meta)
    if isinstance(node, s.Null):
        return "None"
    if isinstance(node, s.AnyJson):
        return "Any"
    if isinstance(node, s.Enum):
        return f"Literal[{', '.join(_literal(v) for v in node.values)}]"
    if isinstance(node, s.Array):
        meta = _meta(min_length=node.min_items, max_length=node.max_items)
        return _annotated(f"list[{annotation(node.items)}]", meta)
    if isinstance(node, s.Map):
        key = _annotated("str", _meta(max_length=node.key_max_length))
        meta = _meta(max_length=node.max_properties)
        return _annotated(f"dict[{key}, {annotation(node.values)}]", meta)
    if isinstance(node, s.Object):
        return node.name
    return " | ".join(annotation(o) for o in node.options)


def _keywords(**values: object) -> str:
    return "".join(f", {k}={_literal(v)}" for k, v in values.items() if v is not None)


def expression(node: s.Node) -> str:
    """The Python expression that rebuilds a node in the generated module."""
    if isinstance(node, s.Scalar):
        bounds = {"minimum": node.minimum, "maximum": node.maximum}
        text = {k: number_text(v) for k, v in bounds.items() if v is not None}
        extra = "".join(f", {k}={v}" for k, v in text.items()) + _keywords(
            max_length=node.max_length
        )
        return f's.Scalar("{node.kind}"{extra})'
    if isinstance(node, s.Null):
        return "s.Null()"
    if isinstance(node, s.AnyJson):
        return "s.AnyJson()"
    if isinstance(node, s.Enum):
        return f"s.Enum({_tuple([_literal(v) for v in node.values])})"
    if isinstance(node, s.Array):
        limits = _keywords(
            min_items=node.min_items, max_items=node.max_items, size_message=node.size_message
        )
        return f"s.Array({expression(node.items)}{limits})"
    if isinstance(node, s.Map):
        limits = _keywords(max_properties=node.max_properties, key_max_length=node.key_max_length)
        return f"s.Map({expression(node.values)}{limits})"
    if isinstance(node, s.Object):
        return schema_constant(node.name)
    return f"s.OneOf({_tuple([expression(o) for o in node.options])})"
