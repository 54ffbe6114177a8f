"""End to end: the Redis rate limiter under concurrency and when Redis freezes.

A healthy Redis must serve any concurrency the gateway accepts (redis-py's
default pool refused past 100 connections: half of 200 concurrent requests were
503s); a frozen one (SIGSTOP) must turn into a 503 within the configured bound;
the outage's warnings go through the one log handler, once per burst.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import httpx
import pytest

from gateway.logs import REPEAT_WINDOW_S

pytestmark = pytest.mark.e2e

StartServer = Callable[[Mapping[str, str]], AbstractContextManager[Any]]
StartRedisServer = Callable[[int], AbstractContextManager[Any]]
CHAT: Any = {"model": "chat-plain", "messages": [{"role": "user", "content": "load"}]}
PER_GATEWAY = 200  # in flight at once on each gateway: twice redis-py's default pool
REDIS_BOUND_S = 0.5  # timeouts.redis_s, the default
SLACK_S = 1.0  # a shared, loaded machine: the HTTP round trip around the bound


async def burst(urls: list[str], key: str, per_url: int) -> Counter[int]:
    """`per_url` chat requests on each gateway, all in flight at once; statuses counted."""
    limits = httpx.Limits(max_connections=per_url * len(urls))
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=headers) as http:
        start = asyncio.Event()

        async def one(url: str) -> int:
            await start.wait()
            response = await http.post(f"{url}/v1/chat/completions", json=CHAT)
            return response.status_code

        tasks = [asyncio.create_task(one(url)) for url in urls for _ in range(per_url)]
        await asyncio.sleep(0)
        start.set()
        return Counter(await asyncio.gather(*tasks))


@pytest.fixture(scope="module")
def redis_server(
    start_redis_server: StartRedisServer, unused_port: Callable[[], int]
) -> Iterator[Any]:
    with start_redis_server(unused_port()) as server:
        yield server


def test_two_gateways_on_a_healthy_redis_answer_400_concurrent_requests_without_a_503(
    redis_server: Any, start_gateway_server: StartServer, local_key: str
) -> None:
    with ExitStack() as stack:
        urls = [
            stack.enter_context(start_gateway_server({"GATEWAY_REDIS_URL": redis_server.url})).url
            for _ in range(2)
        ]
        for _ in range(2):  # a cold pool, then a warm one
            statuses = asyncio.run(burst(urls, local_key, PER_GATEWAY))
            assert statuses == Counter({200: 2 * PER_GATEWAY})


def test_frozen_redis_is_a_503_within_the_bound_logged_once_then_counted(
    redis_server: Any, start_gateway_server: StartServer, local_key: str
) -> None:
    headers = {"Authorization": f"Bearer {local_key}"}
    with start_gateway_server({"GATEWAY_REDIS_URL": redis_server.url}) as gateway:
        chat = f"{gateway.url}/v1/chat/completions"
        with httpx.Client(timeout=10, headers=headers) as http:
            assert http.post(chat, json=CHAT).status_code == 200
            os.kill(redis_server.process.pid, signal.SIGSTOP)
            try:
                elapsed = []
                for _ in range(20):
                    started = time.monotonic()
                    response = http.post(chat, json=CHAT)
                    elapsed.append(time.monotonic() - started)
                    assert response.status_code == 503
                    assert response.headers["retry-after"] == "1"
                    assert response.json()["error"]["message"].startswith(
                        "Rate limiter unavailable"
                    )
            finally:
                os.kill(redis_server.process.pid, signal.SIGCONT)
            assert min(elapsed) >= REDIS_BOUND_S * 0.9  # it did wait for Redis
            assert max(elapsed) < REDIS_BOUND_S + SLACK_S
            assert http.post(chat, json=CHAT).status_code == 200
        log = gateway.log.read_text()
    warnings = [line for line in log.splitlines() if "Redis unavailable" in line]
    # 20 refusals: the first is written, the repeats within a window are counted on the
    # next line after it (one line when the burst fits in REPEAT_WINDOW_S, as it does
    # on a quiet machine; a slow one may spread it over a second window).
    assert "more like it" not in warnings[0]
    represented = sum(1 + _counted_repeats(line) for line in warnings)
    assert len(warnings) <= 1 + math.ceil(sum(elapsed) / REPEAT_WINDOW_S), warnings
    assert represented <= 20, warnings
    assert len(warnings) < 20 - 5, warnings  # most refusals were counted, not written
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.match(rf"{stamp} WARNING gateway\.limits\.ratelimit: rate limiter", warnings[0])


def _counted_repeats(line: str) -> int:
    found = re.search(r"\(and (\d+) more like it", line)
    return int(found.group(1)) if found else 0
