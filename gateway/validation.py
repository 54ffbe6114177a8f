"""Run a generated validator: typed msgspec decode first, explanation on failure.

The typed decode accepts exactly what the schema accepts (the differential test
pins that), at about the cost of parsing. Only a refused body pays for the
untyped re-parse and the walk that words the first problem.

Where JSON leaves room, the body means what its decoded document says: of a
repeated key the last occurrence counts, as in the body forwarded to the
engine (the typed decode checks every occurrence, so such a body is accepted
on the slow path); a number beyond float64 is infinity, fine where any JSON
is allowed and out of range where a number is wanted. Bytes that are not
UTF-8 are refused in every value the validator reads; in unknown and
unvalidated fields, which are only forwarded, they are not looked for
(checking the whole body would cost more than half the decode again).
"""

from __future__ import annotations

import operator
from typing import Any, Generic, TypeVar

import msgspec
from msgspec import UNSET

from gateway import wording
from gateway.anchors import param_anchor
from gateway.checks import Check, first_problem
from gateway.errors import RequestValidationError
from gateway.explain import Problem, check, explain
from gateway.schema import Node, Object

T = TypeVar("T")

_untyped = msgspec.json.Decoder(float_hook=float)


class Validator(Generic[T]):
    """Validates one endpoint's request body; `validate` returns the typed request."""

    def __init__(
        self,
        endpoint: str,
        request_type: type[T],
        schema: Object,
        residual: tuple[tuple[str, Node], ...] = (),
        checks: tuple[Check, ...] = (),
    ) -> None:
        self.endpoint = endpoint
        self.schema = schema
        self.checks = checks
        self._type = request_type
        self._decoder = msgspec.json.Decoder(request_type, float_hook=float)
        # Fields whose SDK type msgspec cannot express (several array kinds in
        # one union) are decoded as Any and checked here after the decode.
        self._residual = residual
        # The fields that can make a later check fail: most requests send none
        # of them, and one C-level attrgetter call says so.
        triggers = tuple(dict.fromkeys(c.field for c in checks))
        self._triggers = operator.attrgetter(*triggers) if len(triggers) > 1 else None
        self._trigger_count = len(triggers)

    def validate(self, body: bytes) -> T:
        """The typed request, or RequestValidationError with OpenAI's wording."""
        outcome = self._run(body)
        if isinstance(outcome, Problem):
            raise self._error(outcome)
        return outcome

    def problem(self, body: bytes) -> Problem | None:
        """The first problem of `body`, or None: `validate` without the exception."""
        outcome = self._run(body)
        return outcome if isinstance(outcome, Problem) else None

    def explain(self, document: Any) -> Problem | None:
        """The first problem of a decoded document, every stage in the matrix's order."""
        problem = explain(document, self.schema)
        if problem is not None or not isinstance(document, dict):
            return problem
        return first_problem(document.get, self.checks)

    def _run(self, body: bytes) -> T | Problem:
        """Schema stage (typed decode, else the explanation), then the later checks."""
        try:
            request = self._decoder.decode(body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as error:
            outcome = self._slow_path(body, error)
            if isinstance(outcome, Problem):
                return outcome
            request = outcome
        for name, node in self._residual:
            problem = check(getattr(request, name), node, name)
            if problem is not None:
                return problem
        if self.checks and self._sends_a_trigger(request):
            later = first_problem(lambda name: _sent(getattr(request, name)), self.checks)
            if later is not None:
                return later
        return request

    def _sends_a_trigger(self, request: T) -> bool:
        if self._triggers is None:
            return _sent(getattr(request, self.checks[0].field)) is not None
        values: tuple[Any, ...] = self._triggers(request)
        return values.count(UNSET) + values.count(None) < self._trigger_count

    def _slow_path(self, body: bytes, error: Exception) -> T | Problem:
        """The first schema-stage problem of a refused body, or its decoded document.

        A document with no problem was refused for an earlier occurrence of a
        repeated key; the last occurrence is what counts and what is forwarded.
        """
        try:
            document: Any = _untyped.decode(body)
        except RecursionError:
            return Problem(None, wording.TOO_DEEP)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return Problem(None, wording.PARSE_ERROR)
        problem = explain(document, self.schema)
        if problem is not None:
            return problem
        try:
            return msgspec.convert(document, self._type)
        except msgspec.ValidationError:
            return _from_msgspec(error)

    def _error(self, problem: Problem) -> RequestValidationError:
        anchor = problem.anchor or param_anchor(self.endpoint, problem.param)
        return RequestValidationError(problem.param, problem.message, anchor)


def _sent(value: Any) -> Any:
    """A typed request's field as the checks read it: None when absent or null."""
    return None if value is UNSET else value


def _from_msgspec(error: Exception) -> Problem:
    """Last resort, should the explanation ever miss what msgspec refused."""
    text = str(error)
    message, _, where = text.partition(" - at `$")
    param = where.rstrip("`").lstrip(".") or None
    return Problem(param, f"Invalid request: {message}.")
