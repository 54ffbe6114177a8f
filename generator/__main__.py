"""`python -m generator regen|check|surface-diff`: behind `make regen`, `make check-generated`
and `make surface-diff` (the SDK-bump review, see docs/bump-procedure.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.classify import forwarded_fields, validated_fields
from generator.errors import GeneratorError
from generator.regen import Inputs, build, load_inputs, stale, write
from generator.surface_diff import COMMITTED, surface_diff_report


def classification(inputs: Inputs) -> list[str]:
    """Per endpoint, what is validated and what is forwarded: nothing goes unlisted."""
    lines = []
    for endpoint in inputs.matrix.request_endpoints:
        validated = validated_fields(endpoint, inputs.surface)
        forwarded = sorted(forwarded_fields(endpoint, inputs.surface))
        lines.append(
            f"{endpoint.key}: {len(validated)} validated, "
            f"{len(forwarded)} forwarded unvalidated: {', '.join(forwarded) or '-'}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator")
    parser.add_argument("command", choices=["regen", "check", "surface-diff"])
    parser.add_argument(
        "--against",
        type=Path,
        help="surface-diff: compare with this surface JSON instead of the installed SDK",
    )
    parser.add_argument(
        "--base",
        type=Path,
        default=COMMITTED,
        help="surface-diff: the audited surface JSON (default: generated/sdk_surface.json)",
    )
    args = parser.parse_args(argv)
    if args.command == "surface-diff":
        return surface_diff(args.base, args.against)
    try:
        inputs = load_inputs()
        files = build(inputs)
    except GeneratorError as error:
        print(f"regen stopped: {error}", file=sys.stderr)
        return 2
    if args.command == "regen":
        changed = write(files)
        for line in classification(inputs):
            print(line)
        print(f"generated/: {len(files)} files, {len(changed)} changed")
        for path in changed:
            print(f"  {path}")
        return 0
    outdated = stale(files)
    if outdated:
        print("generated/ is stale; run `make regen` and commit the result:", file=sys.stderr)
        for path in outdated:
            print(f"  {path}", file=sys.stderr)
        return 1
    print(f"generated/ is current ({len(files)} files)")
    return 0


def surface_diff(base: Path, against: Path | None) -> int:
    """Works whatever SDK is installed: reviewing a different one is its purpose."""
    try:
        report = surface_diff_report(base=base, against=against)
    except GeneratorError as error:
        print(f"surface-diff stopped: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
