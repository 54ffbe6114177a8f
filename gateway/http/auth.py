"""API keys: who is calling, and with which rate limits.

Keys are never stored in clear: the keys file holds the sha256 (hex) of each
full key, so a leaked keys file does not leak usable keys::

    keys:
      - id: local-dev
        sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        requests_per_minute: 600     # optional, default from the caller
        tokens_per_minute: 200000    # optional, default from the caller

Clients send ``Authorization: Bearer <key>``, as with api.openai.com; nothing
else is accepted. The presented key is hashed and looked up in a dict keyed by
hash, so the time taken never depends on how much of a real key was guessed.

Command line::

    python -m gateway.http.auth new          # a fresh sk-... key and its sha256 line
    python -m gateway.http.auth hash KEY     # the sha256 line of an existing key
    python -m gateway.http.auth hash -       # same, key read from stdin (not in shell history)
"""

from __future__ import annotations

import argparse
import hashlib
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config_errors import ConfigError, read_yaml
from gateway.errors import ApiError

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ENTRY_FIELDS = {"id", "sha256", "requests_per_minute", "tokens_per_minute"}
# Keys this short or shorter are masked completely: showing 9 of 12 characters
# would hand most of a short key to whoever reads the error or the logs.
_SHORTEST_PARTLY_SHOWN_KEY = 13


@dataclass(frozen=True)
class KeyRecord:
    """One API key's identity and limits; never holds the key itself."""

    id: str
    rpm: int
    tpm: int


def hash_key(key: str) -> str:
    """The sha256 hex digest stored in the keys file for `key`."""
    # surrogatepass: any str a header can decode to hashes instead of raising.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def mask_key(key: str) -> str:
    """The key as shown in errors: first 5 and last 4 characters, or nothing if short."""
    if len(key) < _SHORTEST_PARTLY_SHOWN_KEY:
        return "***"
    return f"{key[:5]}***{key[-4:]}"


class KeyStore:
    """The accepted keys, looked up by the sha256 of the presented key."""

    def __init__(self, records_by_hash: Mapping[str, KeyRecord]):
        self._records_by_hash = dict(records_by_hash)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        default_rpm: int,
        default_tpm: int,
    ) -> KeyStore:
        """Load a keys file; raises `ConfigError` naming the file and the problem."""
        if default_rpm < 1 or default_tpm < 1:
            raise ValueError(f"default limits must be positive: {default_rpm=}, {default_tpm=}")
        entries = _read_key_entries(Path(path))
        records = _parse_entries(Path(path), entries, default_rpm, default_tpm)
        return cls(records)

    def __len__(self) -> int:
        return len(self._records_by_hash)

    @property
    def ids(self) -> frozenset[str]:
        """Every key's id (never the key): the bounded values of a `key_id` label."""
        return frozenset(record.id for record in self._records_by_hash.values())

    def authenticate(self, authorization_header: str | None) -> KeyRecord:
        """The caller's record, or a 401 `ApiError` worded like api.openai.com's."""
        key = _bearer_key(authorization_header)
        if key is None:
            raise _auth_error(_MISSING_KEY)
        record = self._records_by_hash.get(hash_key(key))
        if record is None:
            raise _auth_error(_incorrect_key_message(key))
        return record


def _bearer_key(authorization_header: str | None) -> str | None:
    """The key in ``Bearer <key>``; None when absent, empty or another scheme."""
    if authorization_header is None:
        return None
    scheme, _, key = authorization_header.strip().partition(" ")
    # Auth schemes are case-insensitive (RFC 9110 section 11.1).
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


def _auth_error(message: str) -> ApiError:
    return ApiError(
        401,
        message,
        type="invalid_request_error",
        code="invalid_api_key",
        anchor="authentication",
    )


# api.openai.com's words, with "the gateway's operator" where it names its dashboard.
_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an "
    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). "
    "Ask the gateway's operator for an API key."
)


def _incorrect_key_message(key: str) -> str:
    return (
        f"Incorrect API key provided: {mask_key(key)}. "
        "Ask the gateway's operator for a valid API key."
    )


def _read_key_entries(path: Path) -> list[Any]:
    """The raw `keys:` list of the file, checked only for shape."""
    document = read_yaml(path, "keys file")
    if not isinstance(document, dict) or set(document) != {"keys"}:
        raise ConfigError(path, "expected a mapping with exactly one field, `keys`")
    entries = document["keys"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(path, "`keys` must be a non-empty list")
    return entries


def _parse_entries(
    path: Path, entries: Sequence[Any], default_rpm: int, default_tpm: int
) -> dict[str, KeyRecord]:
    records_by_hash: dict[str, KeyRecord] = {}
    seen_ids: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"keys[{index}]"
        digest, record = _parse_entry(path, where, entry, default_rpm, default_tpm)
        if record.id in seen_ids:
            raise ConfigError(path, f"{where}: duplicate id {record.id!r}")
        if digest in records_by_hash:
            raise ConfigError(path, f"{where}: same sha256 as {records_by_hash[digest].id!r}")
        seen_ids.add(record.id)
        records_by_hash[digest] = record
    return records_by_hash


def _parse_entry(
    path: Path, where: str, entry: Any, default_rpm: int, default_tpm: int
) -> tuple[str, KeyRecord]:
    if not isinstance(entry, dict):
        raise ConfigError(path, f"{where}: expected a mapping with `id` and `sha256`")
    unknown = set(entry) - _ENTRY_FIELDS
    if unknown:
        # A misspelt limit would otherwise silently fall back to the default.
        raise ConfigError(path, f"{where}: unknown field(s) {sorted(map(str, unknown))}")
    key_id = entry.get("id")
    if not isinstance(key_id, str) or not key_id.strip():
        raise ConfigError(path, f"{where}.id: expected a non-empty string")
    digest = _parse_digest(path, f"{where}.sha256", entry.get("sha256"))
    rpm = _parse_limit(path, where, "requests_per_minute", entry, default_rpm)
    tpm = _parse_limit(path, where, "tokens_per_minute", entry, default_tpm)
    return digest, KeyRecord(id=key_id, rpm=rpm, tpm=tpm)


def _parse_digest(path: Path, where: str, value: Any) -> str:
    # The value is never echoed: someone may have pasted the key itself here.
    if not isinstance(value, str):
        raise ConfigError(path, f"{where}: expected a string of 64 hex characters")
    digest = value.strip().lower()
    if not _SHA256_HEX.fullmatch(digest):
        raise ConfigError(
            path,
            f"{where}: expected the sha256 hex digest of the key (64 hex characters), "
            f"got {len(value)} characters; `python -m gateway.http.auth hash -` computes it",
        )
    return digest


def _parse_limit(path: Path, where: str, field: str, entry: Mapping[str, Any], default: int) -> int:
    value = entry.get(field, default)
    # bool is an int subclass; `requests_per_minute: yes` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(path, f"{where}.{field}: expected a positive integer, got {value!r}")
    return value


def new_key() -> str:
    """A fresh random key in OpenAI's ``sk-`` style (256 bits of entropy)."""
    return "sk-" + secrets.token_urlsafe(32)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.http.auth", description="API key tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("new", help="generate a key; print it and its sha256 line")
    hash_command = commands.add_parser("hash", help="print the sha256 line of a key")
    hash_command.add_argument("key", help="the key, or - to read it from stdin")
    args = parser.parse_args(argv)
    if args.command == "new":
        key = new_key()
        print(f"key: {key}")
    else:
        key = sys.stdin.readline().strip() if args.key == "-" else args.key
    print(f'sha256: "{hash_key(key)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
