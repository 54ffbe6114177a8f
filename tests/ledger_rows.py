"""Reading a ledger the way an operator would, for the ledger's tests; two sample rows."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg

from gateway.ops.ledger.record import COLUMNS, LedgerRow

Row = dict[str, Any]
WAIT_S = 30.0

# A row with every column set, and a refusal's (its nulls where nothing was known).
FULL = LedgerRow("o-full", "req_a", 1_764_600_000.123456, "key", "m", "chat.completions", 200,
                 True, 12, 34, 5, 0.1 + 0.2, 0.0123456789, None, None, None, "done",
                 987654321)  # fmt: skip
REFUSED = LedgerRow("o-error", "req_b", 1_764_600_001.5, None, None, "chat.completions", 400,
                    False, None, None, None, 1e-6, None, "invalid_request_error",
                    "messages[0].role", "invalid_value", None, None)  # fmt: skip


def read_rows(path: Path) -> list[tuple[object, ...]]:
    """A SQLite ledger's rows as value tuples in column order, by outcome id."""
    with closing(sqlite3.connect(path)) as connection:
        query = f"SELECT {', '.join(COLUMNS)} FROM usage_ledger ORDER BY outcome_id"
        return connection.execute(query).fetchall()


def sqlite_rows(path: Path) -> list[Row]:
    """Every row, in arrival order; none while the file or its table does not exist."""
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as connection:
        connection.row_factory = sqlite3.Row
        try:
            rows = connection.execute("SELECT * FROM usage_ledger ORDER BY received_at")
        except sqlite3.OperationalError:  # no such table yet
            return []
        return [dict(row) for row in rows]


def postgres_rows(url: str) -> list[Row]:
    with psycopg.connect(url, connect_timeout=5) as connection:
        exists = connection.execute("SELECT to_regclass('usage_ledger')").fetchone()
        if exists is None or exists[0] is None:
            return []
        cursor = connection.execute("SELECT * FROM usage_ledger ORDER BY received_at")
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def api_rows(rows: list[Row]) -> list[Row]:
    """The rows of the tests' own requests: without the fixtures' readiness polls (an
    unauthenticated GET /v1/models, answered 401, is a request like any other)."""
    return [row for row in rows if not (row["endpoint"] == "models" and row["status"] == 401)]


def wait_for_rows(read: Callable[[], list[Row]], count: int, wait_s: float = WAIT_S) -> list[Row]:
    """The tests' rows once there are `count` of them (at most `wait_s`); fails if more appear."""
    deadline = time.monotonic() + wait_s
    while len(rows := api_rows(read())) < count:
        assert time.monotonic() < deadline, f"{len(rows)} ledger rows, not {count}, in {wait_s} s"
        time.sleep(0.1)
    assert len(rows) == count, f"{len(rows)} ledger rows, expected {count}"
    return rows


def tokens(row: Row) -> tuple[Any, Any, Any]:
    return row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]


def usage_tokens(usage: Any) -> tuple[Any, Any, Any]:
    """(prompt, completion, cached) of an openai client's usage object."""
    details = getattr(usage, "prompt_tokens_details", None)
    cached = details.cached_tokens if details is not None else None
    return usage.prompt_tokens, getattr(usage, "completion_tokens", None), cached


def ledger_env(path: Path, **more: str) -> dict[str, str]:
    """GATEWAY_* overrides for a gateway whose ledger is the SQLite file `path`."""
    return {"GATEWAY_LEDGER_URL": f"sqlite:///{path}", **more}  # an absolute path: 4 slashes
