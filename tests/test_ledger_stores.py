"""The SQLite store's batch insert: a batch in one statement (chunked past SQLite's bound
on parameters), every value read back exactly as written (floats bit for bit, nulls,
booleans as 0/1), a retried batch written once."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from gateway.observe import new_outcome_id
from gateway.ops.ledger.record import COLUMNS, LedgerRow
from gateway.ops.ledger.schema import SQLITE_ROWS_PER_STATEMENT
from gateway.ops.ledger.sqlite import SqliteStore

FULL = LedgerRow("o-full", "req_a", 1_764_600_000.123456, "key", "m", "chat.completions", 200,
                 True, 12, 34, 5, 0.1 + 0.2, 0.0123456789, None, None, None, "done",
                 987654321)  # fmt: skip
REFUSED = LedgerRow("o-error", "req_b", 1_764_600_001.5, None, None, "chat.completions", 400,
                    False, None, None, None, 1e-6, None, "invalid_request_error",
                    "messages[0].role", "invalid_value", None, None)  # fmt: skip


def read_rows(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(
            f"SELECT {', '.join(COLUMNS)} FROM usage_ledger ORDER BY outcome_id"
        ).fetchall()


def test_every_column_reads_back_from_sqlite_exactly_as_written(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "usage.sqlite3")
    store.insert([FULL, REFUSED])
    store.close()
    assert read_rows(tmp_path / "usage.sqlite3") == [tuple(REFUSED), tuple(FULL)]


def test_a_batch_retried_after_its_commit_adds_no_row_to_sqlite(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "usage.sqlite3")
    store.insert([FULL])
    store.insert([FULL, REFUSED])
    store.insert([])
    store.close()
    assert [row[0] for row in read_rows(tmp_path / "usage.sqlite3")] == ["o-error", "o-full"]


def test_a_batch_past_one_statements_parameter_bound_is_written_whole(tmp_path: Path) -> None:
    rows = [FULL._replace(outcome_id=f"o{n:05d}") for n in range(SQLITE_ROWS_PER_STATEMENT + 7)]
    store = SqliteStore(tmp_path / "usage.sqlite3")
    store.insert(rows)
    store.close()
    assert read_rows(tmp_path / "usage.sqlite3") == [tuple(row) for row in rows]


def test_outcome_ids_are_32_hex_digits_unique_and_later_ones_sort_later() -> None:
    ids = [new_outcome_id() for _ in range(2000)]
    assert all(len(one) == 32 and int(one, 16) >= 0 for one in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # the clock leads: the ledger's key index grows at its end
