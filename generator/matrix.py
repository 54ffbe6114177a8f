"""The support matrix: its schema, and loading it with file:line errors.

The schema is strict (unknown keys are errors) so that a typo stops regen
instead of silently meaning nothing.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict

from generator.errors import GeneratorError
from generator.yaml_lines import Location, load_with_lines, nearest_line


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SdkPin(_Strict):
    distribution: Literal["openai"]
    version: str


class RequestSource(_Strict):
    module: str
    classes: tuple[str, ...]
    name: str


class Constraints(_Strict):
    """What the SDK types do not carry: OpenAI's documented ranges and sizes."""

    minimum: float | None = None
    maximum: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    max_properties: int | None = None
    key_max_length: int | None = None
    value_max_length: int | None = None
    value_minimum: float | None = None
    value_maximum: float | None = None
    missing_message: str | None = None  # the real API's words when it is missing
    why: str | None = None


Status = Literal["Yes", "No", "Partial"]
# A cross-reference in page text: the phrase as written -> the anchor of this page
# it leads to (or a docs page the gateway serves, like /docs/catalog). Regen stops
# on a phrase the text does not hold or a target that does not exist.
Links = dict[str, str]


class Row(_Strict):
    """One line of a table on the page: a group of fields and what we say of them."""

    fields: tuple[str, ...]
    label: str | None = None
    supported: Status
    notes: str = "—"
    links: Links = {}

    @property
    def title(self) -> str:
        return self.label or ", ".join(self.fields)


class Endpoint(_Strict):
    key: str
    label: str | None = None
    method: Literal["GET", "POST"]
    paths: tuple[str, ...]
    supported: bool
    notes: str
    request: RequestSource | None = None
    handler: Literal["models"] | None = None  # a run-time handler other than forwarding
    validated: dict[str, Constraints] = {}
    rows: tuple[Row, ...] = ()
    links: Links = {}  # cross-references in `notes`

    @property
    def title(self) -> str:
        return self.label or f"{self.method} {', '.join(self.paths)}"


class Rule(_Strict):
    key: str
    endpoint: str
    fields: tuple[str, ...]
    requires: str
    action: Literal["reject", "fallback"]
    when_type: str | None = None
    fallback: dict[str, str] | None = None
    content_part_types: tuple[str, ...] = ()


class ErrorsText(_Strict):
    summary: str
    validation: str
    doc_url: str


class Page(_Strict):
    title: str
    promise: str


class Prose(_Strict):
    """A paragraph or bullet of page text with its cross-references."""

    text: str
    links: Links = {}


class Section(_Strict):
    """A section of the page written in the matrix: prose, and an example file to show."""

    title: str
    paragraphs: tuple[Prose, ...]
    example: str | None = None  # a Python file, relative to the matrix, shown and run by tests


class Matrix(_Strict):
    sdk: SdkPin
    page: Page
    endpoints: tuple[Endpoint, ...]
    rules: tuple[Rule, ...]
    response_fields: tuple[Row, ...]
    authentication: tuple[str | Prose, ...]
    errors: ErrorsText
    categories: dict[str, tuple[str, ...]]
    model_catalog: Section
    batching: Section

    def endpoint(self, key: str) -> Endpoint:
        return next(e for e in self.endpoints if e.key == key)

    def categories_served_on(self, endpoint_key: str) -> tuple[str, ...]:
        """The model categories whose models this endpoint serves, in the matrix's order."""
        return tuple(c for c, keys in self.categories.items() if endpoint_key in keys)

    def endpoint_titles_by_category(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Each category with the endpoints that serve it, as the page names them."""
        return tuple(
            (category, tuple(_request_title(self.endpoint(k)) for k in keys))
            for category, keys in self.categories.items()
        )

    @property
    def request_endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.request is not None)


def load_matrix(path: Path) -> tuple[Matrix, dict[Location, int]]:
    """Parse and schema-check the matrix; errors name the file, the line and a fix."""
    try:
        data, lines = load_with_lines(path)
    except ValueError as error:
        raise GeneratorError(str(error)) from error
    try:
        return Matrix.model_validate(data), lines
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        raise GeneratorError(_describe(path, lines, first)) from None


def _describe(path: Path, lines: dict[Location, int], problem: object) -> str:
    details = dict(problem)  # type: ignore[call-overload]  # pydantic's ErrorDetails
    where: Location = tuple(details["loc"])
    line = nearest_line(lines, where)
    dotted = ".".join(str(part) for part in where)
    message = f"{path}:{line}: {dotted}: {details['msg']}"
    if details["type"] == "extra_forbidden":
        message += suggest(str(where[-1]), _allowed_keys(where))
    return message


def _allowed_keys(where: Location) -> list[str]:
    """The keys the schema allows at the mapping that holds `where`."""
    model: type[BaseModel] = Matrix
    for part in where[:-1]:
        if not isinstance(part, str) or part not in model.model_fields:
            continue  # a list index or a free-form mapping key (a field name)
        nested = _model_in(model.model_fields[part].annotation)
        if nested is None:
            return []
        model = nested
    return sorted(model.model_fields)


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def suggest(word: str, choices: list[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or nothing."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _request_title(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.paths[0]}"
