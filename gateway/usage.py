"""`python -m gateway.usage`: usage totals per day, key and model from the ledger.

    python -m gateway.usage --since 2026-12-01 --until 2026-12-31 --format csv

`--since` and `--until` are ISO dates (whole UTC days, both included) or ISO
date-times (`--until` then excluded); the ledger is `--ledger URL`, else the
configuration's `ledger_url` (GATEWAY_CONFIG, GATEWAY_LEDGER_URL apply).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from gateway.config import config_path, load_config
from gateway.config_errors import ConfigError
from gateway.ops.ledger.report import FORMATS, NoLedger, render, totals

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.usage", description=__doc__)
    parser.add_argument("--since", type=_moment(start=True), default=EARLIEST, metavar="ISO")
    parser.add_argument("--until", type=_moment(start=False), default=LATEST, metavar="ISO")
    parser.add_argument("--ledger", metavar="URL", help="sqlite:///file or postgresql://...")
    parser.add_argument("--format", choices=FORMATS, default="table")
    args = parser.parse_args(argv)
    try:
        url, base = _ledger(args.ledger)
        rows = totals(url, base, args.since, args.until)
    except (ConfigError, NoLedger, ValueError) as error:
        print(f"usage: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the database refused: say so, no traceback
        print(f"usage: cannot read the ledger: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(render(rows, args.format))
    return 0


def _ledger(url: str | None) -> tuple[str, Path]:
    """The URL and the folder its relative SQLite path is from."""
    if url is not None:
        return url, Path.cwd()
    path = config_path()
    config = load_config(path)
    if config.ledger_url is None:
        raise ConfigError(path, "ledger_url is null: this configuration keeps no ledger")
    return config.ledger_url, path.parent


def _moment(start: bool) -> Callable[[str], datetime]:
    def parse(text: str) -> datetime:
        try:
            if "T" not in text and " " not in text:
                day = date.fromisoformat(text)
                return datetime.combine(day + timedelta(days=0 if start else 1), time(), UTC)
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    return parse


if __name__ == "__main__":
    sys.exit(main())
