"""Differential test: our generated validators against an oracle built from the SDK types.

Bodies come from the IR (random but seeded, so every run sees the same
cases): valid requests, mutations of them (wrong type, null, missing required
key, bad enum or tag, numbers just outside their bounds, arrays one item too
long or short, float for int, bool for number, string for array, unknown
keys), and raw edge bodies (not JSON, not an object, nested too deeply,
repeated keys, numbers beyond float64, bytes that are not UTF-8, exotic
number spellings). Each body is judged by the validator and by
`tests/oracle.py`; the verdicts must agree on every case, and every refusal
must be explained by `gateway.validation.explain` rather than by the msgspec-message
fallback. One documented allowance: bytes that are not UTF-8 make the oracle
refuse, but the gateway may accept them inside fields it only forwards (it
does not look there), never inside a value it validates.
"""

from __future__ import annotations

import copy
import math
import random
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import msgspec
import pytest
from oracle import Oracle, Verdict, build_oracles  # tests/ is on sys.path, as for mypy

from gateway.validation.explain import Problem
from generated.validators import chat_completions, completions, embeddings
from generator import ir
from generator.matrix import Constraints, CrossFieldRule, Endpoint, ValueCheck
from generator.regen import Inputs, load_inputs

# Cases per endpoint: about 5,500 in all, a few seconds.
CASES = {"chat.completions": 3000, "completions": 1500, "embeddings": 1000}
SEEDS = {"chat.completions": 20240601, "completions": 20240602, "embeddings": 20240603}
VALIDATORS: dict[str, ModuleType] = {
    "chat.completions": chat_completions,
    "completions": completions,
    "embeddings": embeddings,
}
FALLBACK_PREFIX = "Invalid request:"  # gateway.validation._from_msgspec's wording
CRASH = "CRASH"  # marks a validator that raised something other than its request error
TIME_BUDGET_S = 60.0
_DOCUMENT = msgspec.json.Decoder(float_hook=float)  # as the gateway decodes a refused body

Path = tuple[str | int, ...]
JSON = Any


# ---- valid bodies from the IR -------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The matrix's constraints as they apply at one position of a body."""

    minimum: float | None = None
    maximum: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    max_length: int | None = None
    max_properties: int | None = None
    key_max_length: int | None = None
    values: Limits | None = None
    # Every numeric bound of every stage, (bound, +1 for a maximum / -1 for a minimum):
    # valid values keep within the tightest, mutations step past any of them.
    bounds: tuple[tuple[float, float], ...] = ()

    @staticmethod
    def of(c: Constraints, later: tuple[ValueCheck, ...] = ()) -> Limits:
        minimum = _tightest(max, [c.minimum, *(v.minimum for v in later)])
        maximum = _tightest(min, [c.maximum, *(v.maximum for v in later)])
        value_minimum = _tightest(max, [c.value_minimum, *(v.value_minimum for v in later)])
        value_maximum = _tightest(min, [c.value_maximum, *(v.value_maximum for v in later)])
        values = Limits(
            minimum=value_minimum,
            maximum=value_maximum,
            max_length=c.value_max_length,
            bounds=_bounds(
                [c.value_minimum, *(v.value_minimum for v in later)],
                [c.value_maximum, *(v.value_maximum for v in later)],
            ),
        )
        return Limits(
            minimum,
            maximum,
            c.min_items,
            c.max_items,
            None,
            c.max_properties,
            c.key_max_length,
            values,
            _bounds(
                [c.minimum, *(v.minimum for v in later)], [c.maximum, *(v.maximum for v in later)]
            ),
        )


def _tightest(pick: Callable[..., float], bounds: list[float | None]) -> float | None:
    given = [b for b in bounds if b is not None]
    return pick(given) if given else None


def _bounds(
    minimums: list[float | None], maximums: list[float | None]
) -> tuple[tuple[float, float], ...]:
    return (
        *((b, -1.0) for b in minimums if b is not None),
        *((b, 1.0) for b in maximums if b is not None),
    )


NO_LIMITS = Limits()


@dataclass(frozen=True)
class Slot:
    """A generated value: where it is, the IR branch it was drawn from, its limits."""

    path: Path
    type: ir.TypeRef
    limits: Limits


@dataclass(frozen=True)
class ObjectSlot:
    """A generated object: where it is and which keys it knows and requires."""

    path: Path
    known: tuple[str, ...]
    required: tuple[str, ...]


@dataclass
class Generated:
    document: dict[str, JSON]
    slots: list[Slot] = field(default_factory=list)
    objects: list[ObjectSlot] = field(default_factory=list)


_WORDS = [
    "hi",
    "hello world",
    "",
    "café",
    "日本語",
    "emoji 🙂",
    "line\nbreak",
    'quote "q"',
    "x" * 40,
]


