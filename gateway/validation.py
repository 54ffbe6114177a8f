"""Run a generated validator: typed msgspec decode first, explanation on failure.

The typed decode accepts exactly what the schema accepts (the differential test
pins that), at about the cost of parsing. Only a refused body pays for the
untyped re-parse and the walk that words the first problem.
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
        self._decoder = msgspec.json.Decoder(request_type)
        # Fields whose SDK type msgspec cannot express (several array kinds in
        # one union) are decoded as Any and checked here after the decode.
        self._residual = residual

    def validate(self, body: bytes) -> T:
        """The typed request, or RequestValidationError with OpenAI's wording."""
        try:
            request = self._decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as error:
            raise self._explained(body, error) from None
        for name, node in self._residual:
            problem = check(getattr(request, name), node, name)
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

    def _explained(self, body: bytes, error: Exception) -> RequestValidationError:
        try:
            document: Any = msgspec.json.decode(body)
        except RecursionError:
            return self._error(Problem(None, wording.TOO_DEEP))
        except msgspec.DecodeError:
            return self._error(Problem(None, wording.PARSE_ERROR))
        problem = explain(document, self.schema)
        return self._error(problem or _from_msgspec(error))

    def _error(self, problem: Problem) -> RequestValidationError:
        anchor = param_anchor(self.endpoint, problem.param)
        return RequestValidationError(problem.param, problem.message, anchor)


def _from_msgspec(error: Exception) -> Problem:
    """Last resort, should the explanation ever miss what msgspec refused."""
    text = str(error)
    message, _, where = text.partition(" - at `$")
    param = where.rstrip("`").lstrip(".") or None
    return Problem(param, f"Invalid request: {message}.")
