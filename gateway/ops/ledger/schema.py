"""The `usage_ledger` table, one row per answered request, in each store's SQL.

The outcome id (the gateway's own, one per answered request) is the primary
key, so writing a batch again (a retry after a lost acknowledgement, a spool
replayed twice) never bills a request twice. Not the request id: a client may
send the same X-Client-Request-Id with every request, and each must be billed.
The index on (received_at, key_id) serves `python -m gateway.usage`'s ranges,
the one on request_id an operator's lookup of the id a user quotes.
"""

from __future__ import annotations

import functools

from gateway.ops.ledger.record import COLUMNS

TABLE = "usage_ledger"
SQLITE, POSTGRES = 0, 1  # the dialects

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


# SQLite's bound on one statement's parameters (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
SQLITE_MAX_PARAMETERS = 32766
SQLITE_ROWS_PER_STATEMENT = SQLITE_MAX_PARAMETERS // len(COLUMNS)
_UPSERT = "ON CONFLICT (outcome_id) DO NOTHING"


@functools.lru_cache(maxsize=64)
def sqlite_insert_statement(rows: int) -> str:
    """The insert of `rows` rows in one statement, their values bound in column order.

    Why not executemany: it steps the statement once per row, and each step
    releases the GIL and takes it back. Under load the event loop holds the
    GIL, so the writer thread waits out the interpreter's switch interval
    (5 ms) once per row, and a 500-row batch took seconds (the event loop,
    meanwhile, is made to hand over the GIL at each of those waits). One
    statement per batch releases it once.
    """
    row = f"({', '.join('?' * len(COLUMNS))})"
    return f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES {', '.join([row] * rows)} {_UPSERT}"


def postgres_insert_statement() -> str:
    """The insert of a whole batch from ONE parameter, the rows as a JSON array of arrays
    (gateway.ops.ledger.record.batch_json) that PostgreSQL unpacks: one round trip and one
    statement (see sqlite_insert_statement for why not executemany)."""
    values = ", ".join(_postgres_value(name, index) for index, name in enumerate(COLUMNS))
    return (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) "
        f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS item {_UPSERT}"
    )


def _postgres_value(name: str, index: int) -> str:
    text = f"(item ->> {index})"
    if name == "received_at":
        return f"to_timestamp({text}::double precision)"
    column_type = _TYPES[name][POSTGRES].removesuffix(" NOT NULL").removesuffix(" PRIMARY KEY")
    return text if column_type == "TEXT" else f"{text}::{column_type}"