class BodyGenerator:
    """Random valid request bodies, walking the IR with the matrix's constraints."""

    def __init__(
        self,
        surface: ir.Surface,
        endpoint: Endpoint,
        rng: random.Random,
        model: str | None = None,
    ) -> None:
        self.surface = surface
        self.endpoint = endpoint
        self.rng = rng
        self.model = model  # when set, every body's `model` before mutation (a served one)
        self.root = surface.root(endpoint.key)
        self.fields = [f for f in self.root.fields if f.name in endpoint.validated]
        self._out = Generated({})

    def body(self) -> Generated:
        self._out = Generated({})
        document: dict[str, JSON] = {}
        for f in self.fields:
            if f.required or self.rng.random() < 0.45:
                document[f.name] = self.value(f.type, self.limits(f.name), (f.name,))
        self.keep_cross_field_rules(document)
        if self.model is not None and "model" in document:
            document["model"] = self.model
        names = tuple(f.name for f in self.fields)
        required = tuple(f.name for f in self.fields if f.required)
        self._out.objects.append(ObjectSlot((), names, required))
        self._out.document = document
        return self._out

    def limits(self, name: str) -> Limits:
        """A top-level field's limits: the schema's and its later value checks'."""
        later = tuple(v for v in self.endpoint.value_checks if v.field == name)
        return Limits.of(self.endpoint.validated[name], later)

    def keep_cross_field_rules(self, document: dict[str, JSON]) -> None:
        """A valid body keeps the matrix's cross-field rules: drop the field or send its partner."""
        for rule in self.endpoint.cross_field:
            if not breaks(rule, document):
                continue
            if self.rng.random() < 0.5:
                del document[rule.field]
            elif rule.when == "enabled":
                document[rule.requires_field] = True
                self._out.slots.append(
                    Slot((rule.requires_field,), ir.Scalar("boolean"), NO_LIMITS)
                )
            else:
                partner = next(f for f in self.fields if f.name == rule.requires_field)
                document[partner.name] = self.sent_value(partner.type, partner.name)

    def sent_value(self, t: ir.TypeRef, name: str) -> JSON:
        """A valid value of a top-level field that is not null (a few tries, then any)."""
        value: JSON = None
        for _ in range(8):
            value = self.value(t, self.limits(name), (name,))
            if value is not None:
                break
        return value

    def value(self, t: ir.TypeRef, limits: Limits, path: Path) -> JSON:
        if isinstance(t, ir.Union):
            options = list(t.options)
            non_null: list[ir.TypeRef] = [o for o in options if not isinstance(o, ir.Null)]
            if non_null and (len(non_null) == len(options) or self.rng.random() < 0.85):
                options = non_null
            t = self.rng.choice(options)
        self._out.slots.append(Slot(path, t, limits))
        if isinstance(t, ir.Scalar):
            return self.scalar(t.kind, limits)
        if isinstance(t, ir.Null):
            return None
        if isinstance(t, ir.AnyJson):
            return self.any_json(2)
        if isinstance(t, ir.Enum):
            return self.rng.choice(t.values)
        if isinstance(t, ir.Array):
            low = limits.min_items or 0
            high = min(limits.max_items if limits.max_items is not None else 3, low + 3)
            size = self.rng.randint(low, high)
            return [self.value(t.items, NO_LIMITS, (*path, i)) for i in range(size)]
        if isinstance(t, ir.Map):
            return self.map(t, limits, path)
        assert isinstance(t, ir.ObjectRef)
        return self.object(self.surface.objects[t.name], path)

    def detached(self, t: ir.TypeRef) -> JSON:
        """A valid value of `t` that is not recorded in the body being generated."""
        out, self._out = self._out, Generated({})
        try:
            return self.value(t, NO_LIMITS, ())
        finally:
            self._out = out

    def object(self, definition: ir.ObjectDef, path: Path) -> dict[str, JSON]:
        result: dict[str, JSON] = {}
        for f in definition.fields:
            if f.required or self.rng.random() < 0.4:
                result[f.name] = self.value(f.type, NO_LIMITS, (*path, f.name))
        known = tuple(f.name for f in definition.fields)
        required = tuple(f.name for f in definition.fields if f.required)
        self._out.objects.append(ObjectSlot(path, known, required))
        return result

    def map(self, t: ir.Map, limits: Limits, path: Path) -> dict[str, JSON]:
        most = limits.max_properties if limits.max_properties is not None else 3
        size = self.rng.choice([0, 1, 2, 3, most]) if self.rng.random() < 0.9 else most
        result: dict[str, JSON] = {}
        for _ in range(min(size, most)):
            key = self.key(limits.key_max_length)
            result[key] = self.value(t.values, limits.values or NO_LIMITS, (*path, key))
        return result

    def key(self, max_length: int | None) -> str:
        if max_length is not None and self.rng.random() < 0.2:
            return self.rng.choice(string.ascii_lowercase) * max_length
        return "".join(self.rng.choices(string.ascii_lowercase + "0123456789_", k=6))

    def string(self, max_length: int | None) -> str:
        if max_length is not None and self.rng.random() < 0.2:
            return "é" * max_length
        text = self.rng.choice(_WORDS)
        return text if max_length is None else text[:max_length]

    def scalar(self, kind: str, limits: Limits) -> JSON:
        if kind == "string":
            return self.string(limits.max_length)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "integer":
            return self.integer(limits)
        return self.number(limits)

    def integer(self, limits: Limits) -> int:
        low = math.ceil(limits.minimum) if limits.minimum is not None else None
        high = math.floor(limits.maximum) if limits.maximum is not None else None
        if low is None and high is None:
            return self.rng.choice([0, 1, -1, 7, 256, 4096, 2**31, 2**53 + 1, -(2**40), 10**20])
        low = low if low is not None else high - 1000  # type: ignore[operator]
        high = high if high is not None else low + 1000
        return self.rng.choice([low, high, self.rng.randint(low, high)])

    def number(self, limits: Limits) -> float:
        low, high = limits.minimum, limits.maximum
        if low is None and high is None:
            return self.rng.choice([0.0, 1.5, -3.25, 1e10, 7])
        low = low if low is not None else high - 100  # type: ignore[operator]
        high = high if high is not None else low + 100
        pick = self.rng.random()
        if pick < 0.2:
            return self.rng.choice([low, high])
        if pick < 0.35:
            return self.rng.randint(math.ceil(low), math.floor(high))
        return round(self.rng.uniform(low, high), self.rng.choice([1, 3, 17]))

    def any_json(self, depth: int) -> JSON:
        kinds = ["string", "int", "float", "bool", "null"]
        if depth > 0:
            kinds += ["array", "object"]
        kind = self.rng.choice(kinds)
        if kind == "array":
            return [self.any_json(depth - 1) for _ in range(self.rng.randint(0, 2))]
        if kind == "object":
            return {self.key(None): self.any_json(depth - 1) for _ in range(self.rng.randint(0, 2))}
        return {"string": "s", "int": 3, "float": 2.5, "bool": False, "null": None}[kind]


