"""The SDK-bump review: what changed in the request surface, worded for a PR description.

Compares two surface documents (the shape `surface_dump.surface_document`
writes to generated/sdk_surface.json): the committed one, audited for the
pinned SDK, and the one of the SDK installed now. Every change is classified
by the support matrix: a top-level field is `validated` when the matrix names
it under `validated:`, otherwise it is forwarded to the engine unvalidated; a
nested object's field is reported with the endpoints and top-level fields
through which it is reachable, and whether those are validated.

The installed surface is read without the matrix crosscheck on purpose: a bump
that removes a field the matrix names would stop `load_inputs` before the
reviewer could see why; here it is reported as a change instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict, cast

from generator.errors import GeneratorError
from generator.matrix import Matrix, load_matrix
from generator.regen import GENERATED, MATRIX, endpoint_sources, installed_sdk_version
from generator.sdk_reader import module_qualified, read_surface
from generator.surface_dump import surface_document

COMMITTED = GENERATED / "sdk_surface.json"


class FieldDoc(TypedDict):
    type: str
    required: bool
    nullable: bool
    sdk_path: str
    annotation: str


class ObjectDoc(TypedDict):
    sdk_path: str
    fields: dict[str, FieldDoc]


class EndpointDoc(TypedDict):
    method: str
    path: str
    request: str
    sdk_classes: list[str]
    validated: list[str]
    forwarded_unvalidated: list[str]


class SurfaceDoc(TypedDict):
    sdk: str
    endpoints: dict[str, EndpointDoc]
    objects: dict[str, ObjectDoc]


ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class MatrixView:
    """What the diff needs from the matrix, per endpoint key."""

    validated: Mapping[str, frozenset[str]]
    named: Mapping[str, frozenset[str]]  # validated, in a row, or in a rule

    @classmethod
    def of(cls, matrix: Matrix) -> MatrixView:
        validated = {e.key: frozenset(e.validated) for e in matrix.request_endpoints}
        named = {
            e.key: set(e.validated) | {f for r in e.rows for f in r.fields}
            for e in matrix.request_endpoints
        }
        for rule in matrix.rules:
            named.setdefault(rule.endpoint, set()).update(rule.fields)
        return cls(validated, {key: frozenset(fields) for key, fields in named.items()})

    def is_validated(self, endpoint: str, field: str) -> bool:
        return field in self.validated.get(endpoint, frozenset())

    def names(self, endpoint: str, field: str) -> bool:
        return field in self.named.get(endpoint, frozenset())


@dataclass(frozen=True)
class FieldChange:
    """One field of one object, added, removed, or changed in type/requiredness/nullability."""

    object: str
    field: str
    kind: ChangeKind
    old: FieldDoc | None
    new: FieldDoc | None

    @property
    def aspects(self) -> tuple[str, ...]:
        """For a change: which of `type`, `required`, `nullable` differ."""
        if self.old is None or self.new is None:
            return ()
        found = []
        if _non_null(self.old["type"]) != _non_null(self.new["type"]):
            found.append("type")
        if self.old["required"] != self.new["required"]:
            found.append("required")
        if self.old["nullable"] != self.new["nullable"]:
            found.append("nullable")
        return tuple(found)


@dataclass(frozen=True)
class Reach:
    """An endpoint from which an object is reachable, and through which top-level fields."""

    endpoint: str
    validated_via: tuple[str, ...]
    forwarded_via: tuple[str, ...]

    @property
    def validated(self) -> bool:
        return bool(self.validated_via)


@dataclass(frozen=True)
class TopLevelChange:
    endpoint: str
    change: FieldChange
    validated: bool
    named_by_matrix: bool


@dataclass(frozen=True)
class NestedChange:
    change: FieldChange
    reach: tuple[Reach, ...]


@dataclass(frozen=True)
class ObjectChange:
    name: str
    kind: Literal["added", "removed", "renamed"]
    object: ObjectDoc
    reach: tuple[Reach, ...]
    old_name: str | None = None  # for `renamed`


@dataclass(frozen=True)
class SurfaceDiff:
    old_sdk: str
    new_sdk: str
    endpoints_added: tuple[str, ...]
    endpoints_removed: tuple[str, ...]
    top_level: tuple[TopLevelChange, ...]
    nested: tuple[NestedChange, ...]
    objects: tuple[ObjectChange, ...]

    @property
    def empty(self) -> bool:
        return not (
            self.endpoints_added
            or self.endpoints_removed
            or self.top_level
            or self.nested
            or self.objects
        )

    def unclassified(self, endpoint: str) -> tuple[str, ...]:
        """New top-level fields the matrix names nowhere: forwarded unvalidated by default."""
        return tuple(
            c.change.field
            for c in self.top_level
            if c.endpoint == endpoint and c.change.kind == "added" and not c.named_by_matrix
        )

    def change(self, obj: str, field: str) -> FieldChange | None:
        """The change to `obj.field`, top-level (obj = the endpoint's request) or nested."""
        every = [c.change for c in self.top_level] + [n.change for n in self.nested]
        return next((c for c in every if c.object == obj and c.field == field), None)


# --- loading -------------------------------------------------------------------------------


def load_document(path: Path) -> SurfaceDoc:
    try:
        document = cast(SurfaceDoc, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise GeneratorError(f"cannot read a surface document from {path}: {error}") from error
    return with_current_names(document)


def with_current_names(doc: SurfaceDoc) -> SurfaceDoc:
    """A surface written before objects bore the validators' class names, read with them.

    Such a surface spelt a class that shares its short name with another
    `chat.chat_completion_custom_tool_param.Custom`; the reader now writes
    `ChatCompletionCustomToolParamCustom`. Respelling the old names lets a
    surface committed then (a fixture, a branch's audit) compare with one
    written now without every such object showing up as renamed.
    """
    legacy = {name: module_qualified(name) for name in doc["objects"] if "." in name}
    return _renamed(doc, legacy)


def installed_document(matrix_path: Path = MATRIX) -> SurfaceDoc:
    """The surface of the openai SDK importable now, whatever its version (no crosscheck)."""
    matrix, _ = load_matrix(matrix_path)
    try:
        surface = read_surface(endpoint_sources(matrix), installed_sdk_version())
    except (ImportError, AttributeError) as error:
        raise GeneratorError(
            f"the installed openai SDK lacks a request class the matrix names ({error}); "
            f"update `request:` in {matrix_path}"
        ) from error
    return cast(SurfaceDoc, surface_document(surface, matrix))


# --- diffing -------------------------------------------------------------------------------


def diff_documents(old: SurfaceDoc, new: SurfaceDoc, matrix: MatrixView) -> SurfaceDiff:
    """Every change from `old` to `new`, sorted by endpoint, object and field name.

    An object whose SDK class got another name in `new` (two classes came to
    share a short name) is paired by its SDK path and reported as renamed; the
    old side's type texts are spelled with the new names so that only real
    changes remain.
    """
    renames = _renames(old, new)
    old = _renamed(old, renames)
    old_endpoints, new_endpoints = old["endpoints"], new["endpoints"]
    shared = sorted(old_endpoints.keys() & new_endpoints.keys())
    roots = {e["request"] for e in [*old_endpoints.values(), *new_endpoints.values()]}
    top_level = [
        TopLevelChange(
            endpoint=name,
            change=change,
            validated=matrix.is_validated(name, change.field),
            named_by_matrix=matrix.names(name, change.field),
        )
        for name in shared
        for change in _object_changes(
            new_endpoints[name]["request"],
            _fields(old, old_endpoints[name]["request"]),
            _fields(new, new_endpoints[name]["request"]),
        )
    ]
    new_reach, old_reach = _reachability(new, matrix), _reachability(old, matrix)
    nested = [
        NestedChange(change, new_reach.get(name, ()))
        for name in sorted((old["objects"].keys() & new["objects"].keys()) - roots)
        for change in _object_changes(
            name, old["objects"][name]["fields"], new["objects"][name]["fields"]
        )
    ]
    old_names = {new_name: old_name for old_name, new_name in renames.items()}
    objects = (
        [
            ObjectChange(name, "added", new["objects"][name], new_reach.get(name, ()))
            for name in sorted(new["objects"].keys() - old["objects"].keys() - roots)
        ]
        + [
            ObjectChange(name, "removed", old["objects"][name], old_reach.get(name, ()))
            for name in sorted(old["objects"].keys() - new["objects"].keys() - roots)
        ]
        + [
            ObjectChange(name, "renamed", new["objects"][name], new_reach.get(name, ()), old_name)
            for name, old_name in sorted(old_names.items())
        ]
    )
    return SurfaceDiff(
        old_sdk=old["sdk"],
        new_sdk=new["sdk"],
        endpoints_added=tuple(sorted(new_endpoints.keys() - old_endpoints.keys())),
        endpoints_removed=tuple(sorted(old_endpoints.keys() - new_endpoints.keys())),
        top_level=tuple(top_level),
        nested=tuple(nested),
        objects=tuple(sorted(objects, key=lambda o: (o.name, o.kind))),
    )


def _renames(old: SurfaceDoc, new: SurfaceDoc) -> dict[str, str]:
    """Old name -> new name, for the objects whose SDK class kept its path but not its name."""
    new_by_path = {obj["sdk_path"]: name for name, obj in new["objects"].items()}
    return {
        name: new_by_path[obj["sdk_path"]]
        for name, obj in old["objects"].items()
        if new_by_path.get(obj["sdk_path"], name) != name
    }


def _renamed(doc: SurfaceDoc, renames: Mapping[str, str]) -> SurfaceDoc:
    if not renames:
        return doc

    def field(f: FieldDoc) -> FieldDoc:
        return {**f, "type": _rename_text(f["type"], renames)}

    objects: dict[str, ObjectDoc] = {
        renames.get(name, name): {
            "sdk_path": obj["sdk_path"],
            "fields": {n: field(f) for n, f in obj["fields"].items()},
        }
        for name, obj in doc["objects"].items()
    }
    return {"sdk": doc["sdk"], "endpoints": doc["endpoints"], "objects": objects}


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_.]*')


def _rename_text(type_text: str, renames: Mapping[str, str]) -> str:
    return _TOKEN.sub(lambda m: renames.get(m.group(), m.group()), type_text)


def _fields(doc: SurfaceDoc, name: str) -> dict[str, FieldDoc]:
    obj = doc["objects"].get(name)
    return obj["fields"] if obj else {}


def _object_changes(
    obj: str, old: Mapping[str, FieldDoc], new: Mapping[str, FieldDoc]
) -> list[FieldChange]:
    changes = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is None:
            changes.append(FieldChange(obj, name, "added", None, after))
        elif after is None:
            changes.append(FieldChange(obj, name, "removed", before, None))
        else:
            change = FieldChange(obj, name, "changed", before, after)
            if change.aspects:
                changes.append(change)
    return changes


def _reachability(doc: SurfaceDoc, matrix: MatrixView) -> dict[str, tuple[Reach, ...]]:
    """Per object: the endpoints it is reachable from, through which top-level fields."""
    via: dict[str, dict[str, set[str]]] = {}
    for endpoint, meta in sorted(doc["endpoints"].items()):
        for top, field in sorted(_fields(doc, meta["request"]).items()):
            for obj in _reachable(doc, field["type"]):
                via.setdefault(obj, {}).setdefault(endpoint, set()).add(top)
    return {
        obj: tuple(
            Reach(
                endpoint,
                tuple(sorted(f for f in tops if matrix.is_validated(endpoint, f))),
                tuple(sorted(f for f in tops if not matrix.is_validated(endpoint, f))),
            )
            for endpoint, tops in sorted(per_endpoint.items())
        )
        for obj, per_endpoint in via.items()
    }


def _reachable(doc: SurfaceDoc, type_text: str) -> set[str]:
    seen: set[str] = set()
    queue = _object_names(type_text, doc["objects"])
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        for field in doc["objects"][name]["fields"].values():
            queue |= _object_names(field["type"], doc["objects"]) - seen
    return seen


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _object_names(type_text: str, objects: Mapping[str, ObjectDoc]) -> set[str]:
    """The object names a type text refers to (enum strings are skipped)."""
    bare = _JSON_STRING.sub(" ", type_text)
    return {name for name in _NAME.findall(bare) if name in objects}


def _options(type_text: str) -> list[str]:
    """The top-level alternatives of a type text: `array<a | b> | null` -> two options."""
    options, depth, start, in_string, escaped = [], 0, 0, False, False
    for index, char in enumerate(type_text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif depth == 0 and type_text.startswith(" | ", index):
            options.append(type_text[start:index])
            start = index + 3
    options.append(type_text[start:])
    return options


def _non_null(type_text: str) -> str:
    return " | ".join(o for o in _options(type_text) if o != "null")


# --- rendering -----------------------------------------------------------------------------


def render(diff: SurfaceDiff, *, old_label: str, new_label: str, matrix_label: str) -> str:
    """Markdown for a PR description; `no surface changes` when there is nothing to review."""
    versions = f"{diff.old_sdk} → {diff.new_sdk}"
    if diff.empty:
        return f"no surface changes ({versions})\n"
    lines = [
        f"## openai SDK request surface: {versions}",
        "",
        f"Base: {old_label} ({diff.old_sdk}). Compared: {new_label} ({diff.new_sdk}).",
        f"`validated` / `forwarded` as classified by {matrix_label}.",
    ]
    for name in diff.endpoints_added:
        lines += ["", f"- new endpoint `{name}`"]
    for name in diff.endpoints_removed:
        lines += ["", f"- removed endpoint `{name}`"]
    for endpoint in sorted({c.endpoint for c in diff.top_level}):
        lines += _endpoint_section(diff, endpoint, matrix_label)
    if diff.nested:
        lines += ["", "### Nested request objects", ""]
        for obj in sorted({n.change.object for n in diff.nested}):
            changes = [n for n in diff.nested if n.change.object == obj]
            lines.append(f"- `{obj}` — {_reach_text(changes[0].reach)}")
            lines += [f"  - {_change_text(n.change)}" for n in changes]
    if diff.objects:
        lines += ["", "### Objects", ""]
        for o in diff.objects:
            if o.kind == "renamed":
                lines.append(
                    f"- renamed object `{o.old_name}` → `{o.name}` ({o.object['sdk_path']}): "
                    "same SDK class, now sharing its short name; old types above use the new name"
                )
                continue
            lines.append(
                f"- {o.kind} object `{o.name}` ({o.object['sdk_path']}) — "
                f"{'was ' if o.kind == 'removed' else ''}{_reach_text(o.reach)}"
            )
            lines += [
                f"  - `{field}`: {_field_text(doc)}"
                for field, doc in sorted(o.object["fields"].items())
            ]
    return "\n".join(lines) + "\n"


def _endpoint_section(diff: SurfaceDiff, endpoint: str, matrix_label: str) -> list[str]:
    changes = [c for c in diff.top_level if c.endpoint == endpoint]
    lines = ["", f"### `{endpoint}`: top-level request fields", ""]
    for c in changes:
        status = "validated" if c.validated else "forwarded unvalidated"
        text = f"- {_change_text(c.change)} — {status}"
        if c.change.kind == "removed" and c.named_by_matrix:
            text += f"; {matrix_label} still names it, so regen stops until the matrix drops it"
        lines.append(text)
    unclassified = diff.unclassified(endpoint)
    if unclassified:
        lines += [
            "",
            f"New fields {matrix_label} does not classify: they are forwarded to the engine "
            "unvalidated by default. Decide for each whether to add it to `validated:` "
            "(and a row for the compatibility page):",
            "",
        ]
        lines += [f"- [ ] `{name}`" for name in unclassified]
    return lines


def _change_text(change: FieldChange) -> str:
    if change.kind == "added" and change.new is not None:
        return f"added `{change.field}`: {_field_text(change.new)}"
    if change.kind == "removed" and change.old is not None:
        return f"removed `{change.field}` (was {_field_text(change.old)})"
    assert change.old is not None and change.new is not None
    old, new = change.old, change.new
    parts = []
    if "type" in change.aspects:
        parts.append(f"type `{old['type']}` → `{new['type']}`{_option_delta(old, new)}")
    if "required" in change.aspects:
        parts.append(f"{_required(old)} → {_required(new)}")
    if "nullable" in change.aspects:
        parts.append("now nullable" if new["nullable"] else "no longer nullable")
        if "type" not in change.aspects:
            parts[-1] += f" (`{new['type']}`)"
    return f"changed `{change.field}`: " + "; ".join(parts)


def _field_text(doc: FieldDoc) -> str:
    nullable = ", nullable" if doc["nullable"] else ""
    return f"`{doc['type']}`, {_required(doc)}{nullable}"


def _required(doc: FieldDoc) -> str:
    return "required" if doc["required"] else "optional"


def _option_delta(old: FieldDoc, new: FieldDoc) -> str:
    before, after = _options(old["type"]), _options(new["type"])
    added = [o for o in after if o not in before]
    removed = [o for o in before if o not in after]
    if not set(before) & set(after):
        return ""
    parts = [
        f"{label} {', '.join(f'`{o}`' for o in opts)}"
        for label, opts in (("adds", added), ("drops", removed))
        if opts
    ]
    return f" ({'; '.join(parts)})" if parts else ""


def _reach_text(reach: Iterable[Reach]) -> str:
    texts = []
    for r in reach:
        via = [f"`{f}` (validated)" for f in r.validated_via]
        via += [f"`{f}` (forwarded)" for f in r.forwarded_via]
        texts.append(f"`{r.endpoint}` via {', '.join(via)}")
    return "reachable from " + "; ".join(texts) if texts else "reachable from no endpoint"


# --- the command ---------------------------------------------------------------------------


def surface_diff_report(
    *,
    base: Path = COMMITTED,
    against: Path | None = None,
    matrix_path: Path = MATRIX,
) -> str:
    """`python -m generator surface-diff`: the committed surface vs the installed SDK's."""
    matrix, _ = load_matrix(matrix_path)
    old = load_document(base)
    new = load_document(against) if against else installed_document(matrix_path)
    diff = diff_documents(old, new, MatrixView.of(matrix))
    return render(
        diff,
        old_label=_label(base),
        new_label=_label(against) if against else "the installed SDK",
        matrix_label=_label(matrix_path),
    )


def _label(path: Path) -> str:
    resolved = path.resolve()
    root = MATRIX.parent.parent
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)
