"""The usage ledger's writer: the observer that queues each outcome, and the task that
writes the queue to the database in batches, off the event loop.

On the request path the observer only appends the outcome to an in-memory deque
(no conversion, no I/O). A background task wakes when a batch is full or every
`flush_interval_s`, and hands up to `batch_records` at a time to one writer
thread, which turns them into rows (gateway.ops.ledger.record) and inserts them
in one transaction.

Nothing is lost, within stated bounds:
- database down: the rows stay in memory and the batch is retried with
  exponential backoff (0.5 s doubling up to `backoff_max_s`);
- more than `buffer_records` waiting: the oldest beyond the bound are appended
  to the spool file (gateway.ops.ledger.spool, fsynced), replayed once the
  database takes writes again;
- spool past `spool_max_bytes`, or the disk refusing: those rows are dropped,
  counted in `dropped` and logged as an error (the one loss, and it is loud);
- shutdown: `stop()` writes what is queued for at most `shutdown_s`, then
  spools the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway.catalog import Prices
from gateway.observe import RequestOutcome
from gateway.ops.ledger.record import LedgerRow, row_of
from gateway.ops.ledger.spool import Spool, SpoolFull
from gateway.ops.ledger.store import LedgerStore

log = logging.getLogger(__name__)

Item = RequestOutcome | LedgerRow  # an outcome not yet converted, or a replayed row
CHECK_TIMEOUT_S = 2.0  # the readiness probe's longest wait for the database
LOG_EVERY_S = 10.0  # a repeated warning (spill, drop) is logged at most this often


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    buffer_records: int = 100_000
    batch_records: int = 500
    flush_interval_s: float = 0.5
    shutdown_s: float = 5.0
    backoff_max_s: float = 10.0


class LedgerWriter:
    """Observer of every `RequestOutcome`; `start()`/`stop()` run its background writer."""

    def __init__(
        self,
        store: LedgerStore,
        spool: Spool,
        prices: Mapping[str, Prices | None],
        settings: LedgerSettings = LedgerSettings(),
    ) -> None:
        self.store = store
        self.spool = spool
        self.settings = settings
        self.written = 0  # rows the database acknowledged (replayed ones included)
        self.spilled = 0  # rows appended to the spool file
        self.dropped = 0  # rows lost: the spool was full or not writable
        self._prices = dict(prices)
        self._queue: deque[Item] = deque()
        self._held: deque[Item] = deque()  # a failed batch, put back in front of the queue
        self._inflight: list[Item] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
        self._last_error: str | None = None
        self._logged_at: dict[str, float] = {}

    # ------------------------------------------------------------ the request path

    def __call__(self, outcome: RequestOutcome, /) -> None:
        self._queue.append(outcome)
        if len(self._queue) == self.settings.batch_records:
            self._wake.set()

    # ------------------------------------------------------------ what operators read

    def backlog(self) -> int:
        """Rows not yet in the database or the spool."""
        return len(self._queue) + len(self._held) + len(self._inflight)

    async def problem(self) -> str | None:
        """None when the ledger takes writes (a trivial write or SELECT 1 works), else why not."""
        if self._last_error is not None:
            return f"ledger {self.store.description} not writable: {self._last_error}"
        try:
            await asyncio.wait_for(asyncio.to_thread(self.store.check), CHECK_TIMEOUT_S)
        except TimeoutError:
            return f"ledger {self.store.description} did not answer within {CHECK_TIMEOUT_S} s"
        except Exception as error:
            return f"ledger {self.store.description} not writable: {_short(error)}"
        return None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ledger writer")

    async def stop(self) -> None:
        """Write what is queued within `shutdown_s`; spool what could not be written."""
        self._stopping = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_s
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), self.settings.shutdown_s)
            self._task.cancel()  # still writing past the bound: its batch is spooled below
        while self.backlog() and not self._inflight:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._write_batch(timeout_s=remaining):
                break
        left = [*self._inflight, *self._held, *self._queue]
        self._inflight, self._held, self._queue = [], deque(), deque()
        if left:
            await asyncio.to_thread(self._spool_items, left, "at shutdown")
        log.info(
            "ledger %s stopped: %d rows written, %d spilled to %s, %d dropped",
            self.store.description, self.written, self.spilled, self.spool.path, self.dropped,
        )  # fmt: skip
        self._executor.submit(self.store.close)
        self._executor.shutdown(wait=False)

    # ------------------------------------------------------------ the background task

    async def _run(self) -> None:
        failures = 0 if await self._prepare() else 1
        while not self._stopping:
            if failures:
                await self._backoff(failures)
            else:
                await self._idle()
            if self._stopping:
                return
            failures = 0 if await self._write_all() else failures + 1

    async def _prepare(self) -> bool:
        """Connect and create the schema now, so a bad database shows at start-up (not fatal:
        the rows wait in memory and readiness says why)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.store.insert, [])
        except Exception as error:
            self._failed(error)
            return False
        return True

    async def _idle(self) -> None:
        self._wake.clear()
        if len(self._queue) >= self.settings.batch_records:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.flush_interval_s)

    async def _backoff(self, failures: int) -> None:
        """Wait before the next attempt, spilling past the memory bound meanwhile."""
        delay = min(0.5 * 2 ** (failures - 1), self.settings.backoff_max_s)
        end = time.monotonic() + delay
        while not self._stopping and (left := end - time.monotonic()) > 0:
            await self._spill_overflow()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(left, self.settings.flush_interval_s))

    async def _write_all(self) -> bool:
        """Write what waits, then replay the spool; False on a failure.

        Past the first batch, only full batches: the rows that arrived while a batch
        was written wait for the next wake (a full batch, or `flush_interval_s`).
        Writing them at once made, under load, a stream of small transactions, each
        with its own commit and round trip, for the same rows."""
        while self.backlog() and not self._stopping:
            await self._spill_overflow()
            if not await self._write_batch(timeout_s=None):
                return False
            if self.backlog() < self.settings.batch_records:
                break
        if self._stopping or not self.spool.pending():
            return True
        return await self._replay()

    async def _write_batch(self, timeout_s: float | None) -> bool:
        batch = self._take(self.settings.batch_records)
        self._inflight = batch
        loop = asyncio.get_running_loop()
        try:
            write = loop.run_in_executor(self._executor, self._insert, batch)
            await asyncio.wait_for(write, timeout_s)
        except TimeoutError:
            return False  # at shutdown: the batch stays in flight and is spooled
        except Exception as error:
            self._held.extendleft(reversed(batch))
            self._inflight = []
            self._failed(error)
            return False
        self._inflight = []
        self._succeeded()
        return True

    async def _replay(self) -> bool:
        loop = asyncio.get_running_loop()
        try:
            replayed = await loop.run_in_executor(
                self._executor, self.spool.replay, self._insert, self.settings.batch_records
            )
        except Exception as error:
            self._failed(error)
            return False
        log.info("ledger: replayed %d spooled rows from %s", replayed, self.spool.path)
        return True

    async def _spill_overflow(self) -> None:
        excess = self.backlog() - self.settings.buffer_records
        if excess <= 0:
            return
        items = self._take(excess)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._spool_items, items, "past the bound")

    # ------------------------------------------------------------ in the writer thread

    def _insert(self, items: Iterable[Item]) -> None:
        rows = [self._row(item) for item in items]
        if rows:
            self.store.insert(rows)
            self.written += len(rows)

    def _spool_items(self, items: list[Item], why: str) -> None:
        rows = [self._row(item) for item in items]
        try:
            self.spool.append(rows)
        except (SpoolFull, OSError) as error:
            self.dropped += len(rows)
            self._throttled(
                "drop", logging.ERROR,
                "ledger: %d rows DROPPED (%s): %s; %d dropped so far",
                len(rows), why, error, self.dropped,
            )  # fmt: skip
            return
        self.spilled += len(rows)
        self._throttled(
            "spill", logging.WARNING,
            "ledger: %d rows spilled to %s (%s: %d rows held in memory at most); %d so far",
            len(rows), self.spool.path, why, self.settings.buffer_records, self.spilled,
        )  # fmt: skip

    def _row(self, item: Item) -> LedgerRow:
        if isinstance(item, LedgerRow):
            return item
        return row_of(item, self._prices.get(item.model) if item.model else None)

    # ------------------------------------------------------------ bookkeeping

    def _take(self, count: int) -> list[Item]:
        taken: list[Item] = []
        for source in (self._held, self._queue):
            while source and len(taken) < count:
                taken.append(source.popleft())
        return taken

    def _failed(self, error: Exception) -> None:
        first = self._last_error is None
        self._last_error = _short(error)
        if first:
            log.warning(
                "ledger %s unavailable (%s): keeping rows in memory (%d waiting, at most %d, "
                "then spilled to %s) and retrying with backoff",
                self.store.description, self._last_error, self.backlog(),
                self.settings.buffer_records, self.spool.path,
            )  # fmt: skip

    def _succeeded(self) -> None:
        if self._last_error is not None:
            log.warning(
                "ledger %s writable again; %d rows waiting, %d spilled, %d dropped so far",
                self.store.description, self.backlog(), self.spilled, self.dropped,
            )  # fmt: skip
            self._last_error = None

    def _throttled(self, what: str, level: int, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._logged_at.get(what, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged_at[what] = now
            log.log(level, message, *args)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
