"""The ledger's spill file: rows the database could not take while memory was full.

An append-only file of JSON lines (one `LedgerRow` each), fsynced after each
appended batch, replayed into the database once it answers again, then emptied.
Several gateway processes may share one file: each append and each replay holds
an exclusive `flock` on it. A replay that fails half-way leaves the file as it
is; replaying again is harmless, as the table skips request ids it has.

Bounded by `max_bytes`: a batch that would grow the file past it is not written
(the caller counts and logs it as dropped).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from gateway.ops.ledger.record import LedgerRow

log = logging.getLogger(__name__)


class SpoolFull(Exception):
    """The batch would grow the spool past its bound."""


class Spool:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def append(self, rows: Sequence[LedgerRow]) -> None:
        """Append `rows` durably; SpoolFull past the bound, OSError if the disk refuses."""
        data = "".join(json.dumps(row.to_json(), separators=(",", ":")) + "\n" for row in rows)
        encoded = data.encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked("ab") as file:
            if file.tell() + len(encoded) > self.max_bytes:
                raise SpoolFull(f"{self.path} would exceed {self.max_bytes} bytes")
            file.write(encoded)
            file.flush()
            os.fsync(file.fileno())

    def pending(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def replay(self, write: Callable[[Sequence[LedgerRow]], None], batch: int) -> int:
        """Write every spooled row through `write`, `batch` rows at a time, then empty the
        file; returns how many rows were replayed. Raises (file kept) when `write` fails."""
        if not self.pending():
            return 0
        with self._locked("r+b") as file:
            replayed = 0
            for rows in _batches(file, batch, self.path):
                write(rows)
                replayed += len(rows)
            file.truncate(0)
            file.flush()
            os.fsync(file.fileno())
        return replayed

    @contextmanager
    def _locked(self, mode: str) -> Iterator[IO[bytes]]:
        with self.path.open(mode) as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            file.seek(0, os.SEEK_END if "a" in mode else os.SEEK_SET)
            yield file  # the lock goes with the file's close


def _batches(file: IO[bytes], size: int, path: Path) -> Iterator[list[LedgerRow]]:
    rows: list[LedgerRow] = []
    for number, line in enumerate(file, start=1):
        row = _parse(line, number, path)
        if row is not None:
            rows.append(row)
        if len(rows) >= size:
            yield rows
            rows = []
    if rows:
        yield rows


def _parse(line: bytes, number: int, path: Path) -> LedgerRow | None:
    if not line.strip():
        return None
    try:
        return LedgerRow.from_json(json.loads(line))
    except (ValueError, TypeError) as error:
        # Only a write cut short by a crash (the last line) can look like this.
        log.error("ledger spool %s line %d unreadable, skipped: %s", path, number, error)
        return None
