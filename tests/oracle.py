"""The reference verdict for a request body, built from the SDK's own TypedDicts.

Independent of our IR, schema builder and emitter on purpose: it reads the
openai SDK's request classes with `typing.get_type_hints`, rebuilds them as
fresh TypedDicts pydantic can validate in strict mode, keeps only the
top-level fields the support matrix validates (the others are forwarded
untouched by design), and adds the matrix's constraints as pydantic `Field`
bounds. Only the matrix (an input of the generator, not its output) is shared.

A body is accepted when it decodes as JSON and any SDK variant of the
endpoint accepts the document (chat and legacy completions: NonStreaming with
`stream` false/null/absent, or Streaming with `stream: true`).

Where pydantic's strict mode is not exact enough for JSON, the rebuilt types
say so: a `Literal` must match by type as well as value (pydantic's literal
check is by equality, so `0` would pass for `Literal[False]`), and a `float`
must be finite.

What the SDK types cannot say, the oracle decides the way the gateway
documents it: the document is msgspec's decoding of the body, so a repeated
key counts by its last occurrence, and a number beyond float64 decodes to
infinity (valid JSON: fine where any value goes, out of range where a float
is wanted). A body that is not UTF-8 is refused (`accepts`); since the
gateway does not look for such bytes in fields it only forwards,
`accepts_forwarded` says whether it would be valid with those bytes confined
to fields the oracle ignores.
"""

from __future__ import annotations

import codecs
import collections.abc
import importlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import pydantic
import typing_extensions
from pydantic import BeforeValidator, Field, TypeAdapter

from generator.matrix import Constraints, Endpoint, Matrix

# The SDK classes that each describe one complete request body, per endpoint.
SDK_VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "chat.completions": (
        "openai.types.chat.completion_create_params",
        ("CompletionCreateParamsNonStreaming", "CompletionCreateParamsStreaming"),
    ),
    "completions": (
        "openai.types.completion_create_params",
        ("CompletionCreateParamsNonStreaming", "CompletionCreateParamsStreaming"),
    ),
    "embeddings": ("openai.types.embedding_create_params", ("EmbeddingCreateParams",)),
}

_REQUIRED = {typing.Required, typing_extensions.Required}
_NOT_REQUIRED = {typing.NotRequired, typing_extensions.NotRequired}
_ANNOTATED = {typing.Annotated, typing_extensions.Annotated}
_LITERAL = {typing.Literal, typing_extensions.Literal}
_LISTS = {
    list,
    tuple,
    collections.abc.Iterable,
    collections.abc.Sequence,
    collections.abc.Collection,
}
_DICTS = {dict, collections.abc.Mapping}
_SCALARS = {str, int, float, bool}

# Special forms subscripted with values computed at run time: typed as Any for mypy.
_Literal: Any = typing.Literal
_Required: Any = typing_extensions.Required
_NotRequired: Any = typing_extensions.NotRequired
_Union: Any = typing.Union
_make_typeddict: Callable[..., Any] = typing.cast(Any, typing_extensions.TypedDict)


_DOCUMENT = msgspec.json.Decoder(float_hook=float)
MARK = "\ufdd0"  # a noncharacter: stands for bytes that are not UTF-8
_MARKING = "oracle-mark-undecodable"
FINITE_FLOAT: Any = Annotated[float, Field(allow_inf_nan=False)]


class OracleError(Exception):
    """The SDK uses a type the oracle does not know how to rebuild."""


