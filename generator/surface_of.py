"""The surface JSON of an openai SDK that is not the one installed in the venv.

    python -m generator.surface_of --release X --out surface.json

installs openai==X into a scratch `pip --target` dir (`--sdk-path`, default a
temporary one) with only the requirements the venv lacks (`sdk_release`), then
reads it. `--sdk-path DIR` alone reads a release already installed there.

The SDK directory goes first on sys.path before anything imports `openai`, so
its modules and its dist-info (the version) win over the venv's pinned SDK,
which stays untouched; the SDK's other dependencies come from the venv. Run it
in a fresh process: a process that already imported `openai` cannot switch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from pathlib import Path

from generator.errors import GeneratorError
from generator.regen import MATRIX
from generator.sdk_release import install_release, missing_for_import


def surface_json(sdk_path: Path, matrix_path: Path = MATRIX) -> str:
    """The `generated/sdk_surface.json` text the SDK at `sdk_path` would give."""
    if "openai" in sys.modules:
        raise GeneratorError("openai is already imported; run surface_of in a fresh process")
    root = sdk_path.resolve()
    if not (root / "openai" / "__init__.py").is_file():
        raise GeneratorError(
            f"no openai package in {root}: `python -m generator.surface_of --release X "
            f"--sdk-path {root}` installs one"
        )
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        openai = importlib.import_module("openai")
    except ImportError as error:
        # e.g. a release needing a dependency the venv lacks: say what to install, and where.
        hint = missing_for_import(root)
        raise GeneratorError(f"cannot import the openai SDK in {root}: {error}{hint}") from error
    if not Path(str(openai.__file__)).resolve().is_relative_to(root):
        raise GeneratorError(f"imported openai from {openai.__file__}, not from {root}")

    from generator.surface_diff import installed_document
    from generator.surface_dump import dump

    document = installed_document(matrix_path)
    if document["sdk"] != f"openai=={openai.__version__}":
        raise GeneratorError(
            f"{document['sdk']} metadata, but openai.__version__ is "
            f"{openai.__version__}: is {root} a complete install?"
        )
    return dump(dict(document))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.surface_of")
    parser.add_argument("--sdk-path", type=Path, help="a `pip --target` dir")
    parser.add_argument("--release", help="install openai==RELEASE into --sdk-path first")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--matrix", type=Path, default=MATRIX)
    args = parser.parse_args(argv)
    if args.sdk_path is None and args.release is None:
        parser.error("give --sdk-path, --release, or both")
    try:
        text = _read(args.sdk_path, args.release, args.matrix)
    except GeneratorError as error:
        print(f"surface_of stopped: {error}", file=sys.stderr)
        return 2
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _read(sdk_path: Path | None, release: str | None, matrix: Path) -> str:
    if release is None:
        assert sdk_path is not None
        return surface_json(sdk_path, matrix)
    if sdk_path is not None:
        _install(release, sdk_path)
        return surface_json(sdk_path, matrix)
    with tempfile.TemporaryDirectory(prefix=f"openai-{release}-") as scratch:
        _install(release, Path(scratch))
        return surface_json(Path(scratch), matrix)


def _install(release: str, target: Path) -> None:
    added = install_release(release, target)
    print(f"installed openai=={release} into {target}", file=sys.stderr)
    if added:
        print(f"  with what the venv lacks for it: {', '.join(added)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
