"""The SQLite store's batch insert: a batch in one statement (chunked past SQLite's bound
on parameters), every value read back exactly as written (floats bit for bit, nulls,
booleans as 0/1), a retried batch written once."""

from __future__ import annotations

from pathlib import Path

from ledger_rows import FULL, REFUSED, read_rows

from gateway.observe import new_outcome_id
from gateway.ops.ledger.schema import SQLITE_ROWS_PER_STATEMENT
from gateway.ops.ledger.sqlite import SqliteStore


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
