"""The usage ledger of a real gateway process (`python -m gateway.serve`) on SQLite: one row
per answered request with the engine's token counts, as the real openai client saw them;
and SIGTERM writes every row still queued before the process exits."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from ledger_rows import api_rows, ledger_env, sqlite_rows, tokens, usage_tokens, wait_for_rows

pytestmark = pytest.mark.e2e
EXIT_S = 20.0


def words(count: int) -> str:
    return " ".join(f"word{i}" for i in range(count))


def test_plain_streamed_embeddings_and_refused_requests_each_give_one_row_with_the_engines_usage(
    start_gateway_server: Any, local_key: str, tmp_path: Path
) -> None:
    database = tmp_path / "usage.sqlite3"
    with start_gateway_server(ledger_env(database)) as gateway:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=local_key, max_retries=0)
        with client:
            plain = client.chat.completions.create(
                model="chat-full", messages=[{"role": "user", "content": words(40)}], max_tokens=7
            )
            chunks = list(
                client.chat.completions.create(
                    model="chat-plain",
                    messages=[{"role": "user", "content": words(3)}],
                    max_tokens=9,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            embedded = client.embeddings.create(model="embed-model", input="hello there world")
            with pytest.raises(openai.BadRequestError):
                client.chat.completions.create(model="chat-full", messages=[])
        rows = wait_for_rows(lambda: sqlite_rows(database), 4)
    streamed_usage = chunks[-1].usage
    assert streamed_usage is not None
    chat, stream, embeddings, refused = rows
    assert tokens(chat) == usage_tokens(plain.usage) and chat["cached_tokens"] > 0
    assert tokens(stream) == usage_tokens(streamed_usage)
    assert embeddings["prompt_tokens"] == embedded.usage.prompt_tokens > 0
    assert embeddings["completion_tokens"] is None  # the engine reports none for embeddings
    assert [(r["endpoint"], r["model"], r["status"], r["stream"]) for r in rows] == [
        ("chat.completions", "chat-full", 200, 0),
        ("chat.completions", "chat-plain", 200, 1),
        ("embeddings", "embed-model", 200, 0),
        ("chat.completions", None, 400, 0),
    ]
    assert {r["key_id"] for r in rows} == {"local-dev"}  # the key's id, never the key
    assert stream["stream_end"] == "done" and stream["first_token_s"] > 0
    assert chat["first_token_s"] is None and chat["latency_s"] > 0
    assert (refused["error_type"], refused["error_param"]) == ("invalid_request_error", "messages")
    assert refused["prompt_tokens"] is None and refused["cost_nanousd"] is None
    assert len({r["request_id"] for r in rows}) == 4


def test_sigterm_writes_every_queued_row_before_the_process_exits(
    start_gateway_server: Any, local_key: str, tmp_path: Path
) -> None:
    database = tmp_path / "usage.sqlite3"
    # A flush interval far beyond the test: only the shutdown can write these rows.
    environment = ledger_env(database, GATEWAY_LEDGER_FLUSH_INTERVAL_S="3600")
    sent = 25
    with start_gateway_server(environment) as gateway:
        headers = {"Authorization": f"Bearer {local_key}"}
        with httpx.Client(base_url=gateway.url, headers=headers, timeout=20) as http:
            for number in range(sent):
                messages = [{"role": "user", "content": words(number + 1)}]
                body = {"model": "chat-plain", "messages": messages}
                assert http.post("/v1/chat/completions", json=body).status_code == 200
        assert api_rows(sqlite_rows(database)) == []  # all still queued in the gateway's memory
        gateway.process.send_signal(signal.SIGTERM)
        gateway.process.wait(timeout=EXIT_S)
    assert gateway.process.returncode in (0, -signal.SIGTERM)
    rows = api_rows(sqlite_rows(database))
    assert [row["prompt_tokens"] for row in rows] == list(range(1, sent + 1))
    assert ", 0 spilled to" in gateway.log_tail()
