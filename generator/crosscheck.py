"""Check the matrix against the SDK surface and the runtime's vocabulary.

Every field it names must exist in the SDK; every category and capability it
names must be one of the catalog's (`gateway.catalog`), whose `Literal`s are
the one vocabulary the matrix, the catalog files and the runtime share.
"""

from __future__ import annotations

import typing
from pathlib import Path

from gateway.catalog import Capability, Category
from gateway.limits.headers import FALLBACK_HEADERS
from gateway.validation.rules import FallBack
from generator import ir
from generator.errors import GeneratorError
from generator.matrix import CrossFieldRule, Matrix, ValueCheck, suggest
from generator.yaml_lines import Location, nearest_line


def crosscheck(matrix: Matrix, surface: ir.Surface, path: Path, lines: dict[Location, int]) -> None:
    """Stop regen at the first field name the SDK does not have, with a suggestion."""
    keys = [e.key for e in matrix.endpoints]
    for index, endpoint in enumerate(matrix.endpoints):
        if endpoint.request is None:
            continue
        known = [f.name for f in surface.root(endpoint.key).fields]
        where: Location = ("endpoints", index)
        for name in endpoint.validated:
            _require(name, known, path, lines, (*where, "validated", name), endpoint.key)
        validated = list(endpoint.validated)
        checks_by_kind: tuple[tuple[str, tuple[CrossFieldRule | ValueCheck, ...]], ...] = (
            ("cross_field", endpoint.cross_field),
            ("value_checks", endpoint.value_checks),
        )
        for kind, checks in checks_by_kind:
            for check_index, check in enumerate(checks):
                spot: Location = (*where, kind, check_index)
                _require(
                    check.field, validated, path, lines, spot, f"{endpoint.key}'s validated fields"
                )
                partner = getattr(check, "requires_field", None)
                if partner is not None:
                    _require(
                        partner, validated, path, lines, spot, f"{endpoint.key}'s validated fields"
                    )
        for row_index, row in enumerate(endpoint.rows):
            for field_index, name in enumerate(row.fields):
                spot = (*where, "rows", row_index, "fields", field_index)
                _require(name, known, path, lines, spot, endpoint.key)
    _check_categories(matrix, path, lines)
    capabilities = list(typing.get_args(Capability))
    for index, rule in enumerate(matrix.rules):
        endpoint_spot: Location = ("rules", index, "endpoint")
        _require(rule.endpoint, keys, path, lines, endpoint_spot, "the matrix's endpoints")
        requires_spot: Location = ("rules", index, "requires")
        _require(
            rule.requires, capabilities, path, lines, requires_spot, "the catalog's capabilities"
        )
        if isinstance(rule, FallBack) and rule.header is not None:  # browser code reads it
            header_spot: Location = ("rules", index, "header", "name")
            owner = "the fallback headers of gateway/limits/headers.py"
            _require(rule.header.name, list(FALLBACK_HEADERS), path, lines, header_spot, owner)
        root = surface.root(rule.endpoint)
        for field_index, name in enumerate(rule.fields):
            spot = ("rules", index, "fields", field_index)
            _require(name, [f.name for f in root.fields], path, lines, spot, rule.endpoint)


def _check_categories(matrix: Matrix, path: Path, lines: dict[Location, int]) -> None:
    """Every category of the catalog mapped, to endpoints that forward to a model."""
    known = list(typing.get_args(Category))
    served = [e.key for e in matrix.request_endpoints]
    for category, endpoint_keys in matrix.categories.items():
        _require(category, known, path, lines, ("categories", category), "the catalog's categories")
        for index, key in enumerate(endpoint_keys):
            spot: Location = ("categories", category, index)
            _require(key, served, path, lines, spot, "the endpoints that forward to a model")
    unmapped = [c for c in known if c not in matrix.categories]
    if unmapped:
        line = nearest_line(lines, ("categories",))
        raise GeneratorError(
            f"{path}:{line}: categories: {', '.join(unmapped)} of gateway/catalog.py not "
            "mapped (list a category with [] when no endpoint serves its models)"
        )


def _require(
    name: str, known: list[str], path: Path, lines: dict[Location, int], where: Location, owner: str
) -> None:
    if name not in known:
        line = nearest_line(lines, where)
        hint = suggest(name, known)
        raise GeneratorError(f"{path}:{line}: '{name}' is not a field of {owner}{hint}")