@dataclass(frozen=True)
class Oracle:
    """Accept/reject for one endpoint: any of its SDK variants accepts the document."""

    endpoint: str
    variants: tuple[TypeAdapter[Any], ...]

    def accepts(self, body: bytes) -> bool:
        try:
            document = _DOCUMENT.decode(body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            return False
        return self.accepts_document(document)

    def accepts_document(self, document: object) -> bool:
        return any(_valid(adapter, document) is not None for adapter in self.variants)

    def accepts_forwarded(self, body: bytes) -> bool:
        """Valid once bytes that are not UTF-8 are read as a mark, and no mark is validated.

        The validated output of a TypedDict keeps only the fields it declares,
        so a mark left in it sits in a value the gateway reads.
        """
        try:
            document = _DOCUMENT.decode(body.decode("utf-8", _MARKING))
        except (msgspec.DecodeError, RecursionError):
            return False
        for adapter in self.variants:
            validated = _valid(adapter, document)
            if validated is not None and not _marked(validated):
                return True
        return False


def _valid(adapter: TypeAdapter[Any], document: object) -> object | None:
    """The validated document (unknown keys dropped), or None when it is invalid."""
    try:
        validated: object = adapter.validate_python(document, strict=True)
    except pydantic.ValidationError:
        return None
    return validated


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return MARK, error.end


codecs.register_error(_MARKING, _mark_undecodable)


def _marked(value: object) -> bool:
    if isinstance(value, str):
        return MARK in value
    if isinstance(value, dict):
        return any(_marked(k) or _marked(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_marked(item) for item in value)
    return False


def build_oracle(matrix: Matrix, endpoint_key: str) -> Oracle:
    endpoint = matrix.endpoint(endpoint_key)
    module_name, class_names = SDK_VARIANTS[endpoint_key]
    module = importlib.import_module(module_name)
    rebuilder = _Rebuilder()
    adapters = tuple(
        TypeAdapter(rebuilder.request(getattr(module, name), endpoint)) for name in class_names
    )
    return Oracle(endpoint_key, adapters)


def build_oracles(matrix: Matrix) -> dict[str, Oracle]:
    return {key: build_oracle(matrix, key) for key in SDK_VARIANTS}


def declaring_class(cls: type, name: str) -> type:
    """The class whose own body declares `name` (TypedDict bases are not in the MRO)."""
    for base in getattr(cls, "__orig_bases__", ()):
        if typing_extensions.is_typeddict(base) and name in base.__annotations__:
            return declaring_class(base, name)
    return cls


def is_required(cls: type, name: str, hint: object) -> bool:
    """`Required`/`NotRequired` if spelled, else the totality of the declaring class."""
    origin = typing.get_origin(hint)
    if origin in _REQUIRED:
        return True
    if origin in _NOT_REQUIRED:
        return False
    return bool(getattr(declaring_class(cls, name), "__total__", True))


class _Rebuilder:
    """SDK type hints to types pydantic validates the way JSON means them."""

    def __init__(self) -> None:
        self._typeddicts: dict[type, Any] = {}

    def request(self, cls: type, endpoint: Endpoint) -> Any:
        """The root TypedDict: validated fields only, each with its matrix constraints."""
        hints = typing.get_type_hints(cls, include_extras=True)
        unknown = set(endpoint.validated) - set(hints)
        if unknown:
            raise OracleError(f"{cls.__qualname__} has no fields {sorted(unknown)}")
        fields = {
            name: self._field(cls, name, hint, endpoint.validated[name])
            for name, hint in hints.items()
            if name in endpoint.validated
        }
        return _make_typeddict(f"Oracle{cls.__name__}", fields)

    def _field(self, cls: type, name: str, hint: object, constraints: Constraints | None) -> Any:
        rebuilt = self.type(hint)
        if constraints is not None:
            rebuilt = constrain(rebuilt, constraints)
        wrapper = _Required if is_required(cls, name, hint) else _NotRequired
        return wrapper[rebuilt]

    def typeddict(self, cls: type) -> Any:
        if cls not in self._typeddicts:
            hints = typing.get_type_hints(cls, include_extras=True)
            fields = {name: self._field(cls, name, hint, None) for name, hint in hints.items()}
            self._typeddicts[cls] = _make_typeddict(f"Oracle{cls.__name__}", fields)
        return self._typeddicts[cls]

    def type(self, hint: object) -> Any:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin in _REQUIRED | _NOT_REQUIRED | _ANNOTATED:
            return self.type(args[0])
        if hint is None or hint is type(None):
            return None
        if hint is float:
            return FINITE_FLOAT
        if hint in _SCALARS:
            return hint
        if hint is object:
            return Any
        if origin in _LITERAL:
            return exact_literal(args)
        if origin in (typing.Union, types.UnionType):
            return _Union[tuple(self.type(arg) for arg in args)]
        if origin in _LISTS:
            return list[self.type(args[0])]  # type: ignore[misc]
        if origin in _DICTS:
            if args[0] is not str:
                raise OracleError(f"map keys must be strings: {hint!r}")
            return dict[str, self.type(args[1])]  # type: ignore[misc]
        if isinstance(hint, type) and typing_extensions.is_typeddict(hint):
            return self.typeddict(hint)
        raise OracleError(f"unsupported SDK type {hint!r}")


def exact_literal(values: tuple[object, ...]) -> Any:
    """`Literal[...]` that also wants the value's JSON type (`0` is not `False`)."""
    kinds = tuple({type(v) for v in values})

    def same_kind(value: object) -> object:
        if type(value) not in kinds:
            raise ValueError(f"expected one of {values!r}")
        return value

    return Annotated[_Literal[values], BeforeValidator(same_kind)]


def _is_number(t: object) -> bool:
    return t is int or t is FINITE_FLOAT


def _is_list(t: object) -> bool:
    return typing.get_origin(t) is list


def _is_dict(t: object) -> bool:
    return typing.get_origin(t) is dict


def constrain(t: Any, c: Constraints) -> Any:
    """The matrix's constraints on the branches they fit: numbers, arrays, maps."""
    if typing.get_origin(t) is typing.Union:
        return _Union[tuple(constrain(arg, c) for arg in typing.get_args(t))]
    if _is_number(t):
        return _annotated(t, ge=c.minimum, le=c.maximum)
    if _is_list(t):
        return _annotated(t, min_length=c.min_items, max_length=c.max_items)
    if _is_dict(t):
        key, value = typing.get_args(t)
        key = _annotated(key, max_length=c.key_max_length)
        if value is str:
            value = _annotated(value, max_length=c.value_max_length)
        elif _is_number(value):
            value = _annotated(value, ge=c.value_minimum, le=c.value_maximum)
        return _annotated(dict[key, value], max_length=c.max_properties)  # type: ignore[valid-type]
    return t


def _annotated(t: Any, **bounds: float | None) -> Any:
    given: Mapping[str, Any] = {k: v for k, v in bounds.items() if v is not None}
    return Annotated[t, Field(**given)] if given else t