# ---- mutations -----------------------------------------------------------------


def _get(document: JSON, path: Path) -> JSON:
    for part in path:
        document = document[part]
    return document


_MISSING = object()


def _at(document: JSON, path: Path) -> JSON:
    """The value at `path`, or `_MISSING` once an earlier mutation has moved it."""
    for part in path:
        in_object = isinstance(document, dict) and isinstance(part, str) and part in document
        in_array = isinstance(document, list) and isinstance(part, int) and part < len(document)
        if not (in_object or in_array):
            return _MISSING
        document = document[part]
    return document


def _fits(value: JSON, t: ir.TypeRef) -> bool:
    """Whether a slot still holds a value of its kind (an earlier mutation may have changed it)."""
    if isinstance(t, ir.Array):
        return isinstance(value, list)
    if isinstance(t, ir.Map | ir.ObjectRef):
        return isinstance(value, dict)
    if t == ir.Scalar("integer"):
        return type(value) is int
    if t == ir.Scalar("number"):
        return type(value) in (int, float)
    return value is not _MISSING


def _set(document: JSON, path: Path, value: JSON) -> JSON:
    if not path:
        return value
    _get(document, path[:-1])[path[-1]] = value
    return document


def _json_kind(value: JSON) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "string", list: "array"}.get(
        type(value), "object"
    )


def breaks(rule: CrossFieldRule, document: dict[str, JSON]) -> bool:
    """Whether `document` sends `rule.field` without what it needs (null is not sent)."""
    value = document.get(rule.field)
    if value is None or (isinstance(value, str) and value in rule.except_values):
        return False
    partner = document.get(rule.requires_field)
    return not (partner is True if rule.when == "enabled" else partner is not None)


_SAMPLES: dict[str, JSON] = {
    "null": None,
    "bool": True,
    "int": 7,
    "float": 0.5,
    "string": "x",
    "array": ["x"],
    "object": {"type": "text"},
}
_BAD_TAGS = ["robot", "video", "Text", "USER", "", "function_call", "image"]


