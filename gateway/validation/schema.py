"""Schema nodes that the generated validators instantiate for the error path.

The fast path is a typed msgspec decode; when it refuses a body, these nodes
are walked by `gateway.validation.explain` to find the first problem and word it the way
api.openai.com does. Plain immutable data: the generated modules are tables
of these, each with its SDK field path beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

JsonScalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Scalar:
    kind: str  # "string" | "integer" | "number" | "boolean"
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class Null:
    pass


@dataclass(frozen=True, slots=True)
class AnyJson:
    pass


@dataclass(frozen=True, slots=True)
class Enum:
    values: tuple[JsonScalar, ...]


@dataclass(frozen=True, slots=True)
class Array:
    items: Node
    min_items: int | None = None
    max_items: int | None = None
    # The real API's own words for a length out of bounds, answered with param null.
    size_message: str | None = None


@dataclass(frozen=True, slots=True)
class Map:
    values: Node
    max_properties: int | None = None
    key_max_length: int | None = None


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: Node
    required: bool
    # The real API's own words when this top-level field is missing; such a
    # field is checked before all others and the error has no `param`.
    missing_message: str | None = None


@dataclass(frozen=True, slots=True)
class Object:
    name: str
    fields: tuple[Field, ...]
    tag_field: str | None = None  # set when the object is one branch of a tagged union
    # The value of `tag_field` that picks this branch: found once, when the table is built.
    tag: JsonScalar | None = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", self._tag())

    def _tag(self) -> JsonScalar | None:
        if self.tag_field is None:
            return None
        field = next((f for f in self.fields if f.name == self.tag_field), None)
        if field is None or not isinstance(field.type, Enum):
            raise ValueError(f"{self.name}: tag field {self.tag_field!r} is not a literal field")
        return field.type.values[0]


@dataclass(frozen=True, slots=True)
class OneOf:
    options: tuple[Node, ...]


Node = Scalar | Null | AnyJson | Enum | Array | Map | Object | OneOf
