"""One name per SDK object: the same in generated/sdk_surface.json, the validators and the page."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from types import ModuleType

import msgspec

from generated.validators import chat_completions, completions, embeddings
from generator.matrix import load_matrix
from generator.regen import GENERATED, MATRIX
from generator.surface_diff import MatrixView, diff_documents, load_document

SURFACE = GENERATED / "sdk_surface.json"


def structs(module: ModuleType) -> list[tuple[str, type]]:
    """The module's own msgspec Structs (not the imported base class)."""
    return [
        (name, value)
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, msgspec.Struct)
        and value is not msgspec.Struct
    ]


def test_every_validator_struct_bears_the_surface_name_of_its_sdk_class() -> None:
    objects = json.loads(SURFACE.read_text(encoding="utf-8"))["objects"]
    checked = 0
    for module in (chat_completions, completions, embeddings):
        for name, struct in structs(module):
            surface_name = name.removesuffix("Tagged")  # a union branch of the same object
            assert surface_name in objects, f"{module.__name__}.{name}"
            paths = objects[surface_name]["sdk_path"].split(" + ")
            assert all(path in (struct.__doc__ or "") for path in paths)
            checked += 1
    assert checked > 40
    assert not [name for name in objects if "." in name]


def test_a_surface_written_with_the_old_dotted_names_compares_as_unchanged(
    tmp_path: Path,
) -> None:
    """Committed surfaces (a fixture, another branch's audit) spelt clashing classes
    `chat.chat_completion_custom_tool_param.Custom`; reading one gives today's names."""
    text = SURFACE.read_text(encoding="utf-8")
    current = json.loads(text)
    respelt = {
        name: obj["sdk_path"].removeprefix("openai.types.")
        for name, obj in current["objects"].items()
        # the module-qualified ones (a merged request root names several classes)
        if " + " not in obj["sdk_path"] and not obj["sdk_path"].endswith(f".{name}")
    }
    assert "ChatCompletionCustomToolParamCustom" in respelt
    for new, old in respelt.items():
        text = text.replace(f'"{new}"', f'"{old}"').replace(f"<{new}>", f"<{old}>")
    legacy = tmp_path / "legacy_surface.json"
    legacy.write_text(text, encoding="utf-8")
    assert "chat.chat_completion_custom_tool_param.Custom" in legacy.read_text(encoding="utf-8")
    loaded = load_document(legacy)
    assert loaded == load_document(SURFACE)
    diff = diff_documents(loaded, load_document(SURFACE), MatrixView.of(load_matrix(MATRIX)[0]))
    assert diff.objects == () and diff.top_level == () and diff.nested == ()
