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

from typing import Any, Generic, TypeVar

import msgspec

from gateway import wording
from gateway.anchors import param_anchor
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
    ) -> None:
        self.endpoint = endpoint
        self.schema = schema
        self._type = request_type
        self._decoder = msgspec.json.Decoder(request_type, float_hook=float)
        # Fields whose SDK type msgspec cannot express (several array kinds in
        # one union) are decoded as Any and checked here after the decode.
        self._residual = residual

    def validate(self, body: bytes) -> T:
        """The typed request, or RequestValidationError with OpenAI's wording."""
        try:
            request = self._decoder.decode(body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as error:
            request = self._slow_path(body, error)
        for name, node in self._residual:
            value = getattr(request, name)
            problem = None if value is msgspec.UNSET else check(value, node, name)
            if problem is not None:
                raise self._error(problem)
        return request

    def problem(self, body: bytes) -> Problem | None:
        """The first problem of `body`, or None: `validate` without the exception."""
        try:
            self.validate(body)
        except RequestValidationError as error:
            return Problem(error.param, error.message)
        return None

    def _slow_path(self, body: bytes, error: Exception) -> T:
        """Word the first problem of a refused body, or accept its decoded document.

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
        anchor = param_anchor(self.endpoint, problem.param)
        return RequestValidationError(problem.param, problem.message, anchor)


def _from_msgspec(error: Exception) -> Problem:
    """Last resort, should the explanation ever miss what msgspec refused."""
    text = str(error)
    message, _, where = text.partition(" - at `$")
    param = where.rstrip("`").lstrip(".") or None
    return Problem(param, f"Invalid request: {message}.")
