"""The operations pieces wired together in one real gateway process: a stream the client
did not ask usage for is still billed, the ledger row carries the id the openai client
saw, /readyz reports the ledger, and the metrics port shows the ledger's backlog."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from conftest import free_port
from ledger_rows import ledger_env, sqlite_rows, tokens, usage_tokens, wait_for_rows
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e
WAIT_S = 20.0


@contextmanager
def ledger_client(start: Any, database: Path, key: str) -> Iterator[openai.OpenAI]:
    """An openai client on a fresh gateway whose ledger is the SQLite file `database`."""
    with start(ledger_env(database)) as gateway:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
        with client:
            yield client


def stream(client: openai.OpenAI, **options: Any) -> list[Any]:
    return list(
        client.chat.completions.create(
            model="chat-plain",
            messages=[{"role": "user", "content": "one two three four"}],
            max_tokens=6,
            stream=True,
            **options,
        )
    )


def test_a_stream_without_include_usage_is_billed_the_engines_usage_the_client_never_sees(
    start_gateway_server: Any, local_key: str, tmp_path: Path
) -> None:
    database = tmp_path / "usage.sqlite3"
    with ledger_client(start_gateway_server, database, local_key) as client:
        unasked = stream(client)
        asked = stream(client, stream_options={"include_usage": True})
        rows = wait_for_rows(lambda: sqlite_rows(database), 2)
    assert all(chunk.usage is None for chunk in unasked)
    assert all(chunk.choices for chunk in unasked)  # no usage-only chunk either
    usage = asked[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    unasked_row, asked_row = rows
    # The same request either way: the engine reports the same usage, and both are billed it.
    assert tokens(unasked_row) == tokens(asked_row)
    assert tokens(asked_row) == usage_tokens(usage)


def test_the_ledger_row_carries_the_request_id_the_openai_client_saw(
    start_gateway_server: Any, local_key: str, tmp_path: Path
) -> None:
    database = tmp_path / "usage.sqlite3"
    with ledger_client(start_gateway_server, database, local_key) as client:
        completion = client.chat.completions.create(
            model="chat-full", messages=[{"role": "user", "content": "hello"}], max_tokens=3
        )
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(
                model="chat-full", messages=[], extra_headers={"X-Client-Request-Id": "mine-1"}
            )
        rows = wait_for_rows(lambda: sqlite_rows(database), 2)
    assert completion._request_id is not None and completion._request_id.startswith("req_")
    assert refused.value.request_id == "mine-1"
    assert [row["request_id"] for row in rows] == [completion._request_id, "mine-1"]


def test_readyz_fails_naming_the_ledger_while_its_database_is_unreachable(
    start_gateway_server: Any, tmp_path: Path
) -> None:
    nowhere = f"postgresql://gateway@127.0.0.1:{free_port()}/usage"  # nothing listens there
    spool = tmp_path / "spool.jsonl"
    with start_gateway_server(
        {"GATEWAY_LEDGER_URL": nowhere, "GATEWAY_LEDGER_SPOOL": str(spool)}
    ) as gateway:
        answer = wait_for_ready_answer(f"{gateway.url}/readyz", lambda a: "ledger" in a.text)
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["ledger"] != "ok" and checks["engines"] == "ok"


def test_readyz_reports_a_writable_sqlite_ledger_as_ok(
    start_gateway_server: Any, tmp_path: Path
) -> None:
    with start_gateway_server(ledger_env(tmp_path / "usage.sqlite3")) as gateway:
        answer = wait_for_ready_answer(f"{gateway.url}/readyz", lambda a: a.status_code == 200)
    assert answer.json()["checks"]["ledger"] == "ok"


def test_the_metrics_port_shows_the_ledgers_backlog_and_losses(
    start_gateway_server: Any, local_key: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = ledger_env(tmp_path / "usage.sqlite3", GATEWAY_METRICS_PORT=str(port))
    with start_gateway_server(environment) as gateway:
        httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {local_key}"})
        samples = scrape_until(f"http://127.0.0.1:{port}/metrics", "gateway_ledger_backlog_records")
    for name in (
        "gateway_ledger_backlog_records",
        "gateway_ledger_spilled_records",
        "gateway_ledger_dropped_records",
    ):
        assert samples[name] == 0.0  # a healthy SQLite file: nothing waits, nothing is lost


def wait_for_ready_answer(url: str, done: Any) -> httpx.Response:
    deadline = time.monotonic() + WAIT_S
    while True:
        answer = httpx.get(url, timeout=5)
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def scrape_until(url: str, name: str) -> dict[str, float]:
    deadline = time.monotonic() + WAIT_S
    while True:
        text = httpx.get(url, timeout=5).text
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        if name in samples:
            return samples
        assert time.monotonic() < deadline, f"{name} not in the metrics within {WAIT_S} s"
        time.sleep(0.2)


def test_requests_reusing_one_client_request_id_are_each_billed(
    start_gateway_server: Any, local_key: str, tmp_path: Path
) -> None:
    database = tmp_path / "usage.sqlite3"
    with ledger_client(start_gateway_server, database, local_key) as client:
        answers = [
            client.chat.completions.with_raw_response.create(
                model="chat-full",
                messages=[{"role": "user", "content": "hello " * n}],
                max_tokens=3,
                extra_headers={"X-Client-Request-Id": "same-every-time"},
            )
            for n in (1, 2, 3)
        ]
        rows = wait_for_rows(lambda: sqlite_rows(database), 3)
    assert [a.headers["x-request-id"] for a in answers] == ["same-every-time"] * 3
    usages = [a.parse().usage for a in answers]
    prompts = [u.prompt_tokens for u in usages if u is not None]
    assert len(set(prompts)) == 3  # three different requests
    assert [(r["request_id"], r["prompt_tokens"]) for r in rows] == [
        ("same-every-time", p) for p in prompts
    ]
