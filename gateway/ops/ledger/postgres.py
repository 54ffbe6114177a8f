"""The shared ledger of several replicas: a PostgreSQL table, written with psycopg 3.

Each batch is one transaction of one statement, the rows in one JSON
parameter (gateway.ops.ledger.schema.postgres_insert_statement: one round
trip); `ON CONFLICT (outcome_id) DO NOTHING` makes a retried batch harmless.
Connecting waits at most CONNECT_TIMEOUT_S, and TCP_DEFAULTS bound a server
that stops answering mid-write (a network partition sends no reset) to about
10 s: then the batch fails and is retried like any other. A URL that sets one
of these parameters itself keeps its own value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import conninfo

from gateway.ops.ledger.record import LedgerRow, batch_json
from gateway.ops.ledger.schema import POSTGRES, create_statements, postgres_insert_statement
from gateway.ops.ledger.url import PostgresTarget

CONNECT_TIMEOUT_S = 3
TCP_DEFAULTS = {
    "connect_timeout": str(CONNECT_TIMEOUT_S),
    "tcp_user_timeout": "10000",  # ms: sent data unacknowledged this long fails the socket
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}


def with_tcp_defaults(url: str) -> str:
    given = conninfo.conninfo_to_dict(url)
    missing = {name: value for name, value in TCP_DEFAULTS.items() if name not in given}
    return conninfo.make_conninfo(url, **missing)


class PostgresStore:
    def __init__(self, target: PostgresTarget) -> None:
        self.target = target
        self.description = target.safe
        self._connection: psycopg.Connection[Any] | None = None
        self._conninfo = with_tcp_defaults(target.conninfo)
        self._insert = postgres_insert_statement()

    def insert(self, rows: Sequence[LedgerRow]) -> None:
        connection = self._connected()
        try:
            with connection.transaction():
                if rows:
                    connection.execute(self._insert, (batch_json(rows),))
        except psycopg.Error:
            self.close()
            raise

    def check(self) -> None:
        with psycopg.connect(self._conninfo) as connection:
            connection.execute("SELECT 1")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def connect(self) -> psycopg.Connection[Any]:
        """A connection (autocommit; transactions are explicit), the schema created."""
        connection = psycopg.connect(self._conninfo, autocommit=True)
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
