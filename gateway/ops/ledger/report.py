"""Usage totals per day, key and model over a time range, aggregated by the database.

Read by `python -m gateway.usage`. Days are UTC. A request counts as an error
when its status is 4xx/5xx or its stream ended with an error event. Token
counts the engine did not report count as 0 in the sums; the cost is the sum of
the rows' exact costs (None when no row of the group had a price).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.ops.ledger.schema import TABLE
from gateway.ops.ledger.url import PostgresTarget, SqliteTarget, parse_ledger_url

FORMATS = ("table", "csv", "json")


@dataclass(frozen=True, slots=True)
class Totals:
    day: str
    key_id: str | None
    model: str | None
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_nanousd: int | None


class NoLedger(Exception):
    """The ledger named does not exist (a SQLite file not there)."""


_SELECT = """
SELECT {day} AS day, key_id, model, COUNT(*),
  SUM(CASE WHEN status >= 400 OR error_type IS NOT NULL THEN 1 ELSE 0 END),
  COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
  COALESCE(SUM(cached_tokens), 0), SUM(cost_nanousd)
FROM {table}
WHERE received_at >= {p} AND received_at < {p}
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""


def totals(url: str, base: Path, since: datetime, until: datetime) -> list[Totals]:
    """Totals of the ledger at `url` for since <= received_at < until (aware datetimes)."""
    target = parse_ledger_url(url, base)
    if isinstance(target, SqliteTarget):
        return _sqlite_totals(target, since, until)
    return _postgres_totals(target, since, until)


def _sqlite_totals(target: SqliteTarget, since: datetime, until: datetime) -> list[Totals]:
    import sqlite3

    if not target.path.is_file():
        raise NoLedger(f"no ledger at {target.path}")
    sql = _SELECT.format(day="strftime('%Y-%m-%d', received_at, 'unixepoch')", table=TABLE, p="?")
    # Read-only: a report never creates or locks the file for writing.
    with closing(sqlite3.connect(f"file:{target.path}?mode=ro", uri=True)) as connection:
        bounds = (since.timestamp(), until.timestamp())
        rows = connection.execute(sql, bounds).fetchall()
    return [_totals(row) for row in rows]


def _postgres_totals(target: PostgresTarget, since: datetime, until: datetime) -> list[Totals]:
    import psycopg

    day = "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    sql = _SELECT.format(day=day, table=TABLE, p="%s")
    with psycopg.connect(target.conninfo, connect_timeout=5) as connection:
        rows = connection.execute(sql, (since, until)).fetchall()
    return [_totals(row) for row in rows]


def _totals(row: Sequence[Any]) -> Totals:
    day, key_id, model, requests, errors, prompt, completion, cached, cost = row
    # int(): PostgreSQL's sums of BIGINT are NUMERIC (Decimal).
    return Totals(
        day=day,
        key_id=key_id,
        model=model,
        requests=int(requests),
        errors=int(errors),
        prompt_tokens=int(prompt),
        completion_tokens=int(completion),
        cached_tokens=int(cached),
        cost_nanousd=int(cost) if cost is not None else None,
    )


# ------------------------------------------------------------------ output


def usd(nanousd: int) -> str:
    """Exact dollars from nano-dollars: 68025 -> 0.000068025."""
    return f"{Decimal(nanousd).scaleb(-9).normalize():f}"


def render(rows: Sequence[Totals], fmt: str) -> str:
    with_cost = any(row.cost_nanousd is not None for row in rows)
    if fmt == "json":
        return json.dumps([_record(row, with_cost) for row in rows], indent=2) + "\n"
    header, body = _columns(with_cost), [_cells(row, with_cost) for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([header, *body])
        return out.getvalue()
    return _table(header, body, _total(rows, with_cost))


def _record(row: Totals, with_cost: bool) -> dict[str, Any]:
    record = asdict(row)
    del record["cost_nanousd"]
    if with_cost:  # a string: exact, where a JSON number would be read as a float
        record["cost_usd"] = usd(row.cost_nanousd) if row.cost_nanousd is not None else None
    return record


def _columns(with_cost: bool) -> list[str]:
    names = ["day", "key_id", "model", "requests", "errors"]
    names += ["prompt_tokens", "completion_tokens", "cached_tokens"]
    return [*names, "cost_usd"] if with_cost else names


def _cells(row: Totals, with_cost: bool) -> list[str]:
    cells = [row.day, row.key_id or "", row.model or "", str(row.requests), str(row.errors)]
    cells += [str(row.prompt_tokens), str(row.completion_tokens), str(row.cached_tokens)]
    if with_cost:
        cells.append(usd(row.cost_nanousd) if row.cost_nanousd is not None else "")
    return cells


def _total(rows: Sequence[Totals], with_cost: bool) -> list[str]:
    sums = [sum(getattr(row, name) for row in rows) for name in _columns(False)[3:]]
    cells = ["total", "", "", *(str(value) for value in sums)]
    if with_cost:
        cells.append(usd(sum(row.cost_nanousd or 0 for row in rows)))
    return cells


def _table(header: list[str], body: list[list[str]], total: list[str]) -> str:
    if not body:
        return "no requests in this range\n"
    lines = [header, *body, total]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        text = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in pairs]  # names left
        return "  ".join(text).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *map(line, body), rule, line(total)]) + "\n"
