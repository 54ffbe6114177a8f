"""The ledger's writer process (gateway.ops.ledger.process): rows written by a real child
process into a real SQLite file, exactly; its death, its database's failure and the
shutdown's signals, each seen as the writer needs them."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_rows import FULL, REFUSED, read_rows

from gateway.ops.ledger.process import LedgerProcessError, ProcessStore
from gateway.ops.ledger.store import open_store

EXIT_WAIT_S = 10.0


def process_store(path: Path) -> ProcessStore:
    url = f"sqlite:///{path}"
    return ProcessStore(url, path.parent, open_store(url, path.parent))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ProcessStore]:
    store = process_store(tmp_path / "usage.sqlite3")
    try:
        yield store
    finally:
        store.close()


def gone(pid: int) -> bool:
    """Whether `pid` has exited (and was reaped by its parent, this process)."""
    deadline = time.monotonic() + EXIT_WAIT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_rows_are_written_by_a_child_process_and_read_back_exactly(
    store: ProcessStore, tmp_path: Path
) -> None:
    store.insert([FULL, REFUSED])
    assert store.pid is not None and store.pid != os.getpid()
    assert read_rows(tmp_path / "usage.sqlite3") == [tuple(REFUSED), tuple(FULL)]


def test_a_batch_sent_again_is_written_once(store: ProcessStore, tmp_path: Path) -> None:
    store.insert([FULL])
    store.insert([FULL, REFUSED])
    assert [row[0] for row in read_rows(tmp_path / "usage.sqlite3")] == ["o-error", "o-full"]


def test_closing_ends_the_child(store: ProcessStore) -> None:
    store.insert([])
    pid = store.pid
    assert pid is not None
    store.close()
    assert store.pid is None
    assert gone(pid)


def test_a_dead_child_fails_the_insert_and_the_next_insert_starts_another(
    store: ProcessStore, tmp_path: Path
) -> None:
    store.insert([FULL])
    first = store.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with pytest.raises(LedgerProcessError, match="process ended"):
        store.insert([REFUSED])  # the writer keeps this batch and retries it
    store.insert([REFUSED])
    assert store.pid not in (None, first)
    assert [row[0] for row in read_rows(tmp_path / "usage.sqlite3")] == ["o-error", "o-full"]


def test_the_databases_error_reaches_the_writer_and_the_child_stays(tmp_path: Path) -> None:
    blocker = tmp_path / "db"
    blocker.write_text("a file where the database's folder should be")
    store = process_store(blocker / "usage.sqlite3")
    try:
        with pytest.raises(LedgerProcessError) as failure:
            store.insert([FULL])
        assert "FileExistsError" in str(failure.value)
        pid = store.pid
        blocker.unlink()  # the database comes back: the same child writes the retry
        store.insert([FULL])
        assert store.pid == pid
    finally:
        store.close()
    assert read_rows(blocker / "usage.sqlite3") == [tuple(FULL)]


def test_the_child_outlives_sigint_and_sigterm_so_a_shutdowns_last_batch_is_written(
    store: ProcessStore, tmp_path: Path
) -> None:
    store.insert([])
    pid = store.pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    os.kill(pid, signal.SIGTERM)
    store.insert([FULL])
    assert store.pid == pid
    assert read_rows(tmp_path / "usage.sqlite3") == [tuple(FULL)]


def test_check_runs_in_this_process_without_starting_the_child(
    store: ProcessStore, tmp_path: Path
) -> None:
    store.check()
    assert store.pid is None
    (tmp_path / "usage.sqlite3").unlink()
    (tmp_path / "usage.sqlite3").mkdir()  # a folder where the file should be
    with pytest.raises(sqlite3.Error):
        store.check()
