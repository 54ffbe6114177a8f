"""Check the matrix against the SDK surface: every field it names must exist."""

from __future__ import annotations

from pathlib import Path

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
    for index, rule in enumerate(matrix.rules):
        endpoint_spot: Location = ("rules", index, "endpoint")
        _require(rule.endpoint, keys, path, lines, endpoint_spot, "the matrix's endpoints")
        root = surface.root(rule.endpoint)
        for field_index, name in enumerate(rule.fields):
            spot = ("rules", index, "fields", field_index)
            _require(name, [f.name for f in root.fields], path, lines, spot, rule.endpoint)


def _require(
    name: str, known: list[str], path: Path, lines: dict[Location, int], where: Location, owner: str
) -> None:
    if name not in known:
        line = nearest_line(lines, where)
        hint = suggest(name, known)
        raise GeneratorError(f"{path}:{line}: '{name}' is not a field of {owner}{hint}")
