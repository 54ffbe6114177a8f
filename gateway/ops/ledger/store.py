"""What the ledger's writer needs of a database, and the store for a `ledger_url`.

A store is used from one writer thread at a time (its `insert`), except `check`,
which opens a connection of its own so that a readiness probe never waits for a
batch in flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from gateway.ops.ledger.record import LedgerRow
from gateway.ops.ledger.url import PostgresTarget, parse_ledger_url


class LedgerStore(Protocol):
    description: str  # where the rows go, without a password: for log lines

    def insert(self, rows: Sequence[LedgerRow]) -> None:
        """Write `rows` in one transaction, skipping request ids already written; connects
        (and creates the schema) when not connected; raises when the database fails."""

    def check(self) -> None:
        """A trivial write or SELECT 1 on a fresh connection; raises when it fails."""

    def close(self) -> None: ...


def open_store(url: str, base: Path) -> LedgerStore:
    """The store of `url` (relative SQLite paths from `base`); connects lazily."""
    target = parse_ledger_url(url, base)
    if isinstance(target, PostgresTarget):
        from gateway.ops.ledger.postgres import PostgresStore

        return PostgresStore(target)
    from gateway.ops.ledger.sqlite import SqliteStore

    return SqliteStore(target.path)
