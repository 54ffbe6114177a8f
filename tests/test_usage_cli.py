"""`python -m gateway.usage` on a known SQLite ledger: totals per day, key and model, the
range, the cost column, each format; and its errors (a child process, as an operator runs it)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.ops.ledger.record import LedgerRow
from gateway.ops.ledger.sqlite import SqliteStore

DAY1 = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC).timestamp()


def row(number: int, when: float, key: str, model: str | None, **fields: object) -> LedgerRow:
    values: dict[str, object] = {
        "outcome_id": f"o{number}",
        "request_id": f"req_{number}",
        "received_at": when,
        "key_id": key,
        "model": model,
        "endpoint": "chat.completions",
        "status": 200,
        "stream": False,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached_tokens": 4,
        "latency_s": 0.1,
        "first_token_s": None,
        "error_type": None,
        "error_param": None,
        "error_code": None,
        "stream_end": None,
        "cost_nanousd": 1_575,
        **fields,
    }
    return LedgerRow(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("usage") / "usage.sqlite3"
    store = SqliteStore(path)
    store.insert(
        [
            row(1, DAY1, "team-a", "chat"),
            row(2, DAY1 - 3600, "team-a", "chat"),
            row(3, DAY2, "team-a", "chat", cost_nanousd=3_000_000_001),
            row(4, DAY2, "team-b", "chat", prompt_tokens=7, cached_tokens=0, cost_nanousd=700),
            row(5, DAY2, "team-b", "free", cost_nanousd=None),
            # refused: no tokens, no cost, counted as an error
            row(6, DAY2, "team-b", None, status=400, prompt_tokens=None, completion_tokens=None,
                cached_tokens=None, cost_nanousd=None, error_type="invalid_request_error"),
            # a stream that ended with an error event is an error too, though answered 200
            row(7, DAY2, "team-b", "free", stream=True, stream_end="engine_error",
                error_type="server_error", cost_nanousd=None),
        ]
    )  # fmt: skip
    store.close()
    return f"sqlite:///{path}"


def usage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.usage", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_totals_per_day_key_and_model_with_exact_cost(ledger: str) -> None:
    result = usage("--ledger", ledger, "--format", "json")
    assert result.returncode == 0, result.stderr
    totals = json.loads(result.stdout)
    assert totals == [
        {"day": "2026-11-30", "key_id": "team-a", "model": "chat", "requests": 2, "errors": 0,
         "prompt_tokens": 20, "completion_tokens": 10, "cached_tokens": 8,
         "cost_usd": "0.00000315"},
        {"day": "2026-12-01", "key_id": "team-a", "model": "chat", "requests": 1, "errors": 0,
         "prompt_tokens": 10, "completion_tokens": 5, "cached_tokens": 4,
         "cost_usd": "3.000000001"},
        {"day": "2026-12-01", "key_id": "team-b", "model": None, "requests": 1, "errors": 1,
         "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "cost_usd": None},
        {"day": "2026-12-01", "key_id": "team-b", "model": "chat", "requests": 1, "errors": 0,
         "prompt_tokens": 7, "completion_tokens": 5, "cached_tokens": 0,
         "cost_usd": "0.0000007"},
        {"day": "2026-12-01", "key_id": "team-b", "model": "free", "requests": 2, "errors": 1,
         "prompt_tokens": 20, "completion_tokens": 10, "cached_tokens": 8, "cost_usd": None},
    ]  # fmt: skip


def test_csv_has_a_header_and_one_line_per_group(ledger: str) -> None:
    result = usage("--ledger", ledger, "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = list(csv.reader(io.StringIO(result.stdout)))
    assert lines[0] == [
        "day", "key_id", "model", "requests", "errors",
        "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd",
    ]  # fmt: skip
    assert lines[1] == ["2026-11-30", "team-a", "chat", "2", "0", "20", "10", "8", "0.00000315"]
    assert len(lines) == 6


def test_the_table_aligns_columns_and_ends_with_the_total(ledger: str) -> None:
    result = usage("--ledger", ledger)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "day", "key_id", "model", "requests", "errors",
        "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd",
    ]  # fmt: skip
    assert lines[-1].split() == ["total", "7", "2", "57", "30", "20", "3.000003851"]
    assert len({len(line) for line in lines[:2]}) == 1  # the rule is as wide as the header


def test_since_and_until_are_whole_utc_days_both_included(ledger: str) -> None:
    day1 = usage(
        "--ledger", ledger, "--since", "2026-11-30", "--until", "2026-11-30", "--format", "json"
    )
    assert [t["day"] for t in json.loads(day1.stdout)] == ["2026-11-30"]
    day2 = usage("--ledger", ledger, "--since", "2026-12-01", "--format", "json")
    assert sum(t["requests"] for t in json.loads(day2.stdout)) == 5


def test_a_date_time_until_excludes_that_instant(ledger: str) -> None:
    result = usage("--ledger", ledger, "--until", "2026-11-30T23:59:59Z", "--format", "json")
    assert [t["requests"] for t in json.loads(result.stdout)] == [1]  # only the 22:59:59 row


def test_no_cost_column_when_no_row_has_a_price(ledger: str) -> None:
    result = usage("--ledger", ledger, "--since", "2026-12-01T00:00:00", "--format", "csv")
    assert "cost_usd" in result.stdout  # this range has priced rows ...
    free = usage("--ledger", ledger, "--until", "2026-11-01", "--format", "csv")
    assert free.stdout.splitlines()[0].split(",")[-1] == "cached_tokens"  # ... this one none


def test_a_missing_ledger_or_a_bad_date_is_a_message_and_exit_2(tmp_path: Path) -> None:
    missing = usage("--ledger", f"sqlite:///{tmp_path}/none.sqlite3")
    assert missing.returncode == 2
    assert "no ledger at" in missing.stderr and "Traceback" not in missing.stderr
    bad = usage("--ledger", f"sqlite:///{tmp_path}/none.sqlite3", "--since", "yesterday")
    assert bad.returncode == 2 and "not an ISO date" in bad.stderr
    scheme = usage("--ledger", "mysql://localhost/x")
    assert scheme.returncode == 2 and "ledger_url must start with" in scheme.stderr


def test_without_ledger_the_configurations_ledger_url_is_read(tmp_path: Path, ledger: str) -> None:
    config = Path(ledger.removeprefix("sqlite:///")).parent / "gateway.yaml"
    config.write_text("catalog: c.yaml\nkeys: k.yaml\nledger_url: sqlite:///usage.sqlite3\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway.usage", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"GATEWAY_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert sum(t["requests"] for t in json.loads(result.stdout)) == 7
