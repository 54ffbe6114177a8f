"""The embedded ledger: one SQLite file (WAL mode, so reports read while the gateway writes).

Several gateway processes on one machine may share the file: SQLite locks it,
and each writer waits up to BUSY_TIMEOUT_S for the others' transactions.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from gateway.ops.ledger.record import LedgerRow
from gateway.ops.ledger.schema import (
    SQLITE,
    SQLITE_ROWS_PER_STATEMENT,
    create_statements,
    sqlite_insert_statement,
)

BUSY_TIMEOUT_S = 5.0


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"sqlite:///{path}"
        self._connection: sqlite3.Connection | None = None

    def insert(self, rows: Sequence[LedgerRow]) -> None:
        connection = self._connected()
        try:
            with connection:  # one transaction: committed, or rolled back on error
                for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
                    chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
                    values = list(itertools.chain.from_iterable(chunk))  # a row is its values
                    connection.execute(sqlite_insert_statement(len(chunk)), values)
        except sqlite3.Error:
            self.close()
            raise

    def check(self) -> None:
        connection = self.connect(timeout_s=1.0)
        try:
            connection.execute("BEGIN IMMEDIATE")  # takes the write lock: the file is writable
            connection.execute("ROLLBACK")
        finally:
            connection.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def connect(self, timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
        """A connection to the file, created with its schema if need be."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One writer thread uses the connection; the check is off so that a shutdown may
        # close it from another thread should that one be stuck.
        connection = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            for statement in create_statements(SQLITE):
                connection.execute(statement)
            connection.commit()
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    def _connected(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self.connect()
        return self._connection
