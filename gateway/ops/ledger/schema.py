"""The `usage_ledger` table, one row per answered request, in each store's SQL.

The outcome id (the gateway's own, one per answered request) is the primary
key, so writing a batch again (a retry after a lost acknowledgement, a spool
replayed twice) never bills a request twice. Not the request id: a client may
send the same X-Client-Request-Id with every request, and each must be billed.
The index on (received_at, key_id) serves `python -m gateway.usage`'s ranges,
the one on request_id an operator's lookup of the id a user quotes.
"""

from __future__ import annotations

from gateway.ops.ledger.record import COLUMNS

TABLE = "usage_ledger"

_TYPES = {
    # column: (SQLite type, PostgreSQL type)
    "outcome_id": ("TEXT PRIMARY KEY", "TEXT PRIMARY KEY"),
    "request_id": ("TEXT NOT NULL", "TEXT NOT NULL"),
    # SQLite: seconds since the epoch (its `unixepoch` modifier reads them:
    # SELECT datetime(received_at, 'unixepoch')), bound as is, without a conversion.
    "received_at": ("REAL NOT NULL", "TIMESTAMPTZ NOT NULL"),
    "key_id": ("TEXT", "TEXT"),
    "model": ("TEXT", "TEXT"),
    "endpoint": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "status": ("INTEGER NOT NULL", "INTEGER NOT NULL"),
    "stream": ("INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    "prompt_tokens": ("INTEGER", "BIGINT"),
    "completion_tokens": ("INTEGER", "BIGINT"),
    "cached_tokens": ("INTEGER", "BIGINT"),
    "latency_s": ("REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    "first_token_s": ("REAL", "DOUBLE PRECISION"),
    "error_type": ("TEXT", "TEXT"),
    "error_param": ("TEXT", "TEXT"),
    "error_code": ("TEXT", "TEXT"),
    "stream_end": ("TEXT", "TEXT"),
    "cost_nanousd": ("INTEGER", "BIGINT"),  # exact money: 1e-9 USD (ledger_record)
}
assert tuple(_TYPES) == COLUMNS, "the table's columns are the record's fields, in order"


def create_statements(dialect: int) -> tuple[str, ...]:
    """CREATE TABLE and its indexes, all IF NOT EXISTS; dialect 0 SQLite, 1 PostgreSQL."""
    columns = ",\n  ".join(f"{name} {types[dialect]}" for name, types in _TYPES.items())
    return (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  {columns}\n)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_time_key ON {TABLE} (received_at, key_id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_request_id ON {TABLE} (request_id)",
    )


def insert_statement(placeholder: str, time_placeholder: str) -> str:
    """The batch insert; `time_placeholder` binds received_at (epoch seconds)."""
    marks = [time_placeholder if name == "received_at" else placeholder for name in COLUMNS]
    values = ", ".join(marks)
    return (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({values}) "
        "ON CONFLICT (outcome_id) DO NOTHING"
    )


SQLITE, POSTGRES = 0, 1
