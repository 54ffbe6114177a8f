"""The deployed gateway must not need the generator's own dependencies at run time."""

from __future__ import annotations

import subprocess
import sys

GENERATOR_ONLY = ("openai", "jinja2", "libcst", "pydantic", "ruff", "generator")
RUNTIME_ENTRY_POINTS = (
    "gateway.app",
    "gateway.serve",
    "generated.routes",
    "gateway.reference_engine",
)


def test_gateway_and_generated_code_import_without_the_generator_dependencies() -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in GENERATOR_ONLY)
    imports = "; ".join(f"importlib.import_module({name!r})" for name in RUNTIME_ENTRY_POINTS)
    script = f"import importlib, sys; {blocked}; {imports}; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
