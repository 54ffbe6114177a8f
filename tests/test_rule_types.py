"""One `Rule` type per action, shared by the matrix, the generated routes and the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_generator import write_matrix  # tests/ is on sys.path, as for mypy

from gateway.validation.rules import FallBack, RejectContentParts, RejectFields
from generated import routes
from generator.emit_routes import rule_sets
from generator.errors import GeneratorError
from generator.matrix import load_matrix
from generator.regen import MATRIX, load_inputs


def test_generated_routes_hold_the_very_rules_the_matrix_declares() -> None:
    matrix, _ = load_matrix(MATRIX)
    for rule_set in rule_sets(matrix):
        assert getattr(routes, rule_set.constant) == rule_set.rules
    kinds = [type(r) for r in matrix.rules]
    assert kinds == [RejectFields, FallBack, RejectContentParts]


@pytest.mark.parametrize(
    ("old", "new", "spot", "expected"),
    [
        (
            "    except_values: [none]",
            "    except_valuse: [none]",
            "rules.0.except_valuse",
            "did you mean 'except_values'?",
        ),
        (
            "    when_type: json_schema",
            "    when_typ: json_schema",
            "rules.1.when_typ",
            "did you mean 'when_type'?",
        ),
        (
            "    header: {name: x-gateway-fallback",
            "    header: {nmae: x-gateway-fallback",
            "rules.1.header.nmae",
            "did you mean 'name'?",
        ),
        (
            "    action: fallback",
            "    action: fallbak",
            "rules.1.action",
            "did you mean 'fallback'?",
        ),
    ],
    ids=["reject-key", "fallback-key", "nested-header-key", "action"],
)
def test_rule_typo_stops_regen_on_its_line_with_a_suggestion(
    tmp_path: Path, old: str, new: str, spot: str, expected: str
) -> None:
    path = write_matrix(tmp_path, old, new)
    typo_line = next(
        i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if new in line
    )
    with pytest.raises(GeneratorError) as failure:
        load_inputs(path)
    message = str(failure.value)
    assert message.startswith(f"{path}:{typo_line}: {spot}: "), message
    assert expected in message


def test_a_rule_of_one_kind_refuses_the_keys_of_another(tmp_path: Path) -> None:
    path = write_matrix(
        tmp_path, "    except_values: [none]", "    except_values: [none]\n    when_type: x"
    )
    with pytest.raises(GeneratorError, match=r"rules\.0\.when_type: Unexpected keyword"):
        load_inputs(path)