class Mutator:
    """Breaks (or harmlessly extends) one valid body in one of many ways."""

    KINDS = (
        "wrong_type",
        "null",
        "delete_required",
        "delete_optional",
        "bad_enum",
        "out_of_range",
        "array_size",
        "float_for_int",
        "bool_for_number",
        "string_for_array",
        "map_limits",
        "empty_container",
        "extra_key",
        "break_cross_field",
        "break_value_check",
        "break_several",
    )

    def __init__(self, gen: BodyGenerator, rng: random.Random) -> None:
        self.gen = gen
        self.rng = rng

    def mutate(self, generated: Generated) -> tuple[str, JSON] | None:
        kind = self.rng.choice(self.KINDS)
        mutation: Callable[[Generated], JSON | None] = getattr(self, kind)
        document = generated.document
        live = Generated(
            document,
            [s for s in generated.slots if _fits(_at(document, s.path), s.type)],
            [o for o in generated.objects if isinstance(_at(document, o.path), dict)],
        )
        mutated = mutation(live)
        return None if mutated is None else (kind, mutated)

    def _pick(self, slots: list[Slot]) -> Slot | None:
        return self.rng.choice(slots) if slots else None

    def _replace(self, generated: Generated, path: Path, value: JSON) -> JSON:
        return _set(copy.deepcopy(generated.document), path, value)

    def wrong_type(self, g: Generated) -> JSON | None:
        slot = self._pick(g.slots)
        if slot is None:
            return None
        current = _json_kind(_get(g.document, slot.path))
        kind = self.rng.choice([k for k in _SAMPLES if k != current])
        return self._replace(g, slot.path, copy.deepcopy(_SAMPLES[kind]))

    def null(self, g: Generated) -> JSON | None:
        slot = self._pick(g.slots)
        return None if slot is None else self._replace(g, slot.path, None)

    def delete_required(self, g: Generated) -> JSON | None:
        # Only keys still there: a first mutation may already have removed one.
        choices = [
            (o, k)
            for o in g.objects
            for k in o.required
            if isinstance(holder := _at(g.document, o.path), dict) and k in holder
        ]
        if not choices:
            return None
        obj, key = self.rng.choice(choices)
        document = copy.deepcopy(g.document)
        del _get(document, obj.path)[key]
        return document

    def delete_optional(self, g: Generated) -> JSON | None:
        choices = [
            (o, k)
            for o in g.objects
            for k in _get(g.document, o.path)
            if k in o.known and k not in o.required
        ]
        if not choices:
            return None
        obj, key = self.rng.choice(choices)
        document = copy.deepcopy(g.document)
        del _get(document, obj.path)[key]
        return document

    def bad_enum(self, g: Generated) -> JSON | None:
        enums = [s for s in g.slots if isinstance(s.type, ir.Enum)]
        tags = [s for s in enums if s.path and s.path[-1] in ("role", "type")]
        slot = self._pick(tags if tags and self.rng.random() < 0.6 else enums)
        if slot is None:
            return None
        current = _get(g.document, slot.path)
        bad: list[JSON] = [*_BAD_TAGS, 0, 1, False, None, ["user"]]
        if isinstance(current, str):
            bad += [current.upper(), f"{current} ", current[:-1]]
        return self._replace(g, slot.path, self.rng.choice(bad))

    def out_of_range(self, g: Generated) -> JSON | None:
        numeric = [
            s
            for s in g.slots
            if isinstance(s.type, ir.Scalar)
            and s.type.kind in ("integer", "number")
            and s.limits.bounds
        ]
        slot = self._pick(numeric)
        if slot is None:
            return None
        assert isinstance(slot.type, ir.Scalar)
        bound, direction = self.rng.choice(slot.limits.bounds)
        if slot.type.kind == "integer":
            value: JSON = self.rng.choice([int(bound + direction), int(bound)])
        else:
            value = self.rng.choice(
                [
                    math.nextafter(bound, direction * math.inf),
                    bound + direction * 1e-9,
                    bound + direction * 0.5,
                    int(bound + direction),
                    bound,
                    int(bound),
                ]
            )
        return self._replace(g, slot.path, value)

    def array_size(self, g: Generated) -> JSON | None:
        arrays = [s for s in g.slots if isinstance(s.type, ir.Array)]
        slot = self._pick(arrays)
        if slot is None:
            return None
        assert isinstance(slot.type, ir.Array)
        limits = slot.limits
        sizes = [0]
        if limits.max_items is not None:
            sizes += [limits.max_items, limits.max_items + 1]
        if limits.min_items is not None:
            sizes += [limits.min_items, max(limits.min_items - 1, 0)]
        size = self.rng.choice(sizes)
        items = [self.gen.detached(slot.type.items) for _ in range(size)]
        return self._replace(g, slot.path, items)

    def float_for_int(self, g: Generated) -> JSON | None:
        ints = [s for s in g.slots if s.type == ir.Scalar("integer")]
        slot = self._pick(ints)
        if slot is None:
            return None
        current = _get(g.document, slot.path)
        return self._replace(g, slot.path, self.rng.choice([float(current), current + 0.5]))

    def bool_for_number(self, g: Generated) -> JSON | None:
        numbers = [s for s in g.slots if s.type in (ir.Scalar("integer"), ir.Scalar("number"))]
        slot = self._pick(numbers)
        return None if slot is None else self._replace(g, slot.path, self.rng.random() < 0.5)

    def string_for_array(self, g: Generated) -> JSON | None:
        containers = [s for s in g.slots if isinstance(s.type, ir.Array | ir.ObjectRef | ir.Map)]
        slot = self._pick(containers)
        return None if slot is None else self._replace(g, slot.path, "abc")

    def map_limits(self, g: Generated) -> JSON | None:
        maps = [s for s in g.slots if isinstance(s.type, ir.Map) and s.limits != NO_LIMITS]
        slot = self._pick(maps)
        if slot is None:
            return None
        limits, values = slot.limits, slot.limits.values or NO_LIMITS
        current = dict(_get(g.document, slot.path))
        choice = self.rng.choice(["count", "key", "value"])
        if choice == "count" and limits.max_properties is not None:
            count = limits.max_properties + self.rng.choice([0, 1])
            current = {f"k{i}": next(iter(current.values()), "v") for i in range(count)}
        elif choice == "key" and limits.key_max_length is not None:
            current["k" * (limits.key_max_length + self.rng.choice([0, 1]))] = (
                "v" if values.max_length is not None else 0
            )
        elif values.max_length is not None:
            current["long"] = "v" * (values.max_length + self.rng.choice([0, 1]))
        elif values.bounds:
            bound, step = self.rng.choice(values.bounds)
            current["7"] = self.rng.choice([int(bound), int(bound + step), bound + 0.5 * step])
        else:
            return None
        return self._replace(g, slot.path, current)

    def empty_container(self, g: Generated) -> JSON | None:
        containers = [s for s in g.slots if isinstance(s.type, ir.Array | ir.ObjectRef | ir.Map)]
        slot = self._pick(containers)
        if slot is None:
            return None
        return self._replace(g, slot.path, [] if isinstance(slot.type, ir.Array) else {})

    def extra_key(self, g: Generated) -> JSON | None:
        """Unknown keys, at the root or in any object, and unvalidated SDK fields: ignored."""
        obj = self.rng.choice(g.objects)
        document = copy.deepcopy(g.document)
        target = _get(document, obj.path)
        unvalidated = [
            f.name for f in self.gen.root.fields if f.name not in self.gen.endpoint.validated
        ]
        names = ["x_unknown", "extra", "Role", "TYPE", "__proto__"]
        if not obj.path:
            names += unvalidated
        name = self.rng.choice([n for n in names if n not in obj.known])
        target[name] = self.rng.choice([None, 1, 1.5, "robot", [1, "x"], {"type": "video"}, True])
        return document

    def break_cross_field(self, g: Generated) -> JSON | None:
        """Send a cross-field rule's field without what it needs (partner absent, null or false)."""
        rules = self.gen.endpoint.cross_field
        if not rules:
            return None
        rule = self.rng.choice(rules)
        document = copy.deepcopy(g.document)
        if breaks(rule, document):
            return document
        if document.get(rule.field) is None or not breaks(
            rule, {**document, rule.requires_field: None}
        ):
            field_type = next(f.type for f in self.gen.fields if f.name == rule.field)
            value = self.gen.detached(field_type)
            for _ in range(8):
                if breaks(rule, {rule.field: value}):
                    break
                value = self.gen.detached(field_type)
            document[rule.field] = value
        partner: list[JSON] = [_MISSING, None] + ([False] if rule.when == "enabled" else [])
        choice = self.rng.choice(partner)
        if choice is _MISSING:
            document.pop(rule.requires_field, None)
        else:
            document[rule.requires_field] = choice
        return document

    def break_value_check(self, g: Generated) -> JSON | None:
        """Step past one later value check (a values or gateway stage bound), alone."""
        checks = self.gen.endpoint.value_checks
        if not checks:
            return None
        check = self.rng.choice(checks)
        document = copy.deepcopy(g.document)
        document[check.field] = _outside(check, self.rng)
        return document

    def break_several(self, g: Generated) -> JSON | None:
        """Two cross-field rules broken, often with a later value check too: the order decides."""
        first = self.break_cross_field(g)
        if first is None:
            return None
        document = self.break_cross_field(replace(g, document=first)) or first
        checks = self.gen.endpoint.value_checks
        if checks and self.rng.random() < 0.7:
            check = self.rng.choice(checks)
            document[check.field] = _outside(check, self.rng)
        return document


