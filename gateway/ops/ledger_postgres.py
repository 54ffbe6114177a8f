"""The shared ledger of several replicas: a PostgreSQL table, written with psycopg 3.

Each batch is one transaction of one pipelined `executemany` (psycopg sends the
rows without waiting for each answer); `ON CONFLICT (request_id) DO NOTHING`
makes a retried batch harmless. Connecting waits at most CONNECT_TIMEOUT_S, so
a server that is down costs the writer a bounded wait, then a retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from gateway.ops.ledger_record import LedgerRow
from gateway.ops.ledger_schema import POSTGRES, create_statements, insert_statement
from gateway.ops.ledger_url import PostgresTarget

CONNECT_TIMEOUT_S = 3


class PostgresStore:
    def __init__(self, target: PostgresTarget) -> None:
        self.target = target
        self.description = target.safe
        self._connection: psycopg.Connection[Any] | None = None
        self._insert = insert_statement("%s", "to_timestamp(%s)")

    def insert(self, rows: Sequence[LedgerRow]) -> None:
        connection = self._connected()
        try:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(self._insert, rows)  # a row is its values
        except psycopg.Error:
            self.close()
            raise

    def check(self) -> None:
        conninfo = self.target.conninfo
        with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S) as connection:
            connection.execute("SELECT 1")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def connect(self) -> psycopg.Connection[Any]:
        """A connection (autocommit; transactions are explicit), the schema created."""
        connection = psycopg.connect(
            self.target.conninfo, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True
        )
        try:
            with connection.transaction():
                for statement in create_statements(POSTGRES):
                    connection.execute(statement)
        except psycopg.Error:
            connection.close()
            raise
        return connection

    def _connected(self) -> psycopg.Connection[Any]:
        if self._connection is None:
            self._connection = self.connect()
        return self._connection
