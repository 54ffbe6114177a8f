"""Introspect the installed openai SDK's request TypedDicts into the IR.

Handles the pitfalls listed in the field guide: requiredness computed class by
class (``__required_keys__`` is wrong under ``from __future__ import
annotations``), ``typing_extensions.is_typeddict``, erased aliases (a
``Union[str, Literal[...60 names]]`` is any string), ``SequenceNotStr`` and
``Iterable`` as JSON arrays, and ``stream`` living only in the subclasses.
"""

from __future__ import annotations

import collections
import collections.abc
import dataclasses
import importlib
import types
import typing
from collections.abc import Iterator

import typing_extensions

from generator import ir
from generator.docstrings import class_fields_source
from generator.errors import GeneratorError

_REQUIRED = {typing.Required, typing_extensions.Required}
_NOT_REQUIRED = {typing.NotRequired, typing_extensions.NotRequired}
_WRAPPERS = _REQUIRED | _NOT_REQUIRED | {typing.Annotated, typing_extensions.Annotated}
_ARRAY_ORIGINS = {
    list,
    tuple,
    collections.abc.Iterable,
    collections.abc.Sequence,
    collections.abc.Collection,
}
_MAP_ORIGINS = {dict, collections.abc.Mapping}
_SCALARS: dict[object, ir.ScalarKind] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
}


@dataclasses.dataclass(frozen=True)
class EndpointSource:
    """Where an endpoint's request body lives in the SDK."""

    name: str
    method: str
    path: str
    module: str
    root_name: str
    classes: tuple[str, ...]


def read_surface(sources: tuple[EndpointSource, ...], sdk_version: str) -> ir.Surface:
    """Every request type reachable from the endpoints' params classes."""
    reader = _Reader()
    endpoints = [reader.endpoint(source) for source in sources]
    objects, names = reader.named_objects()
    renamed = tuple(dataclasses.replace(e, root=names[e.root]) for e in endpoints)
    return ir.Surface(sdk_version, renamed, objects)


def _is_typeddict(hint: object) -> bool:
    return isinstance(hint, type) and typing_extensions.is_typeddict(hint)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _Reader:
    def __init__(self) -> None:
        # Keyed by the class's qualified name; names are assigned at the end so
        # that a collision is resolved the same way whatever the visit order.
        self._objects: dict[str, tuple[type | _Synthetic, tuple[ir.Field, ...]]] = {}
        # Classes being read right now: a recursive type (the pinned SDK has none)
        # then becomes a reference instead of an endless descent.
        self._pending: set[str] = set()

    def endpoint(self, source: EndpointSource) -> ir.Endpoint:
        module = importlib.import_module(source.module)
        classes = [getattr(module, name) for name in source.classes]
        fields = self._merged_fields(classes)
        root_path = f"{source.module}.{source.root_name}"
        merged_from = " + ".join(_qualified(c) for c in classes)
        self._objects[root_path] = (
            _Synthetic(source.module, source.root_name, merged_from),
            fields,
        )
        return ir.Endpoint(
            name=source.name,
            method=source.method,
            path=source.path,
            root=root_path,
            sdk_classes=tuple(_qualified(c) for c in classes),
        )

    def _merged_fields(self, classes: list[type]) -> tuple[ir.Field, ...]:
        """Fields of the Base/NonStreaming/Streaming variants as one request body.

        A field is required only if every variant requires it; its type is the
        union of the variants' types (`stream`: false, null or true).
        """
        per_class = [self._fields(cls) for cls in classes]
        names: list[str] = []
        for fields in per_class:
            names += [f.name for f in fields if f.name not in names]
        return tuple(_merge([f for fs in per_class for f in fs if f.name == n]) for n in names)

    def _fields(self, cls: type) -> tuple[ir.Field, ...]:
        hints = typing.get_type_hints(cls, include_extras=True)
        return tuple(self._field(cls, name, hint) for name, hint in hints.items())

    def _field(self, cls: type, name: str, hint: object) -> ir.Field:
        owner = _declaring_class(cls, name)
        source = class_fields_source(owner).get(name)
        sdk_path = f"{_qualified(owner)}.{name}"
        return ir.Field(
            name=name,
            type=self._type(hint, sdk_path),
            required=_is_required(owner, hint),
            sdk_path=sdk_path,
            annotation=source.annotation if source else repr(hint),
            doc=source.doc if source else "",
        )

    def _type(self, hint: object, where: str) -> ir.TypeRef:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin in _WRAPPERS:
            return self._type(args[0], where)
        if hint is None or hint is type(None):
            return ir.Null()
        if hint in _SCALARS:
            return ir.Scalar(_SCALARS[hint])
        if hint is object:
            return ir.AnyJson()
        if origin in (typing.Literal, typing_extensions.Literal):
            return _enum(args)
        if origin in (typing.Union, types.UnionType):
            return _union([self._type(arg, where) for arg in args])
        if origin in _ARRAY_ORIGINS:
            return ir.Array(self._type(args[0], where))
        if origin in _MAP_ORIGINS:
            return self._map(args, where)
        if _is_typeddict(hint):
            return self._object(typing.cast(type, hint))
        raise GeneratorError(f"{where}: unsupported SDK type {hint!r}")

    def _map(self, args: tuple[object, ...], where: str) -> ir.TypeRef:
        if args[0] is not str:
            raise GeneratorError(f"{where}: map keys must be strings, got {args[0]!r}")
        return ir.Map(self._type(args[1], where))

    def _object(self, cls: type) -> ir.ObjectRef:
        key = _qualified(cls)
        if key not in self._objects and key not in self._pending:
            self._pending.add(key)
            self._objects[key] = (cls, self._fields(cls))
            self._pending.discard(key)
        return ir.ObjectRef(key)

    def named_objects(self) -> tuple[dict[str, ir.ObjectDef], dict[str, str]]:
        """The objects by unique name, sorted, and the name given to each class."""
        names = _unique_names({key: cls for key, (cls, _) in self._objects.items()})
        objects = {
            names[key]: ir.ObjectDef(names[key], _sdk_path(key, cls), _renamed(fields, names))
            for key, (cls, fields) in sorted(self._objects.items(), key=lambda kv: names[kv[0]])
        }
        return objects, names


