"""The deployed gateway must not need the generator's own dependencies at run time."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATOR_ONLY = ("openai", "jinja2", "libcst", "pydantic", "ruff", "generator")
RUNTIME_ENTRY_POINTS = (
    "gateway.app",
    "gateway.serve",
    "generated.routes",
    "reference_engine",
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


def test_the_deployed_runtime_never_imports_the_reference_engine() -> None:
    """The bundled engine is a development and test upstream; `make serve` runs it as a process."""
    blocked = "sys.modules['reference_engine'] = None"
    imports = "; ".join(f"importlib.import_module({name!r})" for name in RUNTIME_ENTRY_POINTS[:-1])
    script = f"import importlib, sys; {blocked}; {imports}; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_wheel_holds_the_runtime_and_not_the_reference_engine() -> None:
    with open(ROOT / "pyproject.toml", "rb") as file:
        include = tomllib.load(file)["tool"]["setuptools"]["packages"]["find"]["include"]
    # setuptools' find: every directory with an __init__.py, by dotted name, matched by fnmatch.
    found = [".".join(p.parent.relative_to(ROOT).parts) for p in ROOT.glob("*/**/__init__.py")]
    packages = [p for p in found if any(fnmatch.fnmatchcase(p, pattern) for pattern in include)]
    assert {"gateway", "gateway.http", "gateway.limits", "gateway.upstream"} <= set(packages)
    assert not [p for p in packages if p.startswith("reference_engine")]


def test_the_gateway_runs_without_aiohttp() -> None:
    """The engines' client is gateway.upstream.http1: aiohttp is a benchmark's dependency only."""
    script = (
        "import importlib, sys; sys.modules['aiohttp'] = None; "
        "importlib.import_module('gateway.app'); importlib.import_module('gateway.serve'); "
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
