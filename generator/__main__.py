"""`python -m generator regen|check`: behind `make regen` and `make check-generated`."""

from __future__ import annotations

import argparse
import sys

from generator.errors import GeneratorError
from generator.regen import Inputs, build, load_inputs, stale, write


def classification(inputs: Inputs) -> list[str]:
    """Per endpoint, what is validated and what is forwarded: nothing goes unlisted."""
    lines = []
    for endpoint in inputs.matrix.request_endpoints:
        names = [f.name for f in inputs.surface.root(endpoint.key).fields]
        forwarded = sorted(n for n in names if n not in endpoint.validated)
        lines.append(
            f"{endpoint.key}: {len(names) - len(forwarded)} validated, "
            f"{len(forwarded)} forwarded unvalidated: {', '.join(forwarded) or '-'}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator")
    parser.add_argument("command", choices=["regen", "check"])
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
