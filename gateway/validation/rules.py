"""The support matrix's run-time rules: one type per action, applied and described here.

The rules are declared in spec/support_matrix.yaml, validated into these
classes by the generator's matrix schema (pydantic validates stdlib
dataclasses; `__pydantic_config__` keeps unknown keys an error there), and
emitted into generated/routes.py as constructor calls. Each kind knows how it
applies to a validated request (a generated msgspec Struct) and how the
compatibility page words it, so the page cannot say one thing while the
runtime does another. This module must not import pydantic: the deployed
gateway does not have it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Literal

import msgspec
from msgspec import UNSET

from gateway.anchors import field_anchor
from gateway.catalog import Model
from gateway.errors import ApiError

# Read by pydantic when the generator validates the matrix into these classes.
_STRICT = {"extra": "forbid"}


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A top-level field of the forwarded body replaced by a rule (e.g. a fallback)."""

    field: str
    value: Any


@dataclass(slots=True)
class Applied:
    """What the rules did to one request: body rewrites, system messages, answer headers."""

    rewrites: list[Rewrite] = dataclass_field(default_factory=list)
    system_messages: list[str] = dataclass_field(default_factory=list)
    headers: dict[str, str] = dataclass_field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackHeader:
    """The response header a fallback says what it applied in."""

    __pydantic_config__ = _STRICT

    name: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule:
    """What every rule has: the fields it watches and the catalog label that lifts it."""

    __pydantic_config__ = _STRICT

    key: str
    endpoint: str
    fields: tuple[str, ...]
    requires: str  # a gateway.catalog Capability; regen checks it with file:line

    @property
    def _label(self) -> str:
        return f"`{self.requires}`"

    @property
    def _field_list(self) -> str:
        return ", ".join(f"`{f}`" for f in self.fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectFields(_Rule):
    """A 400 when one of `fields` is sent to a model without the label."""

    action: Literal["reject"] = dataclass_field(default="reject", repr=False)
    except_values: tuple[str, ...] = ()  # values that ask for none of it (tool_choice "none")

    def apply(self, request: Any, model: Model, applied: Applied) -> None:
        for field in self.fields:
            value = _present(request, field)
            if value is None or (isinstance(value, str) and value in self.except_values):
                continue
            raise ApiError(
                400,
                f"Model '{model.id}' does not support '{field}': it needs a model labeled "
                f"{self.requires} in the catalog.",
                param=field,
                anchor=field_anchor(self.endpoint, field),
            )

    def summary(self) -> str:
        return f"Needs a model labeled {self._label}"

    def description(self, where: str) -> str:
        text = (
            f"{where}: {self._field_list} need a model labeled {self._label} in the catalog; "
            "otherwise the request is answered 400 with `param` set to the field."
        )
        if self.except_values:
            allowed = ", ".join(f'`"{v}"`' for v in self.except_values)
            text += f" The value {allowed} asks for none of it and goes through on any model."
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectContentParts(_Rule):
    """A 400 when a message of `fields` holds a content part of one of the types."""

    action: Literal["reject_content_parts"] = dataclass_field(
        default="reject_content_parts", repr=False
    )
    content_part_types: tuple[str, ...]

    def apply(self, request: Any, model: Model, applied: Applied) -> None:
        for field in self.fields:
            for index, message in enumerate(_present(request, field) or ()):
                content = getattr(message, "content", None)
                if not isinstance(content, list):
                    continue
                for position, part in enumerate(content):
                    kind = part.__struct_config__.tag
                    if kind in self.content_part_types:
                        raise ApiError(
                            400,
                            f"Invalid content part: model '{model.id}' does not accept '{kind}' "
                            f"content; it needs a model labeled {self.requires} in the catalog.",
                            param=f"{field}[{index}].content[{position}]",
                            anchor=field_anchor(self.endpoint, field),
                        )

    @property
    def _types(self) -> str:
        return ", ".join(f"`{t}`" for t in self.content_part_types)

    def summary(self) -> str:
        return f"Content parts of type {self._types} need a model labeled {self._label}"

    def description(self, where: str) -> str:
        return (
            f"{where}: content parts of type {self._types} in {self._field_list} need a model "
            f"labeled {self._label} in the catalog; otherwise the request is answered 400 with "
            "`param` set to the content part, e.g. `messages[0].content[1]`."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FallBack(_Rule):
    """A field of type `when_type` replaced by `fallback` on a model without the label."""

    action: Literal["fallback"] = dataclass_field(default="fallback", repr=False)
    when_type: str
    fallback: dict[str, str]
    # Says what it applied on the answer, and may hand the engine what the dropped
    # feature carried as a system message (`{name}`, `{schema}` are the json_schema's).
    header: FallbackHeader | None = None
    instruction: str | None = None

    def apply(self, request: Any, model: Model, applied: Applied) -> None:
        for name in self.fields:
            value = _present(request, name)
            if value is None or _type_tag(value) != self.when_type:
                continue
            applied.rewrites.append(Rewrite(name, dict(self.fallback)))
            if self.header is not None:
                applied.headers[self.header.name] = self.header.value
            if self.instruction is not None:
                applied.system_messages.append(_instruction(self.instruction, value))

    def summary(self) -> str:
        return (
            f"Type `{self.when_type}` falls back to `{json.dumps(self.fallback)}` on models "
            f"not labeled {self._label}"
        )

    def description(self, where: str) -> str:
        text = (
            f"{where}: {self._field_list} of type `{self.when_type}` needs a model labeled "
            f"{self._label}; on other models it falls back to `{json.dumps(self.fallback)}` and "
            "the request goes through."
        )
        if self.header is not None:
            text += (
                f" The answer then carries the header `{self.header.name}: {self.header.value}`, "
                "so a client that parses the reply against its schema can tell why it may not fit."
            )
        if self.instruction is not None:
            text += (
                " So that JSON mode still has the shape to follow, the engine gets the schema "
                "as a system message put before your messages: "
                f'"{" ".join(self.instruction.split())}" (`{{name}}` and `{{schema}}` are the '
                "`json_schema`'s name and its schema as JSON)."
            )
        return text


# A matrix rule, tagged by its `action`.
Rule = RejectFields | RejectContentParts | FallBack
RULE_KINDS: tuple[type[Rule], ...] = (RejectFields, RejectContentParts, FallBack)


def apply_rules(request: Any, model: Model, rules: tuple[Rule, ...]) -> Applied:
    """Raise the first rule's 400, or return what the rules apply to the request."""
    applied = Applied()
    for rule in rules:
        if rule.requires not in model.capabilities:
            rule.apply(request, model, applied)
    return applied


def _present(request: Any, field: str) -> Any:
    value = getattr(request, field, UNSET)
    return None if value is UNSET else value


def _instruction(template: str, value: Any) -> str:
    """The rule's instruction with the dropped json_schema's name and schema filled in."""
    document = msgspec.to_builtins(value)
    inner = document.get(str(document.get("type")), {}) if isinstance(document, dict) else {}
    schema = msgspec.json.encode(inner.get("schema", {})).decode()
    return template.format(name=inner.get("name", ""), schema=schema)


def _type_tag(value: Any) -> Any:
    config = getattr(value, "__struct_config__", None)
    return config.tag if config is not None else None
