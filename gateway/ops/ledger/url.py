"""Where the ledger lives: `ledger_url` parsed into a SQLite file or a PostgreSQL server.

`sqlite:///var/usage.sqlite3` is a file relative to the configuration file's
directory (three slashes), `sqlite:////srv/usage.sqlite3` an absolute one (four);
`postgresql://user:password@host:port/dbname?sslmode=…` (or `postgres://`) is
passed to libpq as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


@dataclass(frozen=True, slots=True)
class SqliteTarget:
    path: Path


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    conninfo: str

    @property
    def safe(self) -> str:
        """The URL without its password, for logs."""
        parts = urlsplit(self.conninfo)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
        return f"{parts.scheme}://{user}{host}{port}{parts.path}"


LedgerTarget = SqliteTarget | PostgresTarget


def parse_ledger_url(url: str, base: Path) -> LedgerTarget:
    """The target of `url`; ValueError saying what is wrong with it."""
    if url.startswith(SQLITE_PREFIX):
        relative = url[len(SQLITE_PREFIX) :]
        if not relative or relative.endswith("/"):
            raise ValueError(f"ledger_url {url!r} names no file")
        path = Path(relative)
        return SqliteTarget((base / path).resolve())  # base / an absolute path is the path
    if url.startswith(POSTGRES_PREFIXES):
        return PostgresTarget(_checked_postgres(url))
    raise ValueError(
        f"ledger_url must start with sqlite:/// or postgresql://, got {_redacted(url)!r}"
    )


def _checked_postgres(url: str) -> str:
    from psycopg import conninfo  # only needed (and imported) for a PostgreSQL ledger

    try:
        conninfo.conninfo_to_dict(url)
        port = urlsplit(url).port  # libpq accepts host lists; a bad port number it does not
    except Exception as error:  # psycopg.ProgrammingError or ValueError from urlsplit
        raise ValueError(f"ledger_url {_redacted(url)!r} is not a valid URL: {error}") from None
    if port == 0:
        raise ValueError(f"ledger_url {_redacted(url)!r}: port must be 1..65535")
    return url


def _redacted(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password:
            return url.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        pass
    return url