class _Synthetic:
    """Stands in for the merged root of an endpoint, which has no SDK class."""

    def __init__(self, module: str, name: str, merged_from: str) -> None:
        self.__module__ = module
        self.__name__ = name
        self.__qualname__ = name
        self.merged_from = merged_from


def _sdk_path(key: str, cls: type | _Synthetic) -> str:
    """Where a reviewer finds the object in the SDK: a merged root names its classes."""
    return cls.merged_from if isinstance(cls, _Synthetic) else key


def _declaring_class(cls: type, name: str) -> type:
    """The class whose own body declares `name`: its totality decides requiredness.

    A TypedDict's MRO does not list its TypedDict bases (they are flattened into
    its annotations), so the walk follows `__orig_bases__` instead.
    """
    for base in getattr(cls, "__orig_bases__", ()):
        if _is_typeddict(base) and name in base.__annotations__:
            return _declaring_class(base, name)
    return cls


def _is_required(owner: type, hint: object) -> bool:
    origin = typing.get_origin(hint)
    if origin in _REQUIRED:
        return True
    if origin in _NOT_REQUIRED:
        return False
    return bool(getattr(owner, "__total__", True))


def _enum(values: tuple[object, ...]) -> ir.TypeRef:
    if set(values) == {True, False}:
        return ir.Scalar("boolean")
    return ir.Enum(tuple(typing.cast(ir.LiteralValue, v) for v in values))


def _flatten(options: list[ir.TypeRef]) -> Iterator[ir.TypeRef]:
    for option in options:
        if isinstance(option, ir.Union):
            yield from option.options
        else:
            yield option


def _union(options: list[ir.TypeRef]) -> ir.TypeRef:
    """Flatten, deduplicate, and fold what the SDK spelled as several pieces.

    `null` goes last: `Union[Optional[str], List[str]]` (1.x's `stop`) and
    `Union[str, List[str], None]` (3.x's) are one type, so they must give one IR
    and the same generated bytes. The other options keep the SDK's order, which
    the error wording follows ("a string or an array").
    """
    flat = list(dict.fromkeys(_flatten(options)))
    if ir.Null() in flat:
        flat = [o for o in flat if o != ir.Null()] + [ir.Null()]
    enums = [o for o in flat if isinstance(o, ir.Enum)]
    if ir.Scalar("string") in flat:
        # Union[str, ChatModel]: the alias was erased into a Literal; any string goes.
        flat = [o for o in flat if not (isinstance(o, ir.Enum) and _all_strings(o))]
    elif len(enums) > 1:
        merged = ir.Enum(tuple(dict.fromkeys(v for e in enums for v in e.values)))
        flat = [o for o in flat if not isinstance(o, ir.Enum)]
        flat.insert(0, _enum(merged.values))
    return flat[0] if len(flat) == 1 else ir.Union(tuple(flat))


def _all_strings(enum: ir.Enum) -> bool:
    return all(isinstance(v, str) for v in enum.values)


def _merge(inherited: list[ir.Field]) -> ir.Field:
    variants = list({f.sdk_path: f for f in inherited}.values())
    if len(variants) == 1:
        return variants[0]
    first = variants[0]
    return ir.Field(
        name=first.name,
        type=_union([v.type for v in variants]),
        required=all(v.required for v in variants),
        sdk_path=" | ".join(v.sdk_path for v in variants),
        annotation=" | ".join(v.annotation for v in variants),
        doc=first.doc,
    )


def _unique_names(classes: dict[str, type | _Synthetic]) -> dict[str, str]:
    """Short class names, module-qualified only where two classes share one."""
    counts = collections.Counter(cls.__name__ for cls in classes.values())
    return {
        key: cls.__name__ if counts[cls.__name__] == 1 else key.removeprefix("openai.types.")
        for key, cls in classes.items()
    }


def _renamed(fields: tuple[ir.Field, ...], names: dict[str, str]) -> tuple[ir.Field, ...]:
    return tuple(_rename_field(f, names) for f in fields)


def _rename_field(f: ir.Field, names: dict[str, str]) -> ir.Field:
    return ir.Field(f.name, _rename(f.type, names), f.required, f.sdk_path, f.annotation, f.doc)


def _rename(t: ir.TypeRef, names: dict[str, str]) -> ir.TypeRef:
    if isinstance(t, ir.ObjectRef):
        return ir.ObjectRef(names[t.name])
    if isinstance(t, ir.Array):
        return ir.Array(_rename(t.items, names))
    if isinstance(t, ir.Map):
        return ir.Map(_rename(t.values, names))
    if isinstance(t, ir.Union):
        return ir.Union(tuple(_rename(o, names) for o in t.options))
    return t