def _outside(check: ValueCheck, rng: random.Random) -> JSON:
    """A value the schema stage accepts but `check` refuses."""
    if check.value_maximum is not None or check.value_minimum is not None:
        bound = rng.choice([b for b in (check.value_minimum, check.value_maximum) if b is not None])
        return {
            "7": int(bound + (1 if bound == check.value_maximum else -1)) * rng.choice([1, 100])
        }
    if check.maximum is not None:
        return int(check.maximum) + rng.choice([1, 2, 7])
    assert check.minimum is not None
    return int(check.minimum) - 1


# ---- raw edge bodies -------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def raw_edges(
    valid: dict[str, JSON], int_field: str | None, float_field: str | None, string_field: str
) -> list[bytes]:
    """Bodies a JSON encoder would never produce: the decoder's corner of the space."""
    body = msgspec.json.encode(valid)
    inner = body[1:-1]
    first_key = next(iter(valid))
    first = msgspec.json.encode({first_key: valid[first_key]})[1:-1]
    key = msgspec.json.encode(first_key)
    edges = [
        b"",
        b"   ",
        b"{",
        b"}",
        b"not json",
        b"null",
        b"true",
        b"0",
        b"-1.5",
        b'"a string"',
        b"[]",
        b"[{}]",
        b"{}",
        b"{}{}",
        body + b" x",
        body + b"\n",
        b"\t\r\n " + body,
        body[:-1],
        body[:-1] + b",}",
        b"\xef\xbb\xbf" + body,
        body.replace(b"{", b"{ ", 1),
        b"{'model': 'm'}",
        b"{" + inner + b', "x": NaN}',
        b"{" + inner + b', "x": Infinity}',
        b"{" + inner + b', "x": 1e400}',
        b"{" + inner + b', "x": "\\ud800"}',
        b"{" + inner + b', "x": "\\ud83d\\ude00"}',
        b"{" + inner + b', "x": "\\u0000"}',
        b"{" + inner + b', "x": "\xff\xfe"}',
        b"{" + inner + b', "x": "\xed\xa0\x80"}',
        b"{" + inner + b", /* comment */}",
        b"{" + inner + b", " + msgspec.json.encode(string_field) + b': "ok\xff"}',
        b"{" + inner + b", " + msgspec.json.encode(string_field) + b': "\xc3\xa9t\xc3\xa9"}',
        # Nesting: the whole body, an unknown key, and as deep as most parsers allow.
        _nested(100_000),
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"{" + inner + b', "x": ' + _nested(5000) + b"}",
        b"{" + inner + b', "x": ' + _nested(200) + b"}",
        # Repeated keys: the last occurrence counts, whether the others are valid or not.
        b"{" + inner + b", " + first + b"}",
        b"{" + first + b", " + inner + b"}",
        b"{" + key + b": 12345, " + inner + b"}",
        b"{" + inner + b", " + key + b": 12345}",
        b"{" + key + b": null, " + key + b": [], " + inner + b"}",
    ]
    for field_name, spellings in (
        (int_field, [b"1e0", b"1E2", b"1.0", b"-0", b"-0.0", b"1.", b"01", b"+1", b"0x10"]),
        (float_field, [b"1e0", b"2E0", b"1.0", b"-0", b"0.5e-1", b"2.0000000000000001", b".5"]),
        (int_field, [b"1e400", b"-1e400", b"1" + b"0" * 400]),
        (float_field, [b"1e400", b"-1e400", b"1" + b"0" * 400, b"1e-400"]),
    ):
        if field_name is None:
            continue
        for spelling in spellings:
            name = msgspec.json.encode(field_name)
            edges.append(b"{" + inner + b", " + name + b": " + spelling + b"}")
    return edges


