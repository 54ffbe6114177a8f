"""The ledger's writer against real SQLite files: batches, the database being down, the
memory bound and the spool, the spool's own bound, and the flush at shutdown.

"Down" is a real failure: the database file's folder cannot be created because a
plain file stands where it should be; removing that file brings the database back.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.catalog import Prices
from gateway.observe import RequestOutcome, Usage
from gateway.ops.ledger.record import LedgerRow, row_of
from gateway.ops.ledger.spool import Spool
from gateway.ops.ledger.sqlite import SqliteStore
from gateway.ops.ledger.writer import LedgerSettings, LedgerWriter

WAIT_S = 15.0
PRICES = {"m": Prices(input_per_mtok=1, output_per_mtok=2)}


def outcome(number: int) -> RequestOutcome:
    return RequestOutcome(
        outcome_id=f"o{number:06d}",
        request_id=f"req_{number:06d}",
        received_at=1_764_600_000.0 + number,
        endpoint="chat.completions",
        key_id="k",
        model="m",
        status=200,
        stream=False,
        usage=Usage(prompt_tokens=number, completion_tokens=1, cached_tokens=None),
        latency_s=0.01,
        first_chunk_s=None,
        error=None,
        stream_end=None,
    )


def rows_in(path: Path) -> list[tuple[str, int, int]]:
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as connection:
        query = "SELECT request_id, prompt_tokens, cost_nanousd FROM usage_ledger ORDER BY 1"
        return connection.execute(query).fetchall()


def expected(count: int) -> list[tuple[str, int, int]]:
    return [(f"req_{n:06d}", n, n * 1000 + 2000) for n in range(count)]


def spooled_lines(spool: Spool) -> int:
    return len(spool.path.read_text().splitlines()) if spool.path.exists() else 0


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        await asyncio.sleep(0.02)


class Ledger:
    """A writer on `tmp_path`, whose database can be taken down and brought back."""

    def __init__(self, tmp_path: Path, **settings: float) -> None:
        self.blocker = tmp_path / "db"
        self.database = self.blocker / "usage.sqlite3"
        self.spool = Spool(tmp_path / "spool.jsonl", int(settings.pop("spool_max_bytes", 1e9)))
        store = SqliteStore(self.database)
        values = {"flush_interval_s": 0.05, **settings}
        self.writer = LedgerWriter(store, self.spool, PRICES, LedgerSettings(**values))  # type: ignore[arg-type]

    def down(self) -> None:
        self.blocker.write_text("a file where the database's folder should be")

    def back(self) -> None:
        self.blocker.unlink()


def test_the_observer_only_queues_and_the_writer_writes_every_row_in_batches(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        ledger = Ledger(tmp_path, batch_records=100)
        await ledger.writer.start()
        for number in range(1000):
            ledger.writer(outcome(number))
        assert ledger.writer.backlog() == 1000  # nothing written on the caller's turn
        await wait_until(lambda: ledger.writer.written == 1000, "1000 rows written")
        assert ledger.writer.backlog() == 0
        await ledger.writer.stop()

    asyncio.run(scenario())
    assert rows_in(Ledger(tmp_path).database) == expected(1000)


def test_an_outcome_written_twice_is_billed_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "usage.sqlite3")
    rows = [row_of(outcome(n), PRICES["m"]) for n in range(5)]
    store.insert(rows)
    store.insert(rows[2:])  # a retried batch whose first attempt was committed
    store.close()
    assert rows_in(tmp_path / "usage.sqlite3") == expected(5)


def test_while_the_database_is_down_rows_wait_in_memory_then_are_written(tmp_path: Path) -> None:
    async def scenario() -> None:
        ledger = Ledger(tmp_path)
        ledger.down()
        await ledger.writer.start()
        for number in range(50):
            ledger.writer(outcome(number))
        await asyncio.sleep(0.3)
        assert ledger.writer.backlog() == 50
        assert (problem := await ledger.writer.problem()) is not None
        assert "not writable" in problem
        ledger.back()
        await wait_until(lambda: ledger.writer.written == 50, "50 rows written once back")
        assert await ledger.writer.problem() is None
        assert (ledger.writer.spilled, ledger.writer.dropped) == (0, 0)
        await ledger.writer.stop()
        assert rows_in(ledger.database) == expected(50)

    asyncio.run(scenario())


def test_past_the_memory_bound_rows_are_spooled_then_replayed_when_the_database_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        ledger = Ledger(tmp_path, buffer_records=10)
        ledger.down()
        await ledger.writer.start()
        for number in range(50):
            ledger.writer(outcome(number))
        await wait_until(lambda: ledger.writer.spilled == 40, "40 rows spilled")
        assert ledger.writer.backlog() == 10
        assert spooled_lines(ledger.spool) == 40
        ledger.back()
        await wait_until(lambda: not ledger.spool.pending(), "the spool replayed")
        await wait_until(lambda: ledger.writer.backlog() == 0, "the memory written")
        await ledger.writer.stop()
        assert rows_in(ledger.database) == expected(50)
        assert ledger.writer.dropped == 0

    with caplog.at_level(logging.INFO, "gateway.ops.ledger.writer"):
        asyncio.run(scenario())
    assert "spilled to" in caplog.text
    assert "replayed 40 spooled rows" in caplog.text


def test_past_the_spool_bound_rows_are_dropped_counted_and_logged_as_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        ledger = Ledger(tmp_path, buffer_records=10, spool_max_bytes=1000)
        ledger.down()
        await ledger.writer.start()
        for number in range(50):
            ledger.writer(outcome(number))
        await wait_until(lambda: ledger.writer.dropped == 40, "40 rows dropped")
        assert ledger.writer.backlog() == 10
        await ledger.writer.stop()

    asyncio.run(scenario())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors, caplog.text
    assert "DROPPED" in errors[0].getMessage()


def test_stop_spools_what_the_database_cannot_take_and_a_later_start_replays_it(
    tmp_path: Path,
) -> None:
    async def down_at_shutdown() -> None:
        ledger = Ledger(tmp_path, shutdown_s=0.5)
        ledger.down()
        await ledger.writer.start()
        for number in range(30):
            ledger.writer(outcome(number))
        started = time.monotonic()
        await ledger.writer.stop()
        assert time.monotonic() - started < 3.0
        assert ledger.writer.backlog() == 0
        assert (ledger.writer.spilled, spooled_lines(ledger.spool)) == (30, 30)
        ledger.back()

    async def next_start() -> None:
        ledger = Ledger(tmp_path)
        await ledger.writer.start()
        await wait_until(lambda: not ledger.spool.pending(), "the spool replayed")
        await ledger.writer.stop()

    asyncio.run(down_at_shutdown())
    asyncio.run(next_start())
    assert rows_in(Ledger(tmp_path).database) == expected(30)


def test_stop_writes_every_queued_row_before_the_flush_interval(tmp_path: Path) -> None:
    async def scenario() -> None:
        ledger = Ledger(tmp_path, flush_interval_s=3600)
        await ledger.writer.start()
        for number in range(120):
            ledger.writer(outcome(number))
        await asyncio.sleep(0.1)
        assert ledger.writer.written == 0  # a partial batch waits for the interval ...
        await ledger.writer.stop()  # ... or for the shutdown
        assert (ledger.writer.written, ledger.writer.spilled) == (120, 0)

    asyncio.run(scenario())
    assert rows_in(Ledger(tmp_path).database) == expected(120)


def test_a_spool_replayed_twice_bills_each_request_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl", 10**6)
    rows = [row_of(outcome(n), PRICES["m"]) for n in range(7)]
    spool.append(rows)
    spool.append(rows[3:])  # spooled again: a shutdown after a write that was not acknowledged
    store = SqliteStore(tmp_path / "usage.sqlite3")
    assert spool.replay(store.insert, batch=3) == 11
    store.close()
    assert not spool.pending()
    assert rows_in(tmp_path / "usage.sqlite3") == expected(7)


def test_a_torn_last_spool_line_is_skipped_and_the_rest_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool.jsonl", 10**6)
    spool.append([row_of(outcome(n), PRICES["m"]) for n in range(3)])
    with spool.path.open("a") as file:
        file.write('{"request_id": "req_cut')  # a crash in the middle of an append
    store = SqliteStore(tmp_path / "usage.sqlite3")
    assert spool.replay(store.insert, batch=10) == 3
    store.close()
    assert rows_in(tmp_path / "usage.sqlite3") == expected(3)
    assert "line 4 unreadable" in caplog.text


def test_requests_sharing_a_clients_request_id_each_get_their_own_row(tmp_path: Path) -> None:
    # A client may send the same X-Client-Request-Id every time; each request is billed.
    store = SqliteStore(tmp_path / "usage.sqlite3")
    shared = [replace(outcome(n), request_id="mine") for n in range(3)]
    store.insert([row_of(o, PRICES["m"]) for o in shared])
    store.close()
    with closing(sqlite3.connect(tmp_path / "usage.sqlite3")) as connection:
        ids = connection.execute("SELECT request_id, prompt_tokens FROM usage_ledger").fetchall()
    assert sorted(ids) == [("mine", 0), ("mine", 1), ("mine", 2)]


class HeldStore(SqliteStore):
    """A SQLite store that records each batch's size and holds the first until released."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sizes: list[int] = []
        self.release = threading.Event()

    def insert(self, rows: Sequence[LedgerRow]) -> None:
        if rows and not self.sizes:
            assert self.release.wait(WAIT_S), "the first batch was never released"
        if rows:
            self.sizes.append(len(rows))
        super().insert(rows)


def test_rows_arriving_during_a_write_wait_for_a_full_batch_or_the_interval(
    tmp_path: Path,
) -> None:
    """Under steady load this is the difference between one transaction per batch and a
    stream of small ones (README: the ledger's cost)."""

    async def scenario() -> None:
        store = HeldStore(tmp_path / "usage.sqlite3")
        settings = LedgerSettings(batch_records=10, flush_interval_s=0.5)
        writer = LedgerWriter(store, Spool(tmp_path / "spool.jsonl", 10**9), PRICES, settings)
        await writer.start()
        for number in range(10):
            writer(outcome(number))  # a full batch: written at once, and held
        await wait_until(lambda: writer.backlog() == 10 and not writer._queue, "batch in flight")
        for number in range(10, 13):
            writer(outcome(number))  # three more while it is being written
        store.release.set()
        await wait_until(lambda: writer.written >= 10, "the first batch written")
        await asyncio.sleep(0.2)  # well within the interval: the three still wait
        assert (store.sizes, writer.backlog()) == ([10], 3)
        await wait_until(lambda: writer.written == 13, "the three written at the interval")
        assert store.sizes == [10, 3]
        await writer.stop()

    asyncio.run(scenario())
