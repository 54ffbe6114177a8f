"""The reference verdict for a request body, built from the SDK's own TypedDicts.

Independent of our IR, schema builder and emitter on purpose: it reads the
openai SDK's request classes with `typing.get_type_hints`, rebuilds them as
fresh TypedDicts pydantic can validate in strict mode, keeps only the
top-level fields the support matrix validates (the others are forwarded
untouched by design), and adds the matrix's constraints as pydantic `Field`
bounds. Only the matrix (an input of the generator, not its output) is shared.

A body passes the schema stage when it decodes as JSON and any SDK variant
of the endpoint accepts the document (chat and legacy completions:
NonStreaming with `stream` false/null/absent, or Streaming with `stream:
true`). Then the matrix's later checks run in its order of checks
(`Matrix.later_checks`), judged here on the document: a cross-field rule by
reading the two fields (null is not sent), a value check by pydantic on the
field's value rebuilt from its SDK type with the check's bounds. The verdict
says which stage refused a body and, after the schema stage, which `param`
the real API names.

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

from generator.matrix import Constraints, CrossFieldRule, Endpoint, Matrix, ValueCheck, check_stage

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
class Verdict:
    """Accepted, or refused by a stage; after the schema stage, with the param named."""

    accepted: bool
    stage: str | None = None
    param: str | None = None


ACCEPT = Verdict(True)
SCHEMA_REFUSAL = Verdict(False, "schema")


@dataclass(frozen=True)
class LaterJudge:
    """One of the matrix's later checks, judged on a decoded document."""

    check: CrossFieldRule | ValueCheck
    adapter: TypeAdapter[Any] | None  # value checks: the field's type with the check's bounds

    def verdict(self, document: dict[str, Any]) -> Verdict | None:
        check = self.check
        value = document.get(check.field)
        if value is None:
            return None
        if isinstance(check, CrossFieldRule):
            if isinstance(value, str) and value in check.except_values:
                return None
            partner = document.get(check.requires_field)
            ok = partner is True if check.when == "enabled" else partner is not None
            return None if ok else Verdict(False, "cross_field", check.field)
        assert self.adapter is not None
        try:
            self.adapter.validate_python(value, strict=True)
        except pydantic.ValidationError as error:
            where = error.errors()[0]["loc"]  # a map's key is last (a union adds its branch)
            keyed = isinstance(value, dict) and check.message is None and bool(where)
            param = f"{check.field}.{where[-1]}" if keyed else check.field
            return Verdict(False, check_stage(check), param)
        return None


@dataclass(frozen=True)
class Oracle:
    """The verdict for one endpoint: any SDK variant accepts, then the later checks in order."""

    endpoint: str
    variants: tuple[TypeAdapter[Any], ...]
    later: tuple[LaterJudge, ...] = ()

    def accepts(self, body: bytes) -> bool:
        return self.verdict(body).accepted

    def verdict(self, body: bytes) -> Verdict:
        try:
            document = _DOCUMENT.decode(body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            return SCHEMA_REFUSAL
        return self.verdict_of(document)

    def accepts_document(self, document: object) -> bool:
        return self.verdict_of(document).accepted

    def verdict_of(self, document: object) -> Verdict:
        if not any(_valid(adapter, document) is not None for adapter in self.variants):
            return SCHEMA_REFUSAL
        return self._later(document)

    def broken_later_checks(self, document: dict[str, Any]) -> list[str]:
        """The keys of every later check the document fails, whatever comes first."""
        return [j.check.key for j in self.later if j.verdict(document) is not None]

    def _later(self, document: object) -> Verdict:
        assert isinstance(document, dict)  # the schema stage accepted it
        for judge in self.later:
            verdict = judge.verdict(document)
            if verdict is not None:
                return verdict
        return ACCEPT

    def accepts_forwarded(self, body: bytes) -> bool:
        """Valid once bytes that are not UTF-8 are read as a mark, and no mark is validated."""
        verdict = self.verdict_forwarded(body)
        return verdict is not None and verdict.accepted

    def verdict_forwarded(self, body: bytes) -> Verdict | None:
        """The verdict once bytes that are not UTF-8 are read as a mark, if no mark is validated.

        The validated output of a TypedDict keeps only the fields it declares,
        so a mark left in it sits in a value the gateway reads (None: no verdict).
        """
        try:
            document = _DOCUMENT.decode(body.decode("utf-8", _MARKING))
        except (msgspec.DecodeError, RecursionError):
            return None
        for adapter in self.variants:
            validated = _valid(adapter, document)
            if validated is not None and not _marked(validated):
                return self._later(document)
        return None


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
    hints = typing.get_type_hints(getattr(module, class_names[0]), include_extras=True)
    later = tuple(
        LaterJudge(
            check, None if isinstance(check, CrossFieldRule) else _bounded(rebuilder, hints, check)
        )
        for check in matrix.later_checks(endpoint)
    )
    return Oracle(endpoint_key, adapters, later)


def _bounded(rebuilder: _Rebuilder, hints: dict[str, Any], check: ValueCheck) -> TypeAdapter[Any]:
    """The field's SDK type, rebuilt, with the value check's bounds as pydantic constraints."""
    bounds = Constraints(
        minimum=check.minimum,
        maximum=check.maximum,
        value_minimum=check.value_minimum,
        value_maximum=check.value_maximum,
    )
    return TypeAdapter(constrain(rebuilder.type(hints[check.field]), bounds))


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