_USER = b'{"role": "user", "content": "hi"}'
CHAT_EDGES = [
    # Repeated keys inside messages: the last occurrence counts there too.
    b'{"model": "m", "messages": [{"role": "robot", "role": "user", "content": "hi"}]}',
    b'{"model": "m", "messages": [{"role": "user", "role": "robot", "content": "hi"}]}',
    b'{"model": "m", "messages": [{"role": "user", "role": "assistant", "content": "hi"}]}',
    b'{"model": "m", "messages": [{"role": "assistant", "role": "tool", "content": "hi"}]}',
    b'{"model": "m", "messages": [{"role": "user", "content": 5, "content": "hi"}]}',
    b'{"model": "m", "messages": [{"role": "user", "content": "hi", "content": 5}]}',
    b'{"model": "m", "messages": [' + _USER + b'], "n": 5, "n": 1}',
    b'{"model": "m", "messages": [' + _USER + b'], "n": 1, "n": 5}',
    b'{"model": "m", "messages": [' + _USER + b'], "metadata": {"a": 5, "a": "x"}}',
    b'{"model": "m", "messages": [' + _USER + b'], "metadata": {"a": "x", "a": 5}}',
    # Numbers beyond float64: infinity, fine where any JSON goes, refused for a number.
    b'{"model": "m", "messages": [' + _USER + b'], "response_format": {"type": "json_schema",'
    b' "json_schema": {"name": "n", "schema": {"maximum": 1e400}}}}',
    b'{"model": "m", "messages": [' + _USER + b'], "logit_bias": {"1": 1e400}}',
    b'{"model": "m", "messages": [' + _USER + b'], "x": {"y": [-1e400]}}',
    # Not UTF-8 deep inside, in a kept string and in a skipped one.
    b'{"model": "m", "messages": [{"role": "user", "content": "\xff"}]}',
    b'{"model": "m", "messages": [{"role": "user", "content": "hi", "x": "\xff"}]}',
    b'{"model": "m", "messages": [{"role": "user",'
    b' "content": [{"type": "text", "text": "\xc3"}]}]}',
]


# ---- running the cases -------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    endpoint: str
    kind: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """Both verdicts on one case, and what `gateway.validation.explain` says of its document."""

    case: Case
    ours: Problem | None  # the validator's refusal, None when it accepts
    verdict: Verdict  # the SDK oracle's: accepted, or the stage (and param) that refuses
    explained: Problem | None  # the validator's explanation of the decoded body
    decodes: bool = False  # whether the body is JSON at all (else `explained` is None)
    # Not UTF-8, but only in fields the gateway just forwards: the oracle's verdict
    # with those bytes read as a mark (None when a mark sits in a validated value).
    forwarded: Verdict | None = None

    @property
    def accepted(self) -> bool:
        return self.ours is None

    @property
    def oracle(self) -> bool:
        """Whether the SDK oracle accepts."""
        return self.verdict.accepted

    @property
    def crashed(self) -> bool:
        return self.ours is not None and self.ours.message.startswith(CRASH)

    @property
    def agrees(self) -> bool:
        """Same verdict, refused by the same stage naming the same param after the schema stage.

        Or, for bytes that are not UTF-8 in fields the gateway only forwards
        (where it never reads), the verdict on the body with those bytes marked.
        """
        return _same(self.ours, self.verdict) or (
            self.forwarded is not None and _same(self.ours, self.forwarded)
        )


def _same(ours: Problem | None, verdict: Verdict) -> bool:
    if ours is None or verdict.accepted:
        return (ours is None) == verdict.accepted
    if ours.stage != verdict.stage:
        return False
    return verdict.stage == "schema" or ours.param == verdict.param


def _scalar_field(inputs: Inputs, endpoint: str, kind: ir.ScalarKind) -> str | None:
    root = inputs.surface.root(endpoint)
    validated = inputs.matrix.endpoint(endpoint).validated
    for f in root.fields:
        options = f.type.options if isinstance(f.type, ir.Union) else (f.type,)
        if f.name in validated and ir.Scalar(kind) in options:
            return f.name
    return None


def generate_cases(
    inputs: Inputs, endpoint_key: str, count: int, seed: int, model: str | None = None
) -> list[Case]:
    """Seeded cases; with `model`, generated bodies name that model (the edges' own stay)."""
    rng = random.Random(seed)
    endpoint = inputs.matrix.endpoint(endpoint_key)
    gen = BodyGenerator(inputs.surface, endpoint, rng, model)
    mutator = Mutator(gen, rng)
    valid = gen.body().document
    edges = raw_edges(
        valid,
        _scalar_field(inputs, endpoint_key, "integer"),
        _scalar_field(inputs, endpoint_key, "number"),
        "model",
    )
    if endpoint_key == "chat.completions":
        edges += CHAT_EDGES
    cases = [Case(endpoint_key, "raw_edge", body) for body in edges]
    while len(cases) < count:
        generated = gen.body()
        outcome: tuple[str, JSON] | None = ("valid", generated.document)
        if rng.random() < 0.75:
            outcome = mutator.mutate(generated)
            if outcome is not None and rng.random() < 0.15:
                second = mutator.mutate(replace(generated, document=outcome[1]))
                if second is not None:
                    outcome = (f"{outcome[0]}+{second[0]}", second[1])
        if outcome is None:
            continue
        kind, document = outcome
        if isinstance(document, dict) and rng.random() < 0.3:
            keys = list(document)
            rng.shuffle(keys)
            document = {k: document[k] for k in keys}
        cases.append(Case(endpoint_key, kind, msgspec.json.encode(document)))
    return cases


def run_case(case: Case, oracle: Oracle) -> Outcome:
    module = VALIDATORS[case.endpoint]
    try:
        ours = module.validator.problem(case.body)
    except Exception as error:  # the gateway would answer 500: a refusal, and a failure
        return Outcome(case, Problem(None, f"{CRASH} {error!r}"), oracle.verdict(case.body), None)
    verdict = oracle.verdict(case.body)
    try:
        document = _DOCUMENT.decode(case.body)
    except UnicodeDecodeError:
        forwarded = oracle.verdict_forwarded(case.body)
        return Outcome(case, ours, verdict, None, decodes=False, forwarded=forwarded)
    except (msgspec.DecodeError, RecursionError):
        return Outcome(case, ours, verdict, None, decodes=False)
    explained = module.validator.explain(document)
    return Outcome(case, ours, verdict, explained, decodes=True)


@dataclass(frozen=True)
class Run:
    outcomes: list[Outcome]
    seconds: float

    def by_endpoint(self, endpoint: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.endpoint == endpoint]


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return load_inputs()


