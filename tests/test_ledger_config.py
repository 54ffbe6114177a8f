"""The ledger's configuration: `ledger_url` and its override, checked at start-up; an
unreachable PostgreSQL at start is not fatal."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import load_config
from gateway.config_errors import ConfigError
from gateway.ops.ledger.setup import spool_path
from gateway.ops.ledger.url import PostgresTarget, SqliteTarget, parse_ledger_url

BASE = "catalog: catalog.yaml\nkeys: keys.yaml\n"


def config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(BASE + extra)
    return path


def test_the_default_ledger_is_a_sqlite_file_beside_the_configuration(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    config = load_config(path, environ={})
    assert config.ledger_url is not None
    target = parse_ledger_url(config.ledger_url, path.parent)
    assert target == SqliteTarget(tmp_path / "var" / "usage.sqlite3")
    assert spool_path(config, config.ledger_url, path.parent) == (
        tmp_path / "var" / "usage.sqlite3.spool.jsonl"
    )


def test_gateway_ledger_url_overrides_the_file_and_empty_turns_the_ledger_off(
    tmp_path: Path,
) -> None:
    path = config_file(tmp_path, "ledger_url: sqlite:///a.sqlite3\n")
    url = "postgresql://gw:secret@db.internal:5432/usage"
    config = load_config(path, environ={"GATEWAY_LEDGER_URL": url})
    assert config.ledger_url == url
    target = parse_ledger_url(url, tmp_path)
    assert isinstance(target, PostgresTarget)
    assert target.safe == "postgresql://gw@db.internal:5432/usage"  # no password in logs
    assert load_config(path, environ={"GATEWAY_LEDGER_URL": ""}).ledger_url is None


def test_an_absolute_sqlite_path_has_four_slashes(tmp_path: Path) -> None:
    assert parse_ledger_url("sqlite:////srv/usage.sqlite3", tmp_path) == SqliteTarget(
        Path("/srv/usage.sqlite3")
    )


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://localhost/usage", "ledger_url must start with sqlite:/// or postgresql://"),
        ("sqlite://usage.sqlite3", "ledger_url must start with"),
        ("sqlite:///", "names no file"),
        ("postgresql://gw:pw@host:notaport/db", "is not a valid URL"),
    ],
)
def test_a_bad_ledger_url_is_a_config_error_naming_the_problem(
    tmp_path: Path, url: str, fragment: str
) -> None:
    path = config_file(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={"GATEWAY_LEDGER_URL": url})
    assert fragment in str(raised.value) and str(path) in str(raised.value)
    assert "pw@" not in str(raised.value)  # a password is never repeated


def test_ledger_bounds_must_be_positive(tmp_path: Path) -> None:
    path = config_file(tmp_path, "ledger:\n  buffer_records: 0\n")
    with pytest.raises(ConfigError, match=r"ledger\.buffer_records must be positive"):
        load_config(path, environ={})


def test_serve_with_a_bad_ledger_url_exits_2_with_the_message(gateway_config: Path) -> None:
    environment = {"GATEWAY_CONFIG": str(gateway_config), "GATEWAY_LEDGER_URL": "ftp://x/y"}
    result = subprocess.run(
        [sys.executable, "-m", "gateway.serve"],
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ledger_url must start with" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_an_unreachable_postgresql_at_start_is_not_fatal(
    start_gateway_server: Any, local_key: str, unused_port: Any, tmp_path: Path
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{unused_port()}/usage"
    environment = {"GATEWAY_LEDGER_URL": url, "GATEWAY_LEDGER_SPOOL": str(tmp_path / "s.jsonl")}
    with start_gateway_server(environment) as gateway:
        answer = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "chat-plain", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {local_key}"},
            timeout=20,
        )
        assert answer.status_code == 200
        deadline = time.monotonic() + 10
        while "retrying with backoff" not in (log := gateway.log_tail()):
            assert time.monotonic() < deadline, log
            time.sleep(0.05)
    assert "ledger postgresql://postgres@127.0.0.1:" in log and "unavailable" in log


def test_postgresql_connections_get_tcp_bounds_unless_the_url_sets_its_own() -> None:
    from psycopg import conninfo

    from gateway.ops.ledger.postgres import with_tcp_defaults

    merged = conninfo.conninfo_to_dict(with_tcp_defaults("postgresql://u@h/db?connect_timeout=9"))
    assert merged["connect_timeout"] == "9"
    assert (merged["tcp_user_timeout"], merged["keepalives"]) == ("10000", "1")
    assert (merged["host"], merged["dbname"]) == ("h", "db")
