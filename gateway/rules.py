"""The support matrix's run-time rules, enforced against the model catalog.

The rules themselves are declared in spec/support_matrix.yaml and emitted into
generated/routes.py as `Rule` values; this module only knows how to apply them
to a validated request (a generated msgspec Struct).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import msgspec
from msgspec import UNSET

from gateway.anchors import field_anchor
from gateway.catalog import Model
from gateway.errors import ApiError


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    endpoint: str
    fields: tuple[str, ...]
    requires: str
    action: str  # "reject" | "fallback"
    when_type: str | None = None
    fallback: dict[str, str] | None = None
    header: tuple[str, str] | None = None  # (name, value) said on the answer of a fallback
    instruction: str | None = None  # a system message for the engine; {name}, {schema}
    content_part_types: tuple[str, ...] = ()
    except_values: tuple[str, ...] = ()  # field values a reject rule lets through


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


def apply_rules(request: Any, model: Model, rules: tuple[Rule, ...]) -> Applied:
    """Raise the first rule's 400, or return what the rules apply to the request."""
    applied = Applied()
    for rule in rules:
        if rule.requires in model.capabilities:
            continue
        if rule.content_part_types:
            _reject_content_parts(request, model, rule)
        elif rule.action == "reject":
            _reject_fields(request, model, rule)
        else:
            _fall_back(request, rule, applied)
    return applied


def _present(request: Any, field: str) -> Any:
    value = getattr(request, field, UNSET)
    return None if value is UNSET else value


def _reject_fields(request: Any, model: Model, rule: Rule) -> None:
    for field in rule.fields:
        value = _present(request, field)
        if value is not None and not (isinstance(value, str) and value in rule.except_values):
            raise ApiError(
                400,
                f"Model '{model.id}' does not support '{field}': it needs a model labeled "
                f"{rule.requires} in the catalog.",
                param=field,
                anchor=field_anchor(rule.endpoint, field),
            )


def _reject_content_parts(request: Any, model: Model, rule: Rule) -> None:
    for field in rule.fields:
        for index, message in enumerate(_present(request, field) or ()):
            content = getattr(message, "content", None)
            if not isinstance(content, list):
                continue
            for position, part in enumerate(content):
                kind = part.__struct_config__.tag
                if kind in rule.content_part_types:
                    raise ApiError(
                        400,
                        f"Invalid content part: model '{model.id}' does not accept '{kind}' "
                        f"content; it needs a model labeled {rule.requires} in the catalog.",
                        param=f"{field}[{index}].content[{position}]",
                        anchor=field_anchor(rule.endpoint, field),
                    )


def _fall_back(request: Any, rule: Rule, applied: Applied) -> None:
    for name in rule.fields:
        value = _present(request, name)
        if value is None or _type_tag(value) != rule.when_type:
            continue
        applied.rewrites.append(Rewrite(name, dict(rule.fallback or {})))
        if rule.header is not None:
            applied.headers[rule.header[0]] = rule.header[1]
        if rule.instruction is not None:
            applied.system_messages.append(_instruction(rule.instruction, value))


def _instruction(template: str, value: Any) -> str:
    """The rule's instruction with the dropped json_schema's name and schema filled in."""
    document = msgspec.to_builtins(value)
    inner = document.get(str(document.get("type")), {}) if isinstance(document, dict) else {}
    schema = msgspec.json.encode(inner.get("schema", {})).decode()
    return template.format(name=inner.get("name", ""), schema=schema)


def _type_tag(value: Any) -> Any:
    config = getattr(value, "__struct_config__", None)
    return config.tag if config is not None else None
