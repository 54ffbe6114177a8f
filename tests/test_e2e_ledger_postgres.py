"""The usage ledger on a real PostgreSQL server (a throw-away cluster, tests/conftest.py):
rows equal to the engine's usage through the real openai client; the server stopped and
restarted under load loses no row (rows past the memory bound go through the spool);
`python -m gateway.usage` aggregates in PostgreSQL; a retried batch bills once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from ledger_rows import postgres_rows, tokens, usage_tokens, wait_for_rows

from gateway.ops.ledger.postgres import PostgresStore
from gateway.ops.ledger.record import LedgerRow
from gateway.ops.ledger.url import PostgresTarget

pytestmark = pytest.mark.e2e
LOAD_LIMIT = 3000  # requests at most, whatever the machine's speed
LOAD_S = 30.0  # and for at most this long


def words(count: int) -> str:
    return " ".join(f"word{i}" for i in range(count))


def test_rows_in_postgresql_carry_the_engines_usage_for_plain_and_streamed_requests(
    start_gateway_server: Any, local_key: str, postgres_database: str
) -> None:
    with start_gateway_server({"GATEWAY_LEDGER_URL": postgres_database}) as gateway:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=local_key, max_retries=0)
        with client:
            plain = client.chat.completions.create(
                model="chat-full", messages=[{"role": "user", "content": words(30)}]
            )
            chunks = list(
                client.chat.completions.create(
                    model="chat-full",
                    messages=[{"role": "user", "content": words(12)}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
        rows = wait_for_rows(lambda: postgres_rows(postgres_database), 2)
    assert chunks[-1].usage is not None
    assert [tokens(row) for row in rows] == [
        usage_tokens(plain.usage),
        usage_tokens(chunks[-1].usage),
    ]
    assert [row["stream"] for row in rows] == [False, True]
    assert rows[0]["received_at"].tzinfo is not None


def test_postgresql_stopped_and_restarted_under_load_loses_no_row(
    start_gateway_server: Any,
    local_key: str,
    postgres: Any,
    postgres_database: str,
    tmp_path: Path,
) -> None:
    """Rows past a 20-row memory bound are spooled meanwhile and replayed after the restart."""
    sent: list[int] = []  # the prompt length of each answered request, in order
    stop_load = threading.Event()

    def load(url: str) -> None:
        deadline = time.monotonic() + LOAD_S
        headers = {"Authorization": f"Bearer {local_key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=20) as http:
            while not stop_load.is_set() and len(sent) < LOAD_LIMIT:
                assert time.monotonic() < deadline
                length = len(sent) % 40 + 1
                body = {
                    "model": "chat-plain",
                    "messages": [{"role": "user", "content": words(length)}],
                }
                answer = http.post("/v1/chat/completions", json=body)
                assert answer.status_code == 200, answer.text  # the ledger never fails a request
                sent.append(length)

    spool = tmp_path / "spool.jsonl"
    environment = {
        "GATEWAY_LEDGER_URL": postgres_database,
        "GATEWAY_LEDGER_BUFFER_RECORDS": "20",
        "GATEWAY_LEDGER_SPOOL": str(spool),
    }
    with start_gateway_server(environment) as gateway:
        loader = threading.Thread(target=load, args=(gateway.url,))
        loader.start()
        try:
            time.sleep(1.0)
            postgres.stop()
            before_outage = len(sent)
            time.sleep(3.0)
            during_outage = len(sent) - before_outage
            postgres.start()
            time.sleep(1.0)
        finally:
            stop_load.set()
            loader.join(timeout=LOAD_S)
        assert not loader.is_alive()
        rows = wait_for_rows(lambda: postgres_rows(postgres_database), len(sent))
        log = gateway.log.read_text(errors="replace")  # whole: access-log lines fill the tail
    assert during_outage > 20, "the outage must outlast the memory bound for this test"
    assert [row["prompt_tokens"] for row in rows] == sent
    assert len({row["request_id"] for row in rows}) == len(sent)
    assert "unavailable" in log and f"spilled to {spool}" in log and "writable again" in log
    assert spool.read_text() == ""  # replayed, then emptied


def test_the_usage_cli_totals_a_postgresql_ledger(
    start_gateway_server: Any, local_key: str, postgres_database: str
) -> None:
    with start_gateway_server({"GATEWAY_LEDGER_URL": postgres_database}) as gateway:
        headers = {"Authorization": f"Bearer {local_key}"}
        with httpx.Client(base_url=gateway.url, headers=headers, timeout=20) as http:
            usages = [
                http.post(
                    "/v1/chat/completions",
                    json={
                        "model": "chat-full",
                        "messages": [{"role": "user", "content": words(n)}],
                    },
                ).json()["usage"]
                for n in (3, 20)
            ]
            assert http.post("/v1/chat/completions", json={"model": "chat-full"}).status_code == 400
        wait_for_rows(lambda: postgres_rows(postgres_database), 3)
    command = [sys.executable, "-m", "gateway.usage", "--ledger", postgres_database]
    result = subprocess.run(
        [*command, "--format", "json"], capture_output=True, text=True, timeout=60, check=True
    )
    by_model = {row["model"]: row for row in json.loads(result.stdout) if row["key_id"]}
    assert by_model["chat-full"]["requests"] == 2
    assert by_model["chat-full"]["prompt_tokens"] == sum(u["prompt_tokens"] for u in usages)
    assert by_model["chat-full"]["completion_tokens"] == sum(u["completion_tokens"] for u in usages)
    cached = sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages)
    assert by_model["chat-full"]["cached_tokens"] == cached > 0
    assert (by_model[None]["requests"], by_model[None]["errors"]) == (1, 1)
    assert "cost_usd" not in by_model["chat-full"]  # the test catalog sets no prices


def test_a_batch_written_twice_to_postgresql_bills_each_request_once(
    postgres_database: str,
) -> None:
    rows = [
        LedgerRow(f"o{n}", f"req_{n}", 1_764_600_000.0 + n, "k", "m", "embeddings", 200, False,
                  n, None, None, 0.01, None, None, None, None, None, 1000 * n)
        for n in range(5)
    ]  # fmt: skip
    store = PostgresStore(PostgresTarget(postgres_database))
    store.insert(rows)
    store.insert(rows[1:])  # a retry whose first attempt had committed
    store.close()
    written = postgres_rows(postgres_database)
    assert [(r["request_id"], r["prompt_tokens"], r["cost_nanousd"]) for r in written] == [
        (f"req_{n}", n, 1000 * n) for n in range(5)
    ]
    assert written[1]["received_at"].timestamp() == 1_764_600_001.0


def test_every_column_reads_back_from_postgresql_as_written_in_one_batch(
    postgres_database: str,
) -> None:
    written = [
        LedgerRow("o-full", "req_a", 1_764_600_000.123456, "key", "m", "chat.completions", 200,
                  True, 12, 34, 5, 0.1 + 0.2, 0.0123456789, None, None, None, "done", 987654321),
        LedgerRow("o-error", "req_b", 1_764_600_001.5, None, None, "chat.completions", 400,
                  False, None, None, None, 1e-6, None, "invalid_request_error", "messages[0].role",
                  "invalid_value", None, None),
    ]  # fmt: skip
    store = PostgresStore(PostgresTarget(postgres_database))
    store.insert(written)
    store.close()
    read = {row["outcome_id"]: row for row in postgres_rows(postgres_database)}
    for row in written:
        got = read[row.outcome_id]
        assert got["received_at"].timestamp() == pytest.approx(row.received_at, abs=1e-6)
        assert {**got, "received_at": row.received_at} == row.to_json()  # floats bit for bit
