"""Emit generated/routes.py: the Starlette routes of every endpoint in the matrix."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.validation.rules import Rule
from generator.emit_validators import module_name
from generator.matrix import Endpoint, Matrix
from generator.render import constructors


@dataclass(frozen=True)
class RouteGroup:
    key: str
    title: str
    method: str
    paths: tuple[str, ...]
    supported: bool
    notes: str
    kind: str  # "proxy" | "models" | "unsupported"
    module: str
    upstream_path: str
    rules_constant: str
    categories: tuple[str, ...]  # model categories the matrix maps to this endpoint
    response: str | None  # the rewrite of a forwarded endpoint's answers
    # Paths an unsupported endpoint shares with a served one (GET /v1/chat/completions,
    # the stored completions, beside POST): answered for its own method only there.
    shared_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    endpoint: str
    constant: str
    rules: tuple[Rule, ...]


def _kind(endpoint: Endpoint) -> str:
    if not endpoint.supported:
        return "unsupported"
    if endpoint.handler is not None:
        return endpoint.handler
    return "proxy"


def rules_constant(endpoint_key: str) -> str:
    return f"RULES_{module_name(endpoint_key).upper()}"


def route_groups(matrix: Matrix) -> tuple[RouteGroup, ...]:
    served = {p for e in matrix.endpoints if e.supported for p in e.paths}
    return tuple(
        RouteGroup(
            key=e.key,
            title=e.title,
            method=e.method,
            paths=e.paths,
            supported=e.supported,
            notes=" ".join(e.notes.split()),
            kind=_kind(e),
            module=module_name(e.key),
            upstream_path=e.paths[0].removeprefix("/v1"),
            rules_constant=rules_constant(e.key),
            categories=matrix.categories_served_on(e.key),
            response=e.response,
            shared_paths=() if e.supported else tuple(p for p in e.paths if p in served),
        )
        for e in matrix.endpoints
    )


def rule_sets(matrix: Matrix) -> tuple[RuleSet, ...]:
    return tuple(
        RuleSet(e.key, rules_constant(e.key), tuple(r for r in matrix.rules if r.endpoint == e.key))
        for e in matrix.request_endpoints
    )


def rule_imports(matrix: Matrix) -> tuple[str, ...]:
    """What generated/routes.py imports from gateway.validation.rules: the type and its kinds."""
    return tuple(sorted({"Rule"} | constructors(matrix.rules)))
