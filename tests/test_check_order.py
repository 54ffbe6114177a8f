"""The order of checks is a property: several broken fields, any key order, one answer.

From seeded valid bodies (the differential test's generators), each case breaks
two to four top-level fields at once, each in its own way: a schema-stage
mutation, a cross-field rule or a later value check. The expected error is
derived from the inputs alone, not from the validator: the first break by the
matrix's `check_order` stage, then within the schema stage by the SDK's field
order (a missing `model`, which has its own `missing_message`, first of all)
and within a later stage by the matrix's declaration order. The validator must
name exactly that break's error, whatever order the body's keys come in.

Each break is first judged alone (the base body plus that break only), which
gives the expected error's words; a break that alone is accepted or is refused
by another check than the one it was made for is dropped. So that breaks cannot
interact, each break also pins every field a cross-field rule ties to the
fields it changes, and two breaks in one case agree on every field both touch.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from test_differential import (  # tests/ is on sys.path, as for mypy
    BodyGenerator,
    Generated,
    Mutator,
)
from test_differential import _outside as outside_value_check

from gateway.validation.explain import Problem
from generated.validators import BY_ENDPOINT
from generator.matrix import CrossFieldRule, Endpoint, LaterCheck, Matrix, check_stage
from generator.regen import Inputs, load_inputs

CASES = {"chat.completions": 400, "completions": 200, "embeddings": 150}
SEEDS = {"chat.completions": 713, "completions": 714, "embeddings": 715}
KEY_ORDERS = 4  # each combined body is judged in this many random top-level key orders
LATER_ONLY = 0.4  # share of cases made of later-stage breaks only
BREAK_TRIES = 14  # candidate breaks drawn per base body
# Mutations that break nothing, or more than one field: not single breaks.
NOT_SINGLE = frozenset({"extra_key", "delete_optional", "break_several"})

JSON = Any
_DELETED = b"<deleted>"  # an edit that removes the field (no JSON encodes to this)


@dataclass(frozen=True)
class Break:
    """Top-level edits (field -> encoded new value, or _DELETED) and the error they cause alone."""

    edits: dict[str, bytes]
    problem: Problem
    rank: tuple[int, int]


@dataclass(frozen=True)
class Order:
    """Where a problem ranks, from the matrix and the SDK surface only."""

    matrix: Matrix
    endpoint: Endpoint
    sdk_fields: tuple[str, ...]

    @property
    def later(self) -> tuple[LaterCheck, ...]:
        return self.matrix.later_checks(self.endpoint)

    def rank(self, problem: Problem, edits: dict[str, bytes]) -> tuple[int, int] | None:
        """(stage position, position in the stage) of a break's error; None if unattributable.

        `edits` are the fields the break changed (not those it only pins).
        """
        stage = self.matrix.stage_position(problem.stage)
        if problem.stage == "schema":
            changed = [f for f in edits if f in self.sdk_fields]
            return None if len(changed) != 1 else (stage, self.schema_position(changed[0], edits))
        field = (problem.param or "").split(".")[0].split("[")[0]
        for index, check in enumerate(self.later):
            if check_stage(check) == problem.stage and check.field == field:
                return stage, index
        return None

    def schema_position(self, field: str, edits: dict[str, bytes]) -> int:
        constraints = self.endpoint.validated.get(field)
        if edits[field] == _DELETED and constraints and constraints.missing_message:
            return -1  # "A missing model comes first of all" (check_order)
        return self.sdk_fields.index(field)


def encode(value: JSON) -> bytes:
    return msgspec.json.encode(value)


def apply(base: dict[str, JSON], edits: dict[str, bytes]) -> dict[str, JSON]:
    document = dict(base)
    for field, value in edits.items():
        if value == _DELETED:
            document.pop(field, None)
        else:
            document[field] = msgspec.json.decode(value)
    return document


def diff(base: dict[str, JSON], mutated: dict[str, JSON]) -> dict[str, bytes]:
    """The top-level fields a mutation changed (a mutation may rebuild the whole document)."""
    edits = {
        k: encode(v) for k, v in mutated.items() if k not in base or encode(base[k]) != encode(v)
    }
    edits.update({k: _DELETED for k in base if k not in mutated})
    return edits


def tied(fields: set[str], rules: tuple[CrossFieldRule, ...]) -> set[str]:
    """`fields` and every field a cross-field rule ties to them, transitively."""
    closure = set(fields)
    while True:
        more = {
            name
            for rule in rules
            if {rule.field, rule.requires_field} & closure
            for name in (rule.field, rule.requires_field)
        }
        if more <= closure:
            return closure
        closure |= more


class Cases:
    """Seeded combined cases for one endpoint: a base body and its compatible breaks."""

    def __init__(self, inputs: Inputs, endpoint_key: str, seed: int) -> None:
        self.rng = random.Random(seed)
        self.endpoint = inputs.matrix.endpoint(endpoint_key)
        self.validator = BY_ENDPOINT[endpoint_key]
        self.gen = BodyGenerator(inputs.surface, self.endpoint, self.rng)
        self.mutator = Mutator(self.gen, self.rng)
        fields = tuple(f.name for f in inputs.surface.root(endpoint_key).fields)
        self.order = Order(inputs.matrix, self.endpoint, fields)
        named = [(check_stage(c), c.field) for c in self.order.later]
        assert len(set(named)) == len(named), f"a later error's check is ambiguous: {named}"

    def problem(self, document: dict[str, JSON]) -> Problem | None:
        return self.validator.problem(encode(document))

    def candidate(self, generated: Generated) -> dict[str, JSON] | None:
        """One mutated document: a schema or cross-field mutation, or a later value check."""
        checks = self.endpoint.value_checks
        if checks and self.rng.random() < 0.3:
            check = self.rng.choice(checks)
            return {**generated.document, check.field: outside_value_check(check, self.rng)}
        mutated = self.mutator.mutate(generated)
        if mutated is None or mutated[0] in NOT_SINGLE or not isinstance(mutated[1], dict):
            return None
        document: dict[str, JSON] = mutated[1]
        return document

    def single(self, base: dict[str, JSON], mutated: dict[str, JSON]) -> Break | None:
        changed = diff(base, mutated)
        if not changed:
            return None
        pinned = tied(set(changed), self.endpoint.cross_field)
        edits = {f: changed.get(f, encode(base[f]) if f in base else _DELETED) for f in pinned}
        problem = self.problem(apply(base, edits))
        if problem is None:
            return None
        rank = self.order.rank(problem, {f: v for f, v in edits.items() if f in changed})
        return None if rank is None else Break(edits, problem, rank)

    def breaks(self, generated: Generated) -> list[Break]:
        found = []
        for _ in range(BREAK_TRIES):
            mutated = self.candidate(generated)
            if mutated is not None and (one := self.single(generated.document, mutated)):
                found.append(one)
        return found

    def combine(self, breaks: list[Break]) -> list[Break]:
        """Two to four breaks that agree on every field they share (empty when too few).

        Schema breaks are the most common and win over every later one, so some
        cases leave them out: the later stages' order gets tested too.
        """
        if self.rng.random() < LATER_ONLY:
            breaks = [b for b in breaks if b.problem.stage != "schema"]
        self.rng.shuffle(breaks)
        chosen: list[Break] = []
        wanted = self.rng.randint(2, 4)
        for candidate in breaks:
            if len(chosen) == wanted:
                break
            if all(_agree(candidate, other) for other in chosen):
                chosen.append(candidate)
        return chosen if len(chosen) >= 2 else []

    def shuffled(self, document: dict[str, JSON]) -> bytes:
        keys = list(document)
        self.rng.shuffle(keys)
        return encode({k: document[k] for k in keys})


def _agree(a: Break, b: Break) -> bool:
    return all(a.edits[f] == b.edits[f] for f in a.edits.keys() & b.edits.keys())


@dataclass(frozen=True)
class Judged:
    """One combined case: its breaks, the expected error, and what each key order got."""

    breaks: list[Break]
    expected: Problem
    answers: list[Problem | None]
    body: bytes


def judge(cases: Cases, count: int) -> list[Judged]:
    judged: list[Judged] = []
    for _ in range(count * 20):  # bounded: most bases yield a case
        if len(judged) == count:
            break
        generated = cases.gen.body()
        if cases.problem(generated.document) is not None:
            continue  # the base must be valid for each break's error to be its own
        chosen = cases.combine(cases.breaks(generated))
        if not chosen:
            continue
        document = generated.document
        for one in chosen:
            document = apply(document, one.edits)
        expected = min(chosen, key=lambda b: b.rank).problem
        bodies = [cases.shuffled(document) for _ in range(KEY_ORDERS)]
        answers = [cases.validator.problem(body) for body in bodies]
        judged.append(Judged(chosen, expected, answers, bodies[0]))
    return judged


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return load_inputs()


@pytest.fixture(scope="module")
def judged(inputs: Inputs) -> dict[str, list[Judged]]:
    return {key: judge(Cases(inputs, key, SEEDS[key]), count) for key, count in CASES.items()}


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_first_error_follows_stage_then_field_order_whatever_the_key_order(
    endpoint: str, judged: dict[str, list[Judged]]
) -> None:
    wrong = [j for j in judged[endpoint] if any(a != j.expected for a in j.answers)]
    shown = [
        (j.body[:300], j.expected, sorted(set(map(repr, j.answers))), [b.problem for b in j.breaks])
        for j in wrong[:3]
    ]
    assert not wrong, f"{len(wrong)} of {len(judged[endpoint])} cases:\n{shown}"


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_cases_are_many_mix_stages_and_let_every_stage_win_some(
    endpoint: str, judged: dict[str, list[Judged]], inputs: Inputs
) -> None:
    """The property is only as strong as its cases: enough, across stages and within one."""
    cases = judged[endpoint]
    assert len(cases) == CASES[endpoint]
    matrix = inputs.matrix
    later = {check_stage(c) for c in matrix.later_checks(matrix.endpoint(endpoint))}
    mixed = sum(len({b.problem.stage for b in j.breaks}) > 1 for j in cases)
    same_stage = sum(len({b.problem.stage for b in j.breaks}) < len(j.breaks) for j in cases)
    assert mixed >= (len(cases) // 10 if later else 0), mixed
    assert same_stage >= len(cases) // 3, same_stage
    winners = Counter(j.expected.stage for j in cases)
    assert all(winners[stage] > 0 for stage in {"schema", *later}), winners
