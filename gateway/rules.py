"""The support matrix's run-time rules, enforced against the model catalog.

The rules themselves are declared in spec/support_matrix.yaml and emitted into
generated/routes.py as `Rule` values; this module only knows how to apply them
to a validated request (a generated msgspec Struct).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    content_part_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A top-level field of the forwarded body replaced by a rule (e.g. a fallback)."""

    field: str
    value: Any


def apply_rules(request: Any, model: Model, rules: tuple[Rule, ...]) -> list[Rewrite]:
    """Raise the first rule's 400, or return the rewrites the rules ask for."""
    rewrites: list[Rewrite] = []
    for rule in rules:
        if rule.requires in model.capabilities:
            continue
        if rule.content_part_types:
            _reject_content_parts(request, model, rule)
        elif rule.action == "reject":
            _reject_fields(request, model, rule)
        else:
            rewrites.extend(_fallbacks(request, rule))
    return rewrites


def _present(request: Any, field: str) -> Any:
    value = getattr(request, field, UNSET)
    return None if value is UNSET else value


def _reject_fields(request: Any, model: Model, rule: Rule) -> None:
    for field in rule.fields:
        if _present(request, field) is not None:
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


def _fallbacks(request: Any, rule: Rule) -> list[Rewrite]:
    rewrites = []
    for field in rule.fields:
        value = _present(request, field)
        if value is not None and _type_tag(value) == rule.when_type:
            rewrites.append(Rewrite(field, dict(rule.fallback or {})))
    return rewrites


def _type_tag(value: Any) -> Any:
    config = getattr(value, "__struct_config__", None)
    return config.tag if config is not None else None
