"""Rate limits: bucket arithmetic and headers (memory, with a fake clock) and the
shared Redis backend against a real redis-server (atomicity, fail-closed)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import TypeVar

import pytest
from redis.asyncio import Redis

from gateway.errors import ApiError
from gateway.limits.ratelimit import (
    Decision,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    format_reset,
    rate_limit_error,
)

T = TypeVar("T")
StartRedis = Callable[[int], AbstractContextManager[str]]  # the conftest fixture's type
OPENAI_HEADERS = {
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def acquire_many(
    limiter: RateLimiter, count: int, rpm: int, tpm: int, tokens: int, key_id: str = "k"
) -> list[Decision]:
    return [await limiter.acquire(key_id, rpm, tpm, tokens) for _ in range(count)]


def memory_run(
    use: Callable[[MemoryRateLimiter], Awaitable[T]], clock: FakeClock | None = None
) -> T:
    async def scenario() -> T:
        limiter = MemoryRateLimiter(clock=clock or FakeClock())
        try:
            return await use(limiter)
        finally:
            await limiter.close()

    return asyncio.run(scenario())


# ---------------------------------------------------------------- format_reset


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-1, "0s"),
        (0.0001, "1ms"),  # rounded up: waiting the advertised time is never too early
        (0.072, "72ms"),
        (0.999, "999ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (1.2, "1.2s"),
        (17.28, "17.28s"),
        (59.999, "59.999s"),
        (60, "1m0s"),
        (360, "6m0s"),
        (179.56, "2m59.56s"),
        (3600, "1h0m0s"),
        (86400.5, "24h0m0.5s"),
    ],
)
def test_format_reset_matches_openai_style(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


# ---------------------------------------------------------------- memory backend


def test_memory_admits_exactly_rpm_then_refuses_with_retry_time() -> None:
    decisions = memory_run(lambda limiter: acquire_many(limiter, 4, 3, 1000, 10))
    assert [d.allowed for d in decisions] == [True, True, True, False]
    refused = decisions[-1]
    assert refused.exceeded == "requests"
    assert refused.retry_after_s == pytest.approx(20.0)  # one request per 60/3 s
    assert (refused.used, refused.requested) == (3, 1)
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["retry-after-ms"] == "20000"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "970"


def test_memory_headers_on_first_request() -> None:
    decision = memory_run(lambda limiter: limiter.acquire("k", 60, 1000, 100))
    assert decision == Decision(
        allowed=True,
        headers={
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-limit-tokens": "1000",
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-remaining-tokens": "900",
            "x-ratelimit-reset-requests": "1s",  # 1 of 60 per minute refills in 1 s
            "x-ratelimit-reset-tokens": "6s",  # 100 of 1000 per minute in 6 s
        },
        retry_after_s=0.0,
        exceeded=None,
    )


def test_memory_refills_continuously_over_the_minute() -> None:
    clock = FakeClock()

    async def scenario(limiter: MemoryRateLimiter) -> None:
        assert all(d.allowed for d in await acquire_many(limiter, 3, 3, 1000, 0))
        clock.advance(19.9)
        refused = await limiter.acquire("k", 3, 1000, 0)
        assert not refused.allowed
        assert refused.headers["retry-after-ms"] == "100"
        assert refused.headers["retry-after"] == "1"  # whole seconds, at least 1
        clock.advance(0.1)
        assert (await limiter.acquire("k", 3, 1000, 0)).allowed
        assert not (await limiter.acquire("k", 3, 1000, 0)).allowed
        clock.advance(60)  # long idle: full again, never more than the limit
        decisions = await acquire_many(limiter, 4, 3, 1000, 0)
        assert [d.allowed for d in decisions] == [True, True, True, False]

    memory_run(scenario, clock)


def test_memory_token_limit_and_refusal_consumes_nothing() -> None:
    clock = FakeClock()

    async def scenario(limiter: MemoryRateLimiter) -> None:
        assert all(d.allowed for d in await acquire_many(limiter, 2, 100, 1000, 400))
        refused = await limiter.acquire("k", 100, 1000, 400)
        assert (refused.allowed, refused.exceeded) == (False, "tokens")
        assert (refused.used, refused.requested) == (800, 400)
        assert refused.retry_after_s == pytest.approx(12.0)  # 200 missing at 1000/min
        assert refused.headers["x-ratelimit-remaining-requests"] == "98"
        assert refused.headers["x-ratelimit-remaining-tokens"] == "200"
        assert refused.headers["x-ratelimit-reset-tokens"] == "48s"
        smaller = await limiter.acquire("k", 100, 1000, 200)
        assert smaller.allowed
        assert smaller.headers["x-ratelimit-remaining-requests"] == "97"
        assert smaller.headers["x-ratelimit-remaining-tokens"] == "0"

    memory_run(scenario, clock)


def test_memory_when_both_limits_refuse_the_longer_wait_is_reported() -> None:
    async def scenario(limiter: MemoryRateLimiter) -> Decision:
        await limiter.acquire("k", 1, 1000, 1000)
        return await limiter.acquire("k", 1, 1000, 1000)

    refused = memory_run(scenario)
    # Requests would fit again in 60 s, tokens also in 60 s: either way wait a full minute.
    assert refused.retry_after_s == pytest.approx(60.0)
    assert refused.headers["retry-after"] == "60"


def test_memory_request_larger_than_tpm_is_refused_as_too_large() -> None:
    refused = memory_run(lambda limiter: limiter.acquire("k", 10, 100, 101))
    assert (refused.allowed, refused.exceeded, refused.requested) == (False, "tokens", 101)
    assert "retry-after" in refused.headers
    error = rate_limit_error(refused, "local-dev", 10, 100)
    assert error.message == (
        "Request too large for local-dev on tokens per min (TPM): Limit 100, Requested 101. "
        "The input or output tokens must be reduced in order to run successfully."
    )


def test_memory_keys_are_independent() -> None:
    async def scenario(limiter: MemoryRateLimiter) -> list[bool]:
        await limiter.acquire("a", 1, 100, 1)
        return [(await limiter.acquire(key, 1, 100, 1)).allowed for key in ("a", "b")]

    assert memory_run(scenario) == [False, True]


def test_memory_evicts_keys_idle_until_their_buckets_are_full() -> None:
    clock = FakeClock()

    async def scenario(limiter: MemoryRateLimiter) -> None:
        for index in range(100):
            await limiter.acquire(f"key-{index}", 10, 100, 1)
        # Eviction cannot be seen from outside (an evicted key's buckets were full): the
        # state it frees is what this pins, so the test reads it.
        assert len(limiter._buckets) == 100
        clock.advance(61)
        await limiter.acquire("busy", 10, 100, 1)
        assert list(limiter._buckets) == ["busy"]

    memory_run(scenario, clock)


def test_memory_concurrent_acquires_admit_exactly_the_limit() -> None:
    async def scenario(limiter: MemoryRateLimiter) -> int:
        decisions = await asyncio.gather(*(limiter.acquire("k", 50, 10**6, 1) for _ in range(200)))
        return sum(d.allowed for d in decisions)

    assert memory_run(scenario) == 50


@pytest.mark.parametrize(("rpm", "tpm", "tokens"), [(0, 1, 1), (1, 0, 1), (1, 1, -1)])
def test_invalid_arguments_are_the_callers_bug(rpm: int, tpm: int, tokens: int) -> None:
    with pytest.raises(ValueError, match="limits must be positive"):
        memory_run(lambda limiter: limiter.acquire("k", rpm, tpm, tokens))


# ---------------------------------------------------------------- the 429


def test_rate_limit_error_for_requests_in_openai_wording() -> None:
    refused = Decision(False, {"retry-after": "2"}, 1.2, "requests", used=60, requested=1)
    error = rate_limit_error(refused, "local-dev", 60, 1000)
    assert error.message == (
        "Rate limit reached for local-dev on requests per min (RPM): "
        "Limit 60, Used 60, Requested 1. Please try again in 1.2s."
    )
    assert (error.status, error.type, error.code) == (429, "requests", "rate_limit_exceeded")
    assert error.anchor == "rate-limits"
    assert error.headers == {"retry-after": "2"}


def test_rate_limit_error_for_tokens_in_openai_wording() -> None:
    async def scenario(limiter: MemoryRateLimiter) -> Decision:
        await limiter.acquire("k", 100, 1000, 900)
        return await limiter.acquire("k", 100, 1000, 300)

    refused = memory_run(scenario)
    error = rate_limit_error(refused, "local-dev", 100, 1000)
    assert error.message == (
        "Rate limit reached for local-dev on tokens per min (TPM): "
        "Limit 1000, Used 900, Requested 300. Please try again in 12s."
    )
    assert error.type == "tokens"
    assert OPENAI_HEADERS | {"retry-after", "retry-after-ms"} == set(error.headers)


# ---------------------------------------------------------------- Redis backend


@pytest.fixture(scope="module")
def redis_url(start_redis: StartRedis, unused_port: Callable[[], int]) -> Iterator[str]:
    """A throw-away redis-server on a free loopback port, without persistence (conftest)."""
    with start_redis(unused_port()) as url:
        yield url


def redis_run(url: str, use: Callable[[RedisRateLimiter], Awaitable[T]]) -> T:
    async def scenario() -> T:
        limiter = RedisRateLimiter(url)
        try:
            return await use(limiter)
        finally:
            await limiter.close()

    return asyncio.run(scenario())


def fresh_key() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_redis_admits_exactly_rpm_with_openai_headers(redis_url: str) -> None:
    key_id = fresh_key()
    decisions = redis_run(redis_url, lambda limiter: acquire_many(limiter, 6, 5, 1000, 10, key_id))
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    first, refused = decisions[0], decisions[-1]
    assert first.headers["x-ratelimit-remaining-requests"] == "4"
    assert first.headers["x-ratelimit-remaining-tokens"] == "990"
    # The first request of a fresh key saw full buckets: resets are exact.
    assert first.headers["x-ratelimit-reset-requests"] == "12s"
    assert first.headers["x-ratelimit-reset-tokens"] == "600ms"
    assert refused.exceeded == "requests"
    assert (refused.used, refused.requested) == (5, 1)
    assert 11.0 < refused.retry_after_s <= 12.0
    assert refused.headers["retry-after"] == "12"
    assert OPENAI_HEADERS | {"retry-after", "retry-after-ms"} == set(refused.headers)


def test_redis_token_limit_and_refusal_consumes_nothing(redis_url: str) -> None:
    key_id = fresh_key()

    async def scenario(limiter: RedisRateLimiter) -> None:
        assert all(d.allowed for d in await acquire_many(limiter, 3, 100, 100, 30, key_id))
        refused = await limiter.acquire(key_id, 100, 100, 30)
        assert (refused.allowed, refused.exceeded) == (False, "tokens")
        assert (refused.used, refused.requested) == (90, 30)
        assert refused.headers["x-ratelimit-remaining-requests"] == "97"
        assert (await limiter.acquire(key_id, 100, 100, 10)).allowed
        assert not (await limiter.acquire(key_id, 100, 100, 10)).allowed
        too_large = await limiter.acquire(fresh_key(), 100, 100, 101)
        assert (too_large.allowed, too_large.exceeded) == (False, "tokens")

    redis_run(redis_url, scenario)


def test_redis_keys_expire_once_buckets_would_be_full(redis_url: str) -> None:
    key_id = fresh_key()

    async def scenario(limiter: RedisRateLimiter) -> None:
        await limiter.acquire(key_id, 60, 6000, 100)  # full again in 1 s
        inspector = Redis.from_url(redis_url)
        try:
            ttl_ms = await inspector.pttl(f"gateway:ratelimit:{key_id}")
        finally:
            await inspector.aclose()
        assert 0 < ttl_ms <= 1001

    redis_run(redis_url, scenario)


def test_redis_two_replicas_200_concurrent_acquires_admit_exactly_rpm(redis_url: str) -> None:
    key_id = fresh_key()

    async def scenario() -> list[Decision]:
        # Two limiters = two connection pools, as two gateway processes would have.
        replicas = [RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)]
        try:
            return await asyncio.gather(
                *(replicas[index % 2].acquire(key_id, 50, 10**6, 1) for index in range(200))
            )
        finally:
            for replica in replicas:
                await replica.close()

    decisions = asyncio.run(scenario())
    admitted = [d for d in decisions if d.allowed]
    assert len(admitted) == 50
    # Each admission saw a distinct count: no two replicas read the same state.
    remaining = sorted(int(d.headers["x-ratelimit-remaining-requests"]) for d in admitted)
    assert remaining == list(range(50))


def test_redis_unreachable_fails_closed_with_503_quickly(unused_port: Callable[[], int]) -> None:
    closed_port = unused_port()  # bound then released: nothing listens there

    async def scenario(limiter: RedisRateLimiter) -> None:
        await limiter.acquire("k", 10, 100, 1)

    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        redis_run(f"redis://127.0.0.1:{closed_port}/0", scenario)
    assert time.monotonic() - started < 2.0
    error = caught.value
    assert (error.status, error.type, error.anchor) == (503, "server_error", "rate-limits")
    assert error.message.startswith("Rate limiter unavailable")
    assert error.headers == {"retry-after": "1"}


def test_redis_that_accepts_but_never_answers_fails_closed_within_timeouts() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes connections; nobody ever replies

        async def scenario(limiter: RedisRateLimiter) -> None:
            await limiter.acquire("k", 10, 100, 1)

        started = time.monotonic()
        with pytest.raises(ApiError) as caught:
            redis_run(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", scenario)
        elapsed = time.monotonic() - started
    assert caught.value.status == 503
    assert elapsed < 3.0  # 0.5 s socket timeout, one retry
