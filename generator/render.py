"""Jinja rendering and formatting of generated files: deterministic bytes."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from generator.errors import GeneratorError
from generator.links import linked

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> jinja2.Environment:
    """The one environment of every template: HTML templates autoescaped, the rest verbatim."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    )
    env.filters["pyrepr"] = _pyrepr
    env.filters["pytuple"] = _pytuple
    env.filters["cell"] = cell
    env.filters["inline"] = inline_html
    env.filters["link"] = linked
    return env


_CODE_SPAN = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\((#[a-z0-9-]+|/docs/[a-z0-9-]+)\)")


def inline_html(text: str) -> Markup:
    """Page prose with `code` spans and [links](#anchor), as safe HTML."""
    html = str(escape(text))
    html = _CODE_SPAN.sub(r"<code>\1</code>", html)
    return Markup(_LINK.sub(r'<a href="\2">\1</a>', html))


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _pyrepr(value: Any) -> str:
    """Python source for a value: literals, and dataclasses as constructor calls.

    A dataclass is spelt `Name(field=…, …)` with the fields its repr shows and
    only those that differ from their defaults, so the generated code reads
    like the matrix entry it comes from. The caller imports `constructors(value)`.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        given = ", ".join(
            f"{f.name}={_pyrepr(getattr(value, f.name))}"
            for f in dataclasses.fields(value)
            if f.repr and getattr(value, f.name) != _default(f)
        )
        return f"{type(value).__name__}({given})"
    if isinstance(value, tuple | list):
        return _pytuple(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_pyrepr(k)}: {_pyrepr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def constructors(value: Any) -> set[str]:
    """The class names `_pyrepr(value)` calls: what the generated module must import."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = (getattr(value, f.name) for f in dataclasses.fields(value) if f.repr)
        return {type(value).__name__}.union(*(constructors(v) for v in inner))
    if isinstance(value, tuple | list):
        return set().union(*(constructors(v) for v in value))
    if isinstance(value, dict):
        return set().union(*(constructors(v) for v in value.values()))
    return set()


def _pytuple(values: Any) -> str:
    items = [_pyrepr(v) for v in values]
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
