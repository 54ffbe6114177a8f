"""The SDK-bump review (`make surface-diff`) names what really changed between two SDKs.

The real cases review committed surfaces of real releases against each other, so
they hold whatever the pin is: openai 1.109.1 (the release the gateway was
authored against) -> 2.54.0 (the last 2.x) and -> 3.57.0 (the newest, which
needs httpx2). Each is tests/fixtures/sdk_surface_openai_X.json, made with
`python -m generator.surface_of --release X --out <fixture>` (it installs the
release, and what the venv lacks for it, into a scratch dir); set
BUMP_TEST_FROM_PYPI=1 to rebuild them from PyPI and check they are current.

What changed from 1.109.1, read from the SDKs' sources (openai/types/chat/...):
  2.54.0, completion_create_params.py: new `moderation`, `prompt_cache_options`,
  `prompt_cache_retention`; `prompt_cache_key` and `safety_identifier` became
  Optional; `service_tier` gained "fast";
  shared_params/reasoning_effort.py: gained "none", "xhigh", "max";
  chat_completion_audio_param.py: `voice` also takes a `VoiceID` object;
  chat_completion_content_part_*_param.py: new `prompt_cache_breakpoint`
  (`mode: "explicit"`).
  3.57.0, on top of that: chat_completion_content_part_image_param.py's
  `detail` gained "original"; every `PromptCacheBreakpoint` gained `ttl`
  ("30m" | "12h").
  completion_create_params.py and embedding_create_params.py: no field changes
  (3.x respells `stop` as `Union[str, SequenceNotStr[str], None]`, the same type).
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.__main__ import main
from generator.matrix import load_matrix
from generator.regen import MATRIX, ROOT, installed_sdk_version, load_inputs
from generator.surface_diff import (
    FieldChange,
    FieldDoc,
    MatrixView,
    SurfaceDiff,
    SurfaceDoc,
    diff_documents,
    load_document,
    render,
)
from generator.surface_dump import dump, surface_document

FIXTURES = Path(__file__).parent / "fixtures"
AUTHORED = "1.109.1"  # the release the gateway was authored against, the reviews' base
RELEASES = (AUTHORED, "2.54.0", "3.57.0")


def fixture(release: str) -> Path:
    return FIXTURES / f"sdk_surface_openai_{release}.json"


# --- synthetic surfaces ---------------------------------------------------------------------


def field(
    type_: str, *, required: bool = False, nullable: bool | None = None, path: str = "x"
) -> FieldDoc:
    is_null = nullable if nullable is not None else type_.split(" | ")[-1] == "null"
    return {
        "type": type_,
        "required": required,
        "nullable": is_null,
        "sdk_path": path,
        "annotation": type_,
    }


def synthetic(**extra_chat_fields: FieldDoc) -> SurfaceDoc:
    """Two endpoints sharing a nested `Part`: via a validated field and a forwarded one."""
    chat_fields: dict[str, FieldDoc] = {
        "model": field("string", required=True),
        "messages": field("array<Message>", required=True),
        "effort": field('"low" | "high" | null'),
        "audio": field("Audio | null"),
        "user": field("string"),
        **extra_chat_fields,
    }
    return {
        "sdk": "openai==1.0.0",
        "endpoints": {
            "chat": _endpoint("ChatRequest", chat_fields, validated={"model", "messages", "user"}),
            "legacy": _endpoint("LegacyRequest", {"parts": field("array<Part>")}, validated=set()),
        },
        "objects": {
            "Audio": {"sdk_path": "m.Audio", "fields": {"voice": field("string", required=True)}},
            "ChatRequest": {"sdk_path": "m.ChatRequest", "fields": chat_fields},
            "LegacyRequest": {
                "sdk_path": "m.LegacyRequest",
                "fields": {"parts": field("array<Part>")},
            },
            "Message": {
                "sdk_path": "m.Message",
                "fields": {
                    "content": field("string | array<Part>", required=True),
                    "role": field('"user" | "Part"', required=True),
                },
            },
            "Part": {"sdk_path": "m.Part", "fields": {"text": field("string", required=True)}},
        },
    }


def _endpoint(request: str, fields: dict[str, FieldDoc], validated: set[str]) -> Any:
    names = sorted(fields)
    return {
        "method": "POST",
        "path": f"/{request}",
        "request": request,
        "sdk_classes": [request],
        "validated": [n for n in names if n in validated],
        "forwarded_unvalidated": [n for n in names if n not in validated],
    }


VIEW = MatrixView(
    validated={"chat": frozenset({"model", "messages", "user"}), "legacy": frozenset()},
    named={"chat": frozenset({"model", "messages", "user", "effort"}), "legacy": frozenset()},
)


def bumped(old: SurfaceDoc, version: str = "2.0.0") -> SurfaceDoc:
    new = copy.deepcopy(old)
    new["sdk"] = f"openai=={version}"
    return new


def report(diff: SurfaceDiff) -> str:
    return render(diff, old_label="old.json", new_label="new.json", matrix_label="matrix.yaml")


def only_change(diff: SurfaceDiff) -> FieldChange:
    changes = [c.change for c in diff.top_level] + [n.change for n in diff.nested]
    assert len(changes) == 1, changes
    return changes[0]


def test_identical_surfaces_report_no_surface_changes() -> None:
    old = synthetic()
    diff = diff_documents(old, bumped(old), VIEW)
    assert diff.empty
    assert report(diff) == "no surface changes (openai==1.0.0 → openai==2.0.0)\n"


def test_new_top_level_field_is_forwarded_unvalidated_and_left_for_the_reviewer() -> None:
    old = synthetic()
    new = synthetic(store=field("boolean | null"))
    diff = diff_documents(old, bumped(new), VIEW)
    [change] = diff.top_level
    assert (change.endpoint, change.change.kind, change.change.field) == ("chat", "added", "store")
    assert not change.validated and not change.named_by_matrix
    assert diff.unclassified("chat") == ("store",)
    text = report(diff)
    assert "- added `store`: `boolean | null`, optional, nullable — forwarded unvalidated" in text
    assert "forwarded to the engine unvalidated by default" in text
    assert "- [ ] `store`" in text


def test_removed_field_the_matrix_names_warns_that_regen_will_stop() -> None:
    old = synthetic()
    new = bumped(old)
    del new["objects"]["ChatRequest"]["fields"]["user"]
    diff = diff_documents(old, new, VIEW)
    [change] = diff.top_level
    assert change.change.kind == "removed" and change.validated and change.named_by_matrix
    assert (
        "- removed `user` (was `string`, optional) — validated; matrix.yaml still names it, "
        "so regen stops until the matrix drops it"
    ) in report(diff)


def test_type_change_lists_the_enum_values_added_and_dropped() -> None:
    old = synthetic()
    new = bumped(old)
    new["objects"]["ChatRequest"]["fields"]["effort"] = field('"high" | "max" | null')
    diff = diff_documents(old, new, VIEW)
    change = only_change(diff)
    assert change.aspects == ("type",)
    assert (
        '- changed `effort`: type `"low" | "high" | null` → `"high" | "max" | null` '
        '(adds `"max"`; drops `"low"`) — forwarded unvalidated'
    ) in report(diff)


def test_optional_field_becoming_required_is_a_requiredness_change() -> None:
    old = synthetic()
    new = bumped(old)
    new["objects"]["ChatRequest"]["fields"]["user"] = field("string", required=True)
    change = only_change(diff := diff_documents(old, new, VIEW))
    assert change.aspects == ("required",)
    assert "- changed `user`: optional → required — validated" in report(diff)


def test_field_becoming_nullable_is_a_nullability_change_not_a_type_change() -> None:
    old = synthetic()
    new = bumped(old)
    new["objects"]["ChatRequest"]["fields"]["user"] = field("string | null")
    change = only_change(diff := diff_documents(old, new, VIEW))
    assert change.aspects == ("nullable",)
    assert "- changed `user`: now nullable (`string | null`) — validated" in report(diff)


def test_nested_change_names_its_object_and_every_endpoint_and_field_reaching_it() -> None:
    old = synthetic()
    new = bumped(old)
    new["objects"]["Part"]["fields"]["cache"] = field('"explicit"')
    diff = diff_documents(old, new, VIEW)
    assert diff.top_level == ()
    [nested] = diff.nested
    assert (nested.change.object, nested.change.field, nested.change.kind) == (
        "Part",
        "cache",
        "added",
    )
    assert [(r.endpoint, r.validated_via, r.forwarded_via) for r in nested.reach] == [
        ("chat", ("messages",), ()),
        ("legacy", (), ("parts",)),
    ]
    assert (
        "- `Part` — reachable from `chat` via `messages` (validated); "
        "`legacy` via `parts` (forwarded)\n"
        '  - added `cache`: `"explicit"`, optional'
    ) in report(diff)


def test_enum_strings_that_look_like_object_names_do_not_make_objects_reachable() -> None:
    old = synthetic()
    del old["endpoints"]["legacy"], old["objects"]["LegacyRequest"]
    old["objects"]["Message"]["fields"]["content"] = field("string", required=True)
    new = bumped(old)
    new["objects"]["Part"]["fields"]["text"] = field("integer", required=True)
    [nested] = diff_documents(old, new, VIEW).nested
    assert nested.reach == ()  # Message.role's "Part" is a string value, not a reference


def test_new_and_removed_objects_are_listed_with_their_fields_and_reach() -> None:
    old = synthetic()
    new = bumped(old)
    new["objects"]["Audio"]["fields"]["voice"] = field("string | VoiceID", required=True)
    new["objects"]["VoiceID"] = {"sdk_path": "m.VoiceID", "fields": {"id": field("string")}}
    del old["objects"]["Message"]["fields"]["role"]
    old["objects"]["Message"]["fields"]["meta"] = field("Meta")
    old["objects"]["Meta"] = {"sdk_path": "m.Meta", "fields": {}}
    new["objects"]["Message"]["fields"]["meta"] = field("string")
    del new["objects"]["Message"]["fields"]["role"]
    diff = diff_documents(old, new, VIEW)
    assert [(o.kind, o.name) for o in diff.objects] == [("removed", "Meta"), ("added", "VoiceID")]
    text = report(diff)
    assert (
        "- added object `VoiceID` (m.VoiceID) — reachable from `chat` via `audio` (forwarded)\n"
        "  - `id`: `string`, optional"
    ) in text
    assert "- removed object `Meta` (m.Meta) — was reachable from `chat` via `messages`" in text
    assert "changed `voice`: type `string` → `string | VoiceID` (adds `VoiceID`)" in text


def test_object_renamed_by_a_short_name_collision_is_reported_as_a_rename_only() -> None:
    old = synthetic()
    new = bumped(old)
    part = new["objects"].pop("Part")
    new["objects"]["mod.Part"] = part
    new["objects"]["Message"]["fields"]["content"] = field(
        "string | array<mod.Part>", required=True
    )
    new["endpoints"]["legacy"] = _endpoint("LegacyRequest", {}, validated=set())
    new["objects"]["LegacyRequest"]["fields"] = {"parts": field("array<mod.Part>")}
    diff = diff_documents(old, new, VIEW)
    assert diff.top_level == () and diff.nested == ()
    [renamed] = diff.objects
    assert (renamed.kind, renamed.old_name, renamed.name) == ("renamed", "Part", "mod.Part")


def test_report_is_the_same_whatever_order_the_documents_list_things_in() -> None:
    old = synthetic()
    new = synthetic(store=field("boolean"), seed=field("integer"))
    new["objects"]["Part"]["fields"]["cache"] = field('"explicit"')
    new["objects"]["Zed"] = {"sdk_path": "m.Zed", "fields": {}}
    new["objects"]["Audio"]["fields"]["voice"] = field("string | Zed", required=True)
    shuffled: SurfaceDoc = json.loads(json.dumps(new))
    shuffled["endpoints"] = dict(reversed(shuffled["endpoints"].items()))
    shuffled["objects"] = {
        name: {"sdk_path": obj["sdk_path"], "fields": dict(reversed(obj["fields"].items()))}
        for name, obj in reversed(shuffled["objects"].items())
    }
    first = report(diff_documents(old, bumped(new), VIEW))
    assert first == report(diff_documents(old, bumped(shuffled), VIEW))
    assert first.index("added `seed`") < first.index("added `store`")
    assert first.index("### `chat`") < first.index("### Nested") < first.index("### Objects")


# --- the real bumps: openai 1.109.1 -> 2.54.0 and -> 3.57.0 -----------------------------------


def matrix_view() -> MatrixView:
    return MatrixView.of(load_matrix(MATRIX)[0])


def review(release: str) -> SurfaceDiff:
    """The diff from the authored-against release to `release`, both committed surfaces."""
    return diff_documents(
        load_document(fixture(AUTHORED)), load_document(fixture(release)), matrix_view()
    )


def top_level_changes(diff: SurfaceDiff) -> dict[str, FieldChange]:
    assert {c.endpoint for c in diff.top_level} == {
        "chat.completions"
    }  # not completions, embeddings
    return {c.change.field: c.change for c in diff.top_level}


def check_chat_top_level_fields(diff: SurfaceDiff) -> None:
    """The same in 2.54.0 and 3.57.0: new cache and moderation fields, all forwarded."""
    changes = top_level_changes(diff)
    added = {f for f, c in changes.items() if c.kind == "added"}
    assert added == {"moderation", "prompt_cache_options", "prompt_cache_retention"}
    assert diff.unclassified("chat.completions") == tuple(sorted(added))
    assert not any(c.validated for c in diff.top_level)

    retention = changes["prompt_cache_retention"].new
    assert retention is not None and retention["type"] == '"in_memory" | "24h" | null'
    for nullable in ("prompt_cache_key", "safety_identifier"):
        assert changes[nullable].aspects == ("nullable",)
    effort = changes["reasoning_effort"]
    assert effort.aspects == ("type",) and effort.new is not None
    assert effort.new["type"] == (
        '"none" | "minimal" | "low" | "medium" | "high" | "xhigh" | "max" | null'
    )
    tier = changes["service_tier"].new
    assert tier is not None and '"fast"' in tier["type"]
    assert set(changes) == added | {
        "prompt_cache_key",
        "safety_identifier",
        "reasoning_effort",
        "service_tier",
    }

    voice = diff.change("ChatCompletionAudioParam", "voice")
    assert voice is not None and voice.new is not None
    assert (voice.kind, voice.new["type"]) == ("changed", "string | VoiceID")


def nested_under_messages(diff: SurfaceDiff) -> dict[tuple[str, str], FieldChange]:
    """Nested changes reachable through the validated `messages`, by (object, field)."""
    return {
        (n.change.object, n.change.field): n.change
        for n in diff.nested
        if any("messages" in r.validated_via for r in n.reach)
    }


def test_diff_to_openai_2_54_0_names_the_request_changes_verified_in_its_source() -> None:
    diff = review("2.54.0")
    check_chat_top_level_fields(diff)
    breakpoint_ = next(
        n for n in diff.nested if n.change.object == "ChatCompletionContentPartTextParam"
    )
    assert (breakpoint_.change.field, breakpoint_.change.kind) == (
        "prompt_cache_breakpoint",
        "added",
    )
    assert [(r.endpoint, r.validated_via) for r in breakpoint_.reach] == [
        ("chat.completions", ("messages",))
    ]
    new_objects = {o.name for o in diff.objects if o.kind == "added"}
    assert {"Moderation", "PromptCacheOptions", "VoiceID"} <= new_objects
    assert not [o for o in diff.objects if o.kind != "added"]


def test_diff_to_openai_3_57_0_names_the_changes_inside_validated_messages() -> None:
    diff = review("3.57.0")
    check_chat_top_level_fields(diff)
    under_messages = nested_under_messages(diff)
    assert set(under_messages) == {
        ("ChatCompletionContentPartTextParam", "prompt_cache_breakpoint"),
        ("ChatCompletionContentPartImageParam", "prompt_cache_breakpoint"),
        ("ChatCompletionContentPartInputAudioParam", "prompt_cache_breakpoint"),
        ("File", "prompt_cache_breakpoint"),
        ("ImageURL", "detail"),
    }
    detail = under_messages["ImageURL", "detail"]
    assert detail.kind == "changed" and detail.new is not None
    assert detail.new["type"] == '"auto" | "low" | "high" | "original"'
    assert all(
        c.kind == "added" and c.new is not None and not c.new["required"]
        for (_, name), c in under_messages.items()
        if name == "prompt_cache_breakpoint"
    )
    breakpoints = {o.name: o for o in diff.objects if o.name.endswith("PromptCacheBreakpoint")}
    assert len(breakpoints) == 4 and all(o.kind == "added" for o in breakpoints.values())
    new_objects = {o.name for o in diff.objects if o.kind == "added"}
    assert {"Moderation", "ModerationPolicy", "PromptCacheOptions", "VoiceID"} <= new_objects
    assert not [o for o in diff.objects if o.kind != "added"]


def test_completions_stop_respelled_in_3_57_0_is_no_surface_change() -> None:
    old, new = load_document(fixture(AUTHORED)), load_document(fixture("3.57.0"))
    for endpoint in ("completions", "chat.completions"):
        request = old["endpoints"][endpoint]["request"]
        before, after = old["objects"][request], new["objects"][request]
        assert before["fields"]["stop"]["annotation"] != after["fields"]["stop"]["annotation"]
        assert before["fields"]["stop"]["type"] == after["fields"]["stop"]["type"]
    assert not any(c.endpoint == "completions" for c in review("3.57.0").top_level)


@pytest.mark.parametrize("release", ["2.54.0", "3.57.0"])
def test_surface_diff_command_between_two_releases_prints_a_pr_ready_review(
    capsys: pytest.CaptureFixture[str], release: str
) -> None:
    command = ["surface-diff", "--base", str(fixture(AUTHORED)), "--against", str(fixture(release))]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"## openai SDK request surface: openai=={AUTHORED} → openai=={release}\n"
    )
    for line in (
        "### `chat.completions`: top-level request fields",
        "- [ ] `moderation`",
        "- [ ] `prompt_cache_options`",
        "- [ ] `prompt_cache_retention`",
        "- changed `safety_identifier`: now nullable (`string | null`) — forwarded unvalidated",
        "- `ChatCompletionContentPartTextParam` — reachable from `chat.completions` via "
        "`messages` (validated), `prediction` (forwarded)",
        "- added object `VoiceID` (openai.types.chat.chat_completion_audio_param.VoiceID) — "
        "reachable from `chat.completions` via `audio` (forwarded)",
    ):
        assert line in out.splitlines()
    assert "### `completions`" not in out and "### `embeddings`" not in out
    image_detail = (
        '  - changed `detail`: type `"auto" | "low" | "high"` → '
        '`"auto" | "low" | "high" | "original"` (adds `"original"`)'
    )
    assert (image_detail in out.splitlines()) == (release == "3.57.0")


def test_surface_diff_command_with_the_pinned_sdk_installed_prints_no_surface_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pin = f"openai=={installed_sdk_version()}"
    assert main(["surface-diff"]) == 0
    assert capsys.readouterr().out == f"no surface changes ({pin} → {pin})\n"


def test_fixture_of_the_installed_release_is_the_surface_read_from_it_now() -> None:
    """The fixtures are the generator's current reading, not an older one's."""
    release = installed_sdk_version()
    if release not in RELEASES:
        pytest.skip(f"no committed fixture for the installed openai=={release}")
    inputs = load_inputs(allow_other_sdk=True)
    expected = dump(surface_document(inputs.surface, inputs.matrix))
    assert fixture(release).read_text(encoding="utf-8") == expected


def test_surface_diff_command_reports_an_unreadable_surface_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["surface-diff", "--against", str(tmp_path / "missing.json")]) == 2
    assert "surface-diff stopped: cannot read a surface document" in capsys.readouterr().err


def run_surface_of(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator.surface_of", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_surface_of_in_a_subprocess_gives_the_surface_regen_writes(tmp_path: Path) -> None:
    import openai

    site_packages = Path(openai.__file__).resolve().parent.parent
    result = run_surface_of("--sdk-path", str(site_packages), "--out", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr
    inputs = load_inputs(allow_other_sdk=True)
    expected = dump(surface_document(inputs.surface, inputs.matrix))
    assert (tmp_path / "s.json").read_text(encoding="utf-8") == expected


def test_surface_of_refuses_a_directory_without_an_openai_package(tmp_path: Path) -> None:
    result = run_surface_of("--sdk-path", str(tmp_path))
    assert result.returncode == 2
    assert "no openai package in" in result.stderr
    assert "--release X" in result.stderr


def fake_release(target: Path, requires: list[str]) -> None:
    """An `openai` in a pip --target dir whose import needs a module nobody has."""
    (target / "openai").mkdir(parents=True)
    (target / "openai" / "__init__.py").write_text("import httpx_from_the_future\n")
    dist_info = target / "openai-9.0.0.dist-info"
    dist_info.mkdir()
    metadata = ["Metadata-Version: 2.1", "Name: openai", "Version: 9.0.0"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (dist_info / "METADATA").write_text("\n".join(metadata) + "\n")


def test_surface_of_says_which_requirements_to_install_when_a_release_cannot_import(
    tmp_path: Path,
) -> None:
    fake_release(
        tmp_path,
        [
            "httpx-from-the-future>=2",
            "pydantic>=1.10",  # the venv has it: not listed
            "numpy>=1; extra == 'datalib'",  # an extra: not needed to read types
        ],
    )
    result = run_surface_of("--sdk-path", str(tmp_path))
    assert result.returncode == 2
    assert "No module named 'httpx_from_the_future'" in result.stderr
    assert (
        f"it needs httpx-from-the-future>=2, which the venv lacks: "
        f"`pip install --no-deps --target {tmp_path} 'httpx-from-the-future>=2'`"
    ) in result.stderr
    assert "pydantic" not in result.stderr.split("it needs")[1]
    assert "numpy" not in result.stderr


@pytest.mark.skipif(
    os.environ.get("BUMP_TEST_FROM_PYPI") != "1",
    reason="set BUMP_TEST_FROM_PYPI=1 to rebuild the release fixtures from PyPI",
)
@pytest.mark.parametrize("release", RELEASES)
def test_fixture_is_what_the_release_from_pypi_gives_and_the_venv_pin_is_untouched(
    tmp_path: Path, release: str
) -> None:
    pinned = installed_sdk_version()
    out = tmp_path / "surface.json"
    result = run_surface_of(
        "--release", release, "--sdk-path", str(tmp_path / "sdk"), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == fixture(release).read_text(encoding="utf-8"), (
        f"{fixture(release).name} is stale: python -m generator.surface_of --release {release} "
        f"--out {fixture(release)}"
    )
    assert importlib.metadata.version("openai") == pinned
