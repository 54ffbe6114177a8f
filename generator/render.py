"""Jinja rendering and formatting of generated files: deterministic bytes."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from generator.errors import GeneratorError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Python and Markdown, not HTML
    )
    env.filters["pyrepr"] = _pyrepr
    env.filters["pytuple"] = _pytuple
    return env


def _pyrepr(value: Any) -> str:
    """A Python literal for a template: pydantic/tuple values as plain literals."""
    if isinstance(value, tuple | list):
        return _pytuple(value)
    return repr(value)


def _pytuple(values: Any) -> str:
    items = [repr(v) for v in values]
    if not items:
        return "()"
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def format_python(source: str, filename: str) -> str:
    """`ruff format` then `ruff check --fix` the text, so generated code is lint-clean."""
    where = f"generated/{filename}"  # so pyproject's per-file settings for generated/ apply
    formatted = _ruff(["format", "--stdin-filename", where, "-"], source)
    return _ruff(["check", "--fix", "--quiet", "--stdin-filename", where, "-"], formatted)


def _ruff(arguments: list[str], source: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *arguments],  # the venv's ruff, activated or not
        input=source,
        capture_output=True,
        text=True,
        check=False,
        cwd=TEMPLATES.parent,
    )
    if result.returncode != 0:
        raise GeneratorError(
            f"ruff {arguments[0]} refused generated code:\n{result.stderr}{result.stdout}"
        )
    return result.stdout
