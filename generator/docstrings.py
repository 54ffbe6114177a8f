"""Attribute docstrings and annotation text of TypedDict fields, read with libcst.

Runtime type hints erase aliases (`ChatModel`, `Metadata`) and drop attribute
docstrings, so the source is the only place where a reviewer's words live.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import libcst as cst


@dataclass(frozen=True)
class FieldSource:
    annotation: str
    doc: str


@cache
def _parse(path: str) -> cst.Module:
    return cst.parse_module(Path(path).read_text(encoding="utf-8"))


def class_fields_source(cls: type) -> dict[str, FieldSource]:
    """Annotation text and docstring of each field declared in `cls` itself."""
    source_file = inspect.getsourcefile(cls)
    if source_file is None:
        return {}
    module = _parse(source_file)
    for statement in module.body:
        if isinstance(statement, cst.ClassDef) and statement.name.value == cls.__name__:
            return _fields_of(module, statement)
    return {}


def _fields_of(module: cst.Module, class_def: cst.ClassDef) -> dict[str, FieldSource]:
    body = [s for s in class_def.body.body if isinstance(s, cst.BaseStatement)]
    found: dict[str, FieldSource] = {}
    for index, statement in enumerate(body):
        assignment = _annotated_assignment(statement)
        if assignment is None or not isinstance(assignment.target, cst.Name):
            continue
        annotation = module.code_for_node(assignment.annotation.annotation)
        doc = _docstring_after(body, index)
        found[assignment.target.value] = FieldSource(annotation, doc)
    return found


def _annotated_assignment(statement: cst.BaseStatement) -> cst.AnnAssign | None:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        node = statement.body[0]
        if isinstance(node, cst.AnnAssign):
            return node
    return None


def _docstring_after(body: list[cst.BaseStatement], index: int) -> str:
    if index + 1 >= len(body):
        return ""
    following = body[index + 1]
    if isinstance(following, cst.SimpleStatementLine) and len(following.body) == 1:
        expr = following.body[0]
        if isinstance(expr, cst.Expr) and isinstance(expr.value, cst.SimpleString):
            value = expr.value.evaluated_value
            if isinstance(value, str):
                return inspect.cleandoc(value)
    return ""
