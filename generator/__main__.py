"""`python -m generator regen|check`: behind `make regen` and `make check-generated`."""

from __future__ import annotations

import argparse
import sys

from generator.errors import GeneratorError
from generator.regen import build, load_inputs, stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator")
    parser.add_argument("command", choices=["regen", "check"])
    args = parser.parse_args(argv)
    try:
        files = build(load_inputs())
    except GeneratorError as error:
        print(f"regen stopped: {error}", file=sys.stderr)
        return 2
    if args.command == "regen":
        changed = write(files)
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
