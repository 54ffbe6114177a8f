"""End to end: `python -m gateway.serve` as deployed, on SIGTERM and with workers.

Shutdown is bounded by `timeouts.drain_s`: what finishes within it finishes;
then each open stream ends with an OpenAI-style error event, each request
still waiting for its engine gets a 503 envelope, and the process exits.
`--workers N` with in-memory limits is refused at start-up (each worker would
admit the whole limit); with `redis_url` the workers share one limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from threading import Event
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

StartServer = Callable[..., AbstractContextManager[Any]]
DRAIN_S = 2.0
EXIT_SLACK_S = 6.0  # process exit after the drain: lifespan shutdown on a loaded machine
REPO_ROOT = Path(__file__).resolve().parents[1]


def stream_events(url: str, key: str, model: str, words: int, started: Event) -> list[str]:
    """The `data:` payloads of one streamed chat completion, as read until the end."""
    body = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": " ".join(f"w{i}" for i in range(words))}],
    }
    events: list[str] = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                started.set()
    return events


def test_sigterm_drains_then_ends_open_streams_with_an_error_event_and_exits(
    start_gateway_server: StartServer, local_key: str
) -> None:
    with (
        start_gateway_server({"GATEWAY_DRAIN_S": str(DRAIN_S)}) as gateway,
        ThreadPoolExecutor(3) as pool,
    ):
        long_started, short_started = Event(), Event()
        # chat-stalling: 5 s between chunks, 200 words: far longer than the drain.
        endless = pool.submit(
            stream_events, gateway.url, local_key, "chat-stalling", 200, long_started
        )
        # 60 words at 20 ms: finishes within the drain.
        short = pool.submit(stream_events, gateway.url, local_key, "chat-plain", 60, short_started)
        slow: Future[httpx.Response] = pool.submit(
            httpx.post,
            f"{gateway.url}/v1/chat/completions",
            json={"model": "fail-slow", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {local_key}"},
            timeout=30,
        )
        assert long_started.wait(15) and short_started.wait(15)
        time.sleep(0.3)  # the slow request reached its engine
        signalled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        events = endless.result(timeout=DRAIN_S + EXIT_SLACK_S)
        ended = time.monotonic() - signalled
        gateway.process.wait(timeout=DRAIN_S + EXIT_SLACK_S)
        exited = time.monotonic() - signalled
        short_events = short.result(timeout=5)
        cut = slow.result(timeout=5)
    assert DRAIN_S * 0.9 <= ended < DRAIN_S + EXIT_SLACK_S
    assert exited < DRAIN_S + EXIT_SLACK_S
    # uvicorn re-raises the signal once its shutdown is complete (a clean exit by SIGTERM).
    assert gateway.process.returncode in (0, -signal.SIGTERM)
    error = json.loads(events[-1])["error"]
    assert error["type"] == "server_error"
    assert error["message"].startswith("The gateway is shutting down")
    assert error["doc_url"].endswith("#errors")
    assert short_events[-1] == "[DONE]"  # in flight at SIGTERM, finished within the drain
    assert cut.status_code == 503
    assert cut.json()["error"]["message"].startswith("The gateway is shutting down")


def test_workers_with_in_memory_limits_are_refused_naming_redis_url(
    gateway_config: Path, unused_port: Callable[[], int]
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment |= {"GATEWAY_CONFIG": str(gateway_config), "GATEWAY_PORT": str(unused_port())}
    started = subprocess.run(
        [sys.executable, "-m", "gateway.serve", "--workers", "2"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert "--workers 2 needs redis_url" in started.stderr
    assert "would admit 2 times each limit" in started.stderr


async def count_statuses(url: str, key: str, count: int) -> list[int]:
    headers = {"Authorization": f"Bearer {key}"}
    chat = {"model": "chat-plain", "messages": [{"role": "user", "content": "w"}]}
    async with httpx.AsyncClient(timeout=20, headers=headers) as http:
        answers = await asyncio.gather(
            *(http.post(f"{url}/v1/chat/completions", json=chat) for _ in range(count))
        )
    return [answer.status_code for answer in answers]


def test_two_workers_on_redis_admit_the_keys_limit_once(
    start_gateway_server: StartServer,
    start_redis: Callable[[int], AbstractContextManager[str]],
    unused_port: Callable[[], int],
    shared_key: tuple[str, int],
) -> None:
    key, rpm = shared_key
    with (
        start_redis(unused_port()) as redis_url,
        start_gateway_server({"GATEWAY_REDIS_URL": redis_url}, "--workers", "2") as gateway,
    ):
        started = time.monotonic()
        statuses = asyncio.run(count_statuses(gateway.url, key, 2 * rpm))
        elapsed = time.monotonic() - started
    admitted = statuses.count(200)
    assert statuses.count(200) + statuses.count(429) == 2 * rpm
    assert rpm <= admitted <= rpm + int(elapsed * rpm / 60)  # refill during a slow burst


def test_sigterm_to_serve_stops_the_reference_engine_it_started(
    unused_port: Callable[[], int], tmp_path: Path
) -> None:
    """`make serve` started the engine; after SIGTERM neither the gateway nor it is left."""
    gateway_port, engine_port = unused_port(), unused_port()
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    catalog = config / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("127.0.0.1:8001", f"127.0.0.1:{engine_port}"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment |= {
        "GATEWAY_CONFIG": str(config / "gateway.yaml"),
        "GATEWAY_PORT": str(gateway_port),
        "GATEWAY_METRICS_PORT": str(unused_port()),  # not the embedded 9464: suites run at once
    }
    command = [sys.executable, "-m", "gateway.serve", "--with-reference-engine"]
    serve = subprocess.Popen(
        [*command, "--engine-port", str(engine_port)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = f"http://127.0.0.1:{engine_port}/health"
    try:
        deadline = time.monotonic() + 30
        while not answers(f"http://127.0.0.1:{gateway_port}/v1/models"):
            assert serve.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        assert answers(engine)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=DRAIN_S + EXIT_SLACK_S + 10) == 0
        assert not answers(engine)  # the engine was stopped before serve exited
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return False
    return True
