"""The bump rehearsal's edits and report (the rehearsal itself is `make bump-rehearsal`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.bump_rehearsal import (
    Rehearsal,
    Step,
    last_line,
    render_report,
    set_matrix_version,
    set_pin,
)
from generator.errors import GeneratorError
from generator.matrix import load_matrix
from generator.regen import MATRIX, ROOT

OTHER = "99.0.0"  # a release that is not the pin, whatever the pin is


def test_set_pin_changes_only_the_openai_pin_of_pyproject() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    bumped = set_pin(text, OTHER)
    assert f'"openai=={OTHER}"' in bumped
    changed = [
        (old, new)
        for old, new in zip(text.splitlines(), bumped.splitlines(), strict=True)
        if old != new
    ]
    assert len(changed) == 1 and changed[0][0].strip().startswith('"openai==')


def test_set_pin_refuses_a_pyproject_without_exactly_one_openai_pin() -> None:
    with pytest.raises(GeneratorError, match="pin openai exactly once"):
        set_pin('dependencies = ["httpx==0.28.1"]\n', "3.57.0")


def test_set_matrix_version_sets_sdk_version_and_keeps_every_other_byte(tmp_path: Path) -> None:
    text = MATRIX.read_text(encoding="utf-8")
    bumped = set_matrix_version(text, OTHER)
    path = tmp_path / "support_matrix.yaml"
    path.write_text(bumped, encoding="utf-8")
    assert load_matrix(path)[0].sdk.version == OTHER
    assert len(bumped.splitlines()) == len(text.splitlines())
    assert sum(a != b for a, b in zip(text.splitlines(), bumped.splitlines(), strict=True)) == 1


def test_set_matrix_version_ignores_a_version_key_outside_the_sdk_block() -> None:
    text = 'page:\n  version: "9"\nsdk:\n  distribution: openai\n  version: "1.0.0"\n'
    assert set_matrix_version(text, "2.0.0") == (
        'page:\n  version: "9"\nsdk:\n  distribution: openai\n  version: "2.0.0"\n'
    )
    with pytest.raises(GeneratorError, match="no `sdk:` block"):
        set_matrix_version('page:\n  version: "9"\n', "2.0.0")


def rehearsal(*outcomes: str) -> Rehearsal:
    steps = [Step(f"step{i}", f"make step{i}", o, 3.0, f"out {i}") for i, o in enumerate(outcomes)]
    return Rehearsal("3.57.0", "1.109.1", "0123456789abcdef", Path("/tmp/x"), steps, "diff", "stat")


def test_report_is_green_only_when_every_step_passed_and_shows_a_failure_s_output() -> None:
    passed = rehearsal("passed", "passed")
    passed.tree_untouched = True
    text = render_report(passed)
    assert "Result: **green**. Working tree untouched." in text
    assert "| step1 | `make step1` | passed | 3 s | out 1 |" in text
    assert "diff" in text and "stat" in text

    failed = render_report(rehearsal("passed", "failed", "skipped"))
    assert (
        "Result: **NOT green**" in failed
        and "Working tree CHANGED while the rehearsal ran" in failed
    )
    assert "## step1 failed (last lines)\n\n```\nout 1\n```" in failed
    assert "## step0 failed" not in failed


def test_last_line_is_the_step_s_summary_without_pytest_s_rules_or_table_breaking_pipes() -> None:
    pytest_output = "....\n===== 312 passed, 3 skipped in 63.10s (0:01:03) =====\n\n"
    assert last_line(pytest_output) == "312 passed, 3 skipped in 63.10s (0:01:03)"
    assert last_line("a | b\n") == "a \\| b"
    assert last_line("") == ""
