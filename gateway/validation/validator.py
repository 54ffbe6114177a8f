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

from gateway.anchors import param_anchor
from gateway.errors import RequestValidationError
from gateway.validation import wording
from gateway.validation.checks import Check, first_problem
from gateway.validation.explain import Problem, check, explain
from gateway.validation.schema import Node, Object

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
        # The fields that can make a later check fail (twice if one: attrgetter's tuple).
        triggers = tuple(dict.fromkeys(c.field for c in checks))
        names = triggers if len(triggers) > 1 else triggers * 2
        self._triggers = operator.attrgetter(*names) if triggers else None
        self._count = len(names)

    def validate(self, body: bytes) -> T:
        """The typed request, or RequestValidationError with OpenAI's wording.

        The schema stage is the typed decode (else the explanation of why not);
        the later checks then cost one C-level attrgetter call when the request
        sends none of their fields, as most requests do.
        """
        try:
            request = self._decoder.decode(body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as error:
            request = self._slow_path(body, error)
        for name, node in self._residual:
            value = getattr(request, name)
            problem = None if value is msgspec.UNSET else check(value, node, name)
            if problem is not None:
                raise self._error(problem)
        if self._triggers is not None and self._triggers(request).count(UNSET) < self._count:
            later = first_problem(lambda name: _sent(getattr(request, name)), self.checks)
            if later is not None:
                raise self._error(later)
        return request

    def problem(self, body: bytes) -> Problem | None:
        """The first problem of `body`, or None: `validate` without the exception."""
        try:
            self.validate(body)
        except RequestValidationError as error:
            problem: Problem = error.problem
            return problem
        return None

    def explain(self, document: Any) -> Problem | None:
        """The first problem of a decoded document, every stage in the matrix's order."""
        problem = explain(document, self.schema)
        if problem is not None or not isinstance(document, dict):
            return problem
        return first_problem(document.get, self.checks)

    def _slow_path(self, body: bytes, error: Exception) -> T:
        """Word the first schema-stage problem of a refused body, or accept its document.

        A document with no problem was refused for an earlier occurrence of a
        repeated key; the last occurrence is what counts and what is forwarded.
        """
        try:
            document: Any = _untyped.decode(body)
        except RecursionError:
            raise self._error(Problem(None, wording.TOO_DEEP)) from None
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise self._error(Problem(None, wording.PARSE_ERROR)) from None
        problem = explain(document, self.schema)
        if problem is not None:
            raise self._error(problem)
        try:
            return msgspec.convert(document, self._type)
        except msgspec.ValidationError:
            raise self._error(_from_msgspec(error)) from None

    def _error(self, problem: Problem) -> RequestValidationError:
        anchor = problem.anchor or param_anchor(self.endpoint, problem.param)
        refusal = RequestValidationError(problem.param, problem.message, anchor)
        refusal.problem = problem
        return refusal


def _sent(value: Any) -> Any:
    """A typed request's field as the checks read it: None when absent or null."""
    return None if value is UNSET else value


def _from_msgspec(error: Exception) -> Problem:
    """Last resort, should the explanation ever miss what msgspec refused."""
    text = str(error)
    message, _, where = text.partition(" - at `$")
    param = where.rstrip("`").lstrip(".") or None
    return Problem(param, f"Invalid request: {message}.")
