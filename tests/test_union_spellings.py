"""How the SDK spells a union does not change the IR, nor a byte of generated/.

openai 1.x declares `stop` as `Union[Optional[str], SequenceNotStr[str], None]`,
3.x as `Union[str, SequenceNotStr[str], None]`: one type. Each spelling below is
read by the real SDK reader from a module of TypedDicts written for the test.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from generator import ir
from generator.regen import Inputs, build, load_inputs
from generator.sdk_reader import EndpointSource, read_surface
from generator.surface_dump import type_text

SPELLINGS = {
    "OneX": "Union[Optional[str], SequenceNotStr[str], None]",
    "ThreeX": "Union[str, SequenceNotStr[str], None]",
    "OptionalOfUnion": "Optional[Union[str, SequenceNotStr[str]]]",
    "NoneFirst": "Union[None, str, SequenceNotStr[str]]",
    "PipeSyntax": "str | SequenceNotStr[str] | None",
    "NestedOptionals": "Union[Optional[str], Optional[SequenceNotStr[str]]]",
}
MODULE = "spellings_of_stop"


@pytest.fixture(scope="module")
def stop_types(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ir.TypeRef]:
    """The IR type of `stop` under each spelling, read by `read_surface`."""
    folder = tmp_path_factory.mktemp("sdk")
    write_module(folder / f"{MODULE}.py")
    sys.path.insert(0, str(folder))
    try:
        sources = tuple(
            EndpointSource(name, "POST", f"/{name}", MODULE, f"{name}Root", (name,))
            for name in SPELLINGS
        )
        surface = read_surface(sources, "0")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(MODULE, None)
    return {name: only_field(surface.root(name)).type for name in SPELLINGS}


def write_module(path: Path) -> None:
    classes = "".join(
        f"\n\nclass {name}(TypedDict, total=False):\n    stop: {spelling}\n"
        for name, spelling in SPELLINGS.items()
    )
    path.write_text(
        "from __future__ import annotations\n\n"
        "from typing import Optional, Union\n\n"
        "from typing_extensions import TypedDict\n\n"
        "from openai._types import SequenceNotStr\n" + classes,
        encoding="utf-8",
    )


def only_field(obj: ir.ObjectDef) -> ir.Field:
    [field] = obj.fields
    return field


def test_every_spelling_of_an_optional_string_or_array_gives_one_ir_type(
    stop_types: dict[str, ir.TypeRef],
) -> None:
    assert {type_text(t) for t in stop_types.values()} == {"string | array<string> | null"}
    assert len(set(stop_types.values())) == 1


def with_stop_type(inputs: Inputs, stop: ir.TypeRef) -> Inputs:
    """The pinned inputs with both endpoints' `stop` replaced by another spelling's type."""
    objects = dict(inputs.surface.objects)
    for endpoint in ("chat.completions", "completions"):
        root = inputs.surface.root(endpoint)
        fields = tuple(
            dataclasses.replace(f, type=stop) if f.name == "stop" else f for f in root.fields
        )
        objects[root.name] = dataclasses.replace(root, fields=fields)
    return dataclasses.replace(inputs, surface=dataclasses.replace(inputs.surface, objects=objects))


def test_the_1x_and_3x_spellings_of_stop_generate_identical_bytes(
    stop_types: dict[str, ir.TypeRef],
) -> None:
    pinned = load_inputs()
    one_x = build(with_stop_type(pinned, stop_types["OneX"]))
    three_x = build(with_stop_type(pinned, stop_types["ThreeX"]))
    assert one_x == three_x
    # ... and both are what the pinned SDK's own spelling gives today.
    assert one_x == build(pinned)