@pytest.fixture(scope="module")
def oracles(inputs: Inputs) -> dict[str, Oracle]:
    return build_oracles(inputs.matrix)


@pytest.fixture(scope="module")
def run(inputs: Inputs, oracles: dict[str, Oracle]) -> Run:
    started = time.perf_counter()
    outcomes = [
        run_case(case, oracles[endpoint])
        for endpoint, count in CASES.items()
        for case in generate_cases(inputs, endpoint, count, SEEDS[endpoint])
    ]
    return Run(outcomes, time.perf_counter() - started)


def _show(body: bytes, limit: int = 400) -> str:
    text = repr(body)
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]} ... {text[-limit // 2 :]} ({len(body)} bytes)"


def _verdict(problem: Problem | None) -> str:
    if problem is None:
        return "accept"
    return f"reject at {problem.stage} {problem.param!r}: {problem.message}"


def _oracle_verdict(verdict: Verdict) -> str:
    return "accept" if verdict.accepted else f"reject at {verdict.stage} {verdict.param!r}"


def _report(outcomes: list[Outcome], describe: Callable[[Outcome], str]) -> str:
    lines = [f"{len(outcomes)} cases, the first {min(10, len(outcomes))}:"]
    for o in outcomes[:10]:
        lines.append(f"  [{o.case.endpoint} / {o.case.kind}] {_show(o.case.body)}")
        lines.append(f"      {describe(o)}")
    return "\n".join(lines)


def _summary(outcomes: list[Outcome]) -> str:
    agree = sum(o.agrees for o in outcomes)
    accepted = sum(o.accepted for o in outcomes)
    later = Counter(
        o.verdict.stage for o in outcomes if not o.oracle and o.verdict.stage != "schema"
    )
    forwarded = sum(o.forwarded is not None and not _same(o.ours, o.verdict) for o in outcomes)
    stages = ", ".join(f"{stage}={count}" for stage, count in sorted(later.items()))
    return (
        f"{len(outcomes)} cases, {agree} agree, accepted={accepted}, "
        f"rejected={len(outcomes) - accepted} (after the schema stage: {stages or 'none'}; "
        f"of the agreeing, {forwarded} judged with non-UTF-8 bytes only in forwarded fields)"
    )


# ---- the tests ------------------------------------------------------------------


def test_validators_accept_and_reject_exactly_what_the_sdk_types_allow(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print()
        for endpoint in CASES:
            print(f"differential[{endpoint}]: {_summary(run.by_endpoint(endpoint))}")
        print(f"differential: {_summary(run.outcomes)} ({run.seconds:.1f} s)")
    disagreements = [o for o in run.outcomes if not o.agrees]
    assert not disagreements, "validator and SDK oracle disagree on " + _report(
        disagreements,
        lambda o: f"validator: {_verdict(o.ours)} | oracle: {_oracle_verdict(o.verdict)}",
    )


def test_case_counts_meet_the_required_minimums(run: Run) -> None:
    counts = Counter(o.case.endpoint for o in run.outcomes)
    assert counts == Counter(CASES)
    assert sum(counts.values()) >= 5000
    assert run.seconds < TIME_BUDGET_S


def test_every_refusal_is_explained_without_the_msgspec_fallback(run: Run) -> None:
    fallbacks = [
        o for o in run.outcomes if o.ours is not None and o.ours.message.startswith(FALLBACK_PREFIX)
    ]
    assert not fallbacks, "the error path missed what the fast path refused in " + _report(
        fallbacks, lambda o: f"validator: {_verdict(o.ours)}"
    )


def test_validator_answers_every_body_without_crashing(run: Run) -> None:
    crashed = [o for o in run.outcomes if o.crashed]
    assert not crashed, "the validator raised instead of answering 400 on " + _report(
        crashed, lambda o: f"validator: {_verdict(o.ours)}"
    )


def test_explanation_finds_a_problem_exactly_when_the_validator_refuses_json(run: Run) -> None:
    split = [o for o in run.outcomes if o.decodes and (o.explained is None) != o.accepted]
    assert not split, "fast path and gateway.explain disagree on " + _report(
        split, lambda o: f"fast path: {_verdict(o.ours)} | explain: {_verdict(o.explained)}"
    )


def test_generated_valid_bodies_are_valid_sdk_requests(run: Run) -> None:
    valid = [o for o in run.outcomes if o.case.kind == "valid"]
    refused = [o for o in valid if not o.oracle]
    assert len(valid) > 1000
    assert not refused, "the IR-driven generator made bodies the SDK types refuse: " + _report(
        refused, lambda o: "oracle: reject"
    )


def test_unknown_keys_anywhere_are_ignored(run: Run) -> None:
    extended = [o for o in run.outcomes if o.case.kind == "extra_key"]
    refused = [o for o in extended if not o.accepted or not o.oracle]
    assert len(extended) > 200
    assert not refused, "an unknown key changed the verdict: " + _report(
        refused, lambda o: f"validator: {_verdict(o.ours)} | oracle: {o.oracle}"
    )


def test_cases_cover_every_mutation_and_both_verdicts(run: Run) -> None:
    kinds = Counter(k for o in run.outcomes for k in o.case.kind.split("+"))
    missing = [k for k in Mutator.KINDS if kinds[k] < 20]
    assert not missing, f"mutations too rare: {missing}; counts {dict(kinds)}"
    for endpoint in CASES:
        outcomes = run.by_endpoint(endpoint)
        rejected = sum(not o.oracle for o in outcomes) / len(outcomes)
        assert 0.3 < rejected < 0.8, f"{endpoint}: {rejected:.0%} rejected"


def test_seeded_cases_break_several_rules_at_once_and_each_stage_refuses_some(
    run: Run, oracles: dict[str, Oracle]
) -> None:
    """Bodies that break a schema rule and later checks, or several later checks, are in the run."""
    several: Counter[str] = Counter()
    for o in run.by_endpoint("chat.completions"):
        if not o.decodes or not isinstance(document := _DOCUMENT.decode(o.case.body), dict):
            continue
        broken = oracles["chat.completions"].broken_later_checks(document)
        if len(broken) >= 2 or (broken and o.verdict.stage == "schema"):
            several[o.verdict.stage or "accepted"] += 1
    assert several["schema"] >= 50, several
    assert several["cross_field"] >= 50, several
    stages = Counter(o.verdict.stage for o in run.outcomes if not o.oracle)
    assert all(stages[s] >= 10 for s in ("schema", "cross_field", "values", "gateway")), stages


def _chat(**extra: JSON) -> bytes:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    return msgspec.json.encode(body)


RECORDED = [
    # (body, stage, param): api.openai.com's answers recorded in issue 7
    (_chat(top_logprobs=-1), "schema", "top_logprobs"),
    (_chat(top_logprobs=1000000000), "cross_field", "top_logprobs"),
    (_chat(stop=123, stream_options={"include_usage": True}), "schema", "stop"),
    (_chat(logit_bias={"12345": 10000}, stream_options={}), "cross_field", "stream_options"),
    (_chat(n=2, stream_options={"include_usage": True}), "cross_field", "stream_options"),
    (_chat(top_logprobs=2, stream_options={"include_usage": True}), "cross_field", "top_logprobs"),
    (_chat(logit_bias={"12345": 10000}), "values", "logit_bias"),
    (_chat(n=2), "gateway", "n"),
]


@pytest.mark.parametrize(("body", "stage", "param"), RECORDED)
def test_validator_and_oracle_name_the_recorded_answer(
    body: bytes, stage: str, param: str, oracles: dict[str, Oracle]
) -> None:
    ours = chat_completions.validator.problem(body)
    assert ours is not None and (ours.stage, ours.param) == (stage, param)
    verdict = oracles["chat.completions"].verdict(body)
    assert (verdict.stage, verdict.param if stage != "schema" else param) == (stage, param)


# ---- the oracle itself -------------------------------------------------------------


def test_oracle_requires_stream_true_for_the_streaming_variant_only(
    oracles: dict[str, Oracle],
) -> None:
    chat = oracles["chat.completions"]
    assert chat.accepts(_chat())
    assert chat.accepts(_chat(stream=True))
    assert chat.accepts(_chat(stream=False))
    assert chat.accepts(_chat(stream=None))
    assert not chat.accepts(_chat(stream="true"))


def test_oracle_literals_match_by_json_type_not_equality(oracles: dict[str, Oracle]) -> None:
    chat = oracles["chat.completions"]
    assert not chat.accepts(_chat(stream=0))
    assert not chat.accepts(_chat(stream=1))
    assert not chat.accepts(_chat(n=True))


def test_oracle_ignores_fields_the_matrix_does_not_validate(oracles: dict[str, Oracle]) -> None:
    chat = oracles["chat.completions"]
    assert chat.accepts(_chat(audio="not an object", modalities=7, x_unknown=None))
    assert not chat.accepts(_chat(temperature="0.5"))


def test_oracle_tells_bytes_that_are_not_utf8_in_forwarded_fields_from_validated_ones(
    oracles: dict[str, Oracle],
) -> None:
    chat = oracles["chat.completions"]
    user = b'{"role": "user", "content": "hi"}'
    forwarded = [
        b'{"model": "m", "messages": [' + user + b'], "x": "\xff"}',
        b'{"model": "m", "messages": [' + user + b'], "audio": {"\xff": 1}}',
        b'{"model": "m", "messages": [{"role": "user", "content": "hi", "x": "\xc3"}]}',
    ]
    read = [
        b'{"model": "m\xff", "messages": [' + user + b"]}",
        b'{"model": "m", "messages": [{"role": "user", "content": "\xff"}]}',
        b'{"model": "m", "messages": [' + user + b'], "metadata": {"\xff": "v"}}',
        b'{"model": "m", "messages": [' + user + b'], "response_format": {"type": "json_schema",'
        b' "json_schema": {"name": "n", "schema": {"x": "\xff"}}}}',
    ]
    for body in forwarded + read:
        assert not chat.accepts(body)
    assert all(chat.accepts_forwarded(body) for body in forwarded)
    assert not any(chat.accepts_forwarded(body) for body in read)


def test_oracle_applies_the_matrix_constraints(oracles: dict[str, Oracle]) -> None:
    chat, embed = oracles["chat.completions"], oracles["embeddings"]
    assert chat.accepts(_chat(temperature=2, top_p=0, logit_bias={"1": -100}))
    assert not chat.accepts(_chat(temperature=2.0000000000000004))
    assert not chat.accepts(_chat(logit_bias={"1": 101}))
    assert not chat.accepts(_chat(metadata={f"k{i}": "v" for i in range(17)}))
    assert not chat.accepts(_chat(metadata={"k" * 65: "v"}))
    assert not chat.accepts(_chat(metadata={"k": "v" * 513}))
    assert chat.accepts(_chat(stop=[]))  # the real API accepts it (recorded 200s)
    assert not chat.accepts(_chat(stop=["a"] * 5))
    assert chat.accepts(_chat(stop=""))
    assert not embed.accepts(b'{"model": "m", "input": []}')
    assert embed.accepts(b'{"model": "m", "input": [[]]}')
