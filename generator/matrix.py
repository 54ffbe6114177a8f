"""The support matrix: its schema, and loading it with file:line errors.

The schema is strict (unknown keys are errors) so that a typo stops regen
instead of silently meaning nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from pathlib import Path
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, model_validator

from gateway.http.responses import ResponseKind
from gateway.validation.rules import Rule
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
    size_message: str | None = None  # its words (param null) for an array length out of bounds
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


Stage = Literal["schema", "cross_field", "values", "gateway", "model"]
STAGES: tuple[Stage, ...] = ("schema", "cross_field", "values", "gateway", "model")


class CrossFieldRule(_Strict):
    """`field` may be sent only together with `requires_field` (the real API's words in `message`).

    `when: enabled` wants the partner to be JSON `true`; `when: sent` wants it
    sent and not null. An explicit null for `field` counts as not sent (the
    SDK's reading), and so do the values in `except_values`.
    """

    key: str
    field: str
    requires_field: str
    when: Literal["enabled", "sent"]
    message: str
    except_values: tuple[str, ...] = ()
    evidence: str


class ValueCheck(_Strict):
    """A bound checked after the schema stage, in the stage the real API checks it.

    `minimum`/`maximum` bound the field itself, `value_minimum`/`value_maximum`
    each value of a map; `message` (with `{value}`, printed as a decimal)
    replaces the range wording, and `param` is then the field itself.
    """

    key: str
    stage: Literal["values", "gateway"]
    field: str
    minimum: float | None = None
    maximum: float | None = None
    value_minimum: float | None = None
    value_maximum: float | None = None
    message: str | None = None
    why: str


LaterCheck = CrossFieldRule | ValueCheck


def check_stage(check: LaterCheck) -> str:
    return "cross_field" if isinstance(check, CrossFieldRule) else check.stage


class StageText(_Strict):
    """One stage of the order of checks, as the page explains it."""

    stage: Stage
    title: str
    text: str


class Endpoint(_Strict):
    key: str
    label: str | None = None
    method: Literal["GET", "POST", "DELETE"]
    paths: tuple[str, ...]
    supported: bool
    notes: str
    request: RequestSource | None = None
    handler: Literal["models"] | None = None  # a run-time handler other than forwarding
    response: ResponseKind | None = None  # how a forwarded endpoint's answers are rewritten
    validated: dict[str, Constraints] = {}
    cross_field: tuple[CrossFieldRule, ...] = ()
    value_checks: tuple[ValueCheck, ...] = ()
    rows: tuple[Row, ...] = ()
    links: Links = {}  # cross-references in `notes`

    @property
    def title(self) -> str:
        return self.label or f"{self.method} {', '.join(self.paths)}"

    @property
    def forwarded(self) -> bool:
        """Served by forwarding to an engine (not a run-time handler of its own)."""
        return self.supported and self.handler is None

    @model_validator(mode="after")
    def _response_iff_forwarded(self) -> Endpoint:
        if self.forwarded and self.response is None:
            raise ValueError(
                f"endpoint {self.key} is forwarded: say how its answers are rewritten "
                "with `response: completion` or `response: embeddings`"
            )
        if not self.forwarded and self.response is not None:
            raise ValueError(f"endpoint {self.key} is not forwarded: remove `response`")
        return self


# The rules are the runtime's own classes (gateway/validation/rules.py), validated as the
# tagged union on `action` they are, so the page and the gateway read one type.
RuleSpec = Annotated[Rule, pydantic.Field(discriminator="action")]


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


class UnlistedEndpoints(_Strict):
    """The answer for SDK paths no endpoint row lists (see `with_unlisted`)."""

    key: str
    notes: str


class Matrix(_Strict):
    sdk: SdkPin
    page: Page
    endpoints: tuple[Endpoint, ...]
    rules: tuple[RuleSpec, ...]
    response_fields: tuple[Row, ...]
    authentication: tuple[str | Prose, ...]
    errors: ErrorsText
    categories: dict[str, tuple[str, ...]]
    model_catalog: Section
    batching: Section
    check_order: tuple[StageText, ...]
    unlisted_endpoints: UnlistedEndpoints

    @model_validator(mode="after")
    def _every_stage_once_in_order(self) -> Matrix:
        """The schema stage is the typed decode and the model stage the handler: first and last."""
        stages = tuple(s.stage for s in self.check_order)
        if (
            sorted(stages, key=STAGES.index) != list(STAGES)
            or stages[0] != "schema"
            or stages[-1] != "model"
        ):
            raise ValueError(
                f"check_order must name each of {', '.join(STAGES)} once, schema first and "
                f"model last; got {', '.join(stages)}"
            )
        return self

    def stage_position(self, stage: str) -> int:
        return next(i for i, s in enumerate(self.check_order) if s.stage == stage)

    def later_checks(self, endpoint: Endpoint) -> tuple[LaterCheck, ...]:
        """An endpoint's checks after the schema stage, by stage, then as declared."""
        ranked: list[tuple[int, int, LaterCheck]] = [
            (self.stage_position("cross_field"), i, rule)
            for i, rule in enumerate(endpoint.cross_field)
        ]
        ranked += [
            (self.stage_position(c.stage), i, c) for i, c in enumerate(endpoint.value_checks)
        ]
        return tuple(check for _, _, check in sorted(ranked, key=lambda r: (r[0], r[1])))

    def with_unlisted(self, sdk_segments: tuple[str, ...]) -> Matrix:
        """This matrix plus one unsupported endpoint for the SDK's paths no row lists.

        `sdk_segments` are the first path segments (after /v1) the SDK calls; a
        segment is listed when some endpoint's path starts with it.
        """
        listed = {p.removeprefix("/v1/").split("/", 1)[0] for e in self.endpoints for p in e.paths}
        unlisted = tuple(f"/v1/{s}" for s in sdk_segments if s not in listed)
        if not unlisted:
            return self
        extra = Endpoint(
            key=self.unlisted_endpoints.key,
            label=f"Other OpenAI API paths: {', '.join(f'{p}, {p}/*' for p in unlisted)}",
            method="POST",
            paths=unlisted,
            supported=False,
            notes=self.unlisted_endpoints.notes,
        )
        return self.model_copy(update={"endpoints": (*self.endpoints, extra)})

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
        problems = error.errors()
        # A misspelt key is also a missing one: name the typo, it carries the suggestion.
        typos = [p for p in problems if p["type"] in _UNKNOWN_KEY]
        raise GeneratorError(_describe(path, lines, (typos or problems)[0])) from None


# How pydantic says "unknown key": on its models, and on the dataclasses of
# gateway/validation/rules.py.
_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


def _describe(path: Path, lines: dict[Location, int], problem: object) -> str:
    details = dict(problem)  # type: ignore[call-overload]  # pydantic's ErrorDetails
    where, allowed = _resolve(tuple(details["loc"]))
    context = details.get("ctx", {})
    if details["type"] == "union_tag_invalid":  # point at the tag, e.g. a misspelt `action`
        where += (context["discriminator"].strip("'"),)
    line = nearest_line(lines, where)
    dotted = ".".join(str(part) for part in where)
    message = f"{path}:{line}: {dotted}: {details['msg']}"
    if details["type"] in _UNKNOWN_KEY:
        message += suggest(str(where[-1]), allowed)
    elif details["type"] == "union_tag_invalid":
        message += suggest(context["tag"], re.findall(r"'([^']*)'", context["expected_tags"]))
    return message


def _resolve(loc: Location) -> tuple[Location, list[str]]:
    """`loc` without the union tags pydantic puts in it (`rules.0.reject.…`, a spot the
    file does not have), and the keys the schema allows at the mapping that holds it."""
    classes: list[type] = [Matrix]
    holder: list[type] = classes
    kept: list[str | int] = []
    for part in loc:
        if len(classes) > 1 and any(part in _tags(c) for c in classes):
            classes = [c for c in classes if part in _tags(c)]
            continue
        kept.append(part)
        holder = classes
        fields = _fields(classes[0]) if len(classes) == 1 else {}
        if isinstance(part, str) and part in fields:
            classes = _classes_in(fields[part])
        # else: a list index or a free-form mapping key (a field name): same schema
    allowed = sorted(_fields(holder[0])) if len(holder) == 1 else []
    return tuple(kept), allowed


def _fields(cls: type) -> dict[str, object]:
    """A schema class's keys and their annotations: a pydantic model or a dataclass."""
    if issubclass(cls, BaseModel):
        return {name: f.annotation for name, f in cls.model_fields.items()}
    if not dataclasses.is_dataclass(cls):
        return {}
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _tags(cls: type) -> set[object]:
    """The values of its single-valued `Literal` keys: how a tagged union picks it."""
    literals = (typing.get_args(t) for t in _fields(cls).values())
    return {args[0] for args in literals if len(args) == 1 and isinstance(args[0], str)}


def _classes_in(annotation: object) -> list[type]:
    if isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)
    ):
        return [annotation]
    return [c for arg in typing.get_args(annotation) for c in _classes_in(arg)]


def suggest(word: str, choices: list[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or nothing."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _request_title(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.paths[0]}"
