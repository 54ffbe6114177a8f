"""The checks that run after the schema stage, in the matrix's order of checks.

The real API does not check a body in one pass: after types and schema bounds
it applies cross-field rules (a field sent without the field it needs), then
some value bounds, and this gateway then adds its own limits (n > 1). The
rules and their order are declared in spec/support_matrix.yaml and emitted
into each generated validator as a `CHECKS` table of the values below; this
module only knows how to apply them.

They read a request through `lookup(name)`, which returns None for a field
that is absent or an explicit null (the SDK's reading: null is not sent), so
the same checks run on the typed request of the fast path and on the decoded
document of the error path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.validation import wording
from gateway.validation.explain import Problem

Lookup = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class CrossField:
    """`field` is allowed only when `requires_field` is enabled (JSON true) or sent."""

    key: str
    anchor: str
    field: str
    requires_field: str
    when: str  # "enabled" | "sent"
    message: str
    except_values: tuple[str, ...] = ()

    def problem(self, lookup: Lookup) -> Problem | None:
        value = lookup(self.field)
        if value is None or (isinstance(value, str) and value in self.except_values):
            return None
        partner = lookup(self.requires_field)
        satisfied = partner is True if self.when == "enabled" else partner is not None
        return None if satisfied else Problem(self.field, self.message, "cross_field", self.anchor)


@dataclass(frozen=True, slots=True)
class Bound:
    """A range checked after the schema stage: of the field, or of each value of a map."""

    key: str
    anchor: str
    stage: str  # "values" | "gateway"
    field: str
    minimum: float | None = None
    maximum: float | None = None
    value_minimum: float | None = None
    value_maximum: float | None = None
    message: str | None = None  # the real API's words, `{value}` printed as a decimal

    def problem(self, lookup: Lookup) -> Problem | None:
        value = lookup(self.field)
        if value is None:
            return None
        if isinstance(value, dict):
            return self._map(value)
        return self._number(self.field, value, self.minimum, self.maximum)

    def _map(self, values: dict[str, Any]) -> Problem | None:
        for key, item in values.items():
            problem = self._number(
                f"{self.field}.{key}", item, self.value_minimum, self.value_maximum
            )
            if problem is not None:
                return problem
        return None

    def _number(
        self, path: str, value: Any, low: float | None, high: float | None
    ) -> Problem | None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None  # the schema stage has already said what this is
        kind = "number" if isinstance(value, float) else "integer"
        default = wording.out_of_range(path, kind, value, low, high)
        if default is None:
            return None
        if self.message is not None:
            return Problem(
                self.field, self.message.format(value=float(value)), self.stage, self.anchor
            )
        return Problem(path, default, self.stage, self.anchor)


Check = CrossField | Bound


def first_problem(lookup: Lookup, checks: tuple[Check, ...]) -> Problem | None:
    """The first check (in the matrix's order) that `lookup`'s request fails."""
    for check in checks:
        problem = check.problem(lookup)
        if problem is not None:
            return problem
    return None
