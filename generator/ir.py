"""The intermediate representation of the SDK's request surface.

Small, frozen and JSON-shaped on purpose: the snapshot under generated/ is a
dump of it, so everything here must sort and serialise deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ScalarKind = Literal["string", "integer", "number", "boolean"]
LiteralValue = str | int | bool


@dataclass(frozen=True)
class Scalar:
    kind: ScalarKind


@dataclass(frozen=True)
class Null:
    """JSON null: present in a union when the SDK says Optional[...]."""


@dataclass(frozen=True)
class AnyJson:
    """`object` / `Dict[str, object]` values: any JSON is accepted."""


@dataclass(frozen=True)
class Enum:
    """A `Literal[...]`: one of a fixed set of JSON values."""

    values: tuple[LiteralValue, ...]


@dataclass(frozen=True)
class Array:
    """`Iterable[X]`, `List[X]`, `SequenceNotStr[X]`: a JSON array (never a string)."""

    items: TypeRef


@dataclass(frozen=True)
class Map:
    """`Dict[str, X]`: a JSON object with arbitrary keys."""

    values: TypeRef


@dataclass(frozen=True)
class ObjectRef:
    """A TypedDict, by its unique name in `Surface.objects`."""

    name: str


@dataclass(frozen=True)
class Union:
    """Alternatives in the SDK's declaration order, flattened, duplicates removed."""

    options: tuple[TypeRef, ...]


TypeRef = Scalar | Null | AnyJson | Enum | Array | Map | ObjectRef | Union


@dataclass(frozen=True)
class Field:
    name: str
    type: TypeRef
    required: bool
    sdk_path: str
    annotation: str
    doc: str = ""

    @property
    def nullable(self) -> bool:
        return isinstance(self.type, Union) and Null() in self.type.options


@dataclass(frozen=True)
class ObjectDef:
    name: str
    sdk_path: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Endpoint:
    """One request body: `root` names the object merged from the SDK's params classes."""

    name: str
    method: str
    path: str
    root: str
    sdk_classes: tuple[str, ...]


@dataclass(frozen=True)
class Surface:
    sdk_version: str
    endpoints: tuple[Endpoint, ...]
    objects: dict[str, ObjectDef] = field(default_factory=dict)

    def endpoint(self, name: str) -> Endpoint:
        return next(e for e in self.endpoints if e.name == name)

    def root(self, endpoint: str) -> ObjectDef:
        return self.objects[self.endpoint(endpoint).root]
