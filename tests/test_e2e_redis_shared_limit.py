"""End to end: two gateway processes share one key's limit through a real redis-server,
and a gateway whose Redis goes away fails closed (503) until it comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

StartGateway = Callable[[Mapping[str, str]], AbstractContextManager[str]]
StartRedis = Callable[[int], AbstractContextManager[str]]
REQUESTS = 60
CONCURRENCY = 30  # in flight at once, over both gateways
CHAT: Any = {"model": "chat-plain", "messages": [{"role": "user", "content": "shared"}]}


@pytest.fixture(scope="module")
def two_gateway_urls(
    start_redis: StartRedis, start_gateway: StartGateway, unused_port: Callable[[], int]
) -> Iterator[tuple[str, str]]:
    """Two gateway processes on one fresh redis-server."""
    with ExitStack() as stack:
        redis_url = stack.enter_context(start_redis(unused_port()))
        first = stack.enter_context(start_gateway({"GATEWAY_REDIS_URL": redis_url}))
        second = stack.enter_context(start_gateway({"GATEWAY_REDIS_URL": redis_url}))
        yield first, second


async def fire(urls: tuple[str, ...], key: str, count: int) -> list[tuple[int, httpx.Response]]:
    """`count` chat requests, alternating between gateways, CONCURRENCY at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=10, headers=headers, limits=limits) as http:

        async def one(index: int) -> tuple[int, httpx.Response]:
            gateway = index % len(urls)
            async with gate:
                response = await http.post(f"{urls[gateway]}/v1/chat/completions", json=CHAT)
                await response.aread()
                return gateway, response

        return await asyncio.gather(*(one(index) for index in range(count)))


def test_two_gateways_on_one_redis_admit_the_keys_rpm_in_total(
    two_gateway_urls: tuple[str, str], shared_key: tuple[str, int]
) -> None:
    key, rpm = shared_key
    started = time.monotonic()
    answers = asyncio.run(fire(two_gateway_urls, key, REQUESTS))
    elapsed = time.monotonic() - started
    admitted = [response for _, response in answers if response.status_code == 200]
    refused = [response for _, response in answers if response.status_code == 429]
    assert len(admitted) + len(refused) == REQUESTS, {r.status_code for _, r in answers}
    # The bucket refills one request every 60/rpm s: allow for that if the burst was slow.
    assert rpm <= len(admitted) <= rpm + int(elapsed * rpm / 60)
    # Per-process limits would admit rpm on each gateway; each got 30 and refused some.
    for gateway in (0, 1):
        assert any(g == gateway and r.status_code == 429 for g, r in answers)
    if len(admitted) == rpm:  # no refill during the burst: every admission saw its own count
        remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in admitted)
        assert remaining == list(range(rpm))
    for response in refused:
        assert 1 <= int(response.headers["retry-after"]) <= 60
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
        assert error["message"].startswith("Rate limit reached for shared on requests per min")
        assert error["doc_url"].endswith("#rate-limits")
        assert response.headers["x-ratelimit-limit-requests"] == str(rpm)


def test_gateway_fails_closed_with_503_while_redis_is_down_and_recovers(
    start_redis: StartRedis,
    start_gateway: StartGateway,
    unused_port: Callable[[], int],
    local_key: str,
) -> None:
    """Observed: with Redis stopped each request is a 503 envelope ("Rate limiter
    unavailable", retry-after 1) within the 0.5 s Redis timeouts; once a redis-server
    listens on the port again the next request is admitted (buckets start full)."""
    port = unused_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    headers = {"Authorization": f"Bearer {local_key}"}
    with start_gateway({"GATEWAY_REDIS_URL": redis_url}) as gateway_url:
        chat = f"{gateway_url}/v1/chat/completions"
        with start_redis(port):
            assert httpx.post(chat, json=CHAT, headers=headers, timeout=10).status_code == 200
        # redis-server stopped: the gateway's pooled connection is dead.
        for _ in range(2):
            started = time.monotonic()
            response = httpx.post(chat, json=CHAT, headers=headers, timeout=10)
            elapsed = time.monotonic() - started
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            error = response.json()["error"]
            assert error["type"] == "server_error"
            assert error["message"].startswith("Rate limiter unavailable")
            assert error["doc_url"].endswith("#rate-limits")
            assert elapsed < 2.5
        with start_redis(port):
            assert httpx.post(chat, json=CHAT, headers=headers, timeout=10).status_code == 200
