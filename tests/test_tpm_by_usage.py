"""TPM limits what was consumed: after the engine answers, the key's tokens bucket is
corrected by (real prompt + completion tokens - the bytes/4 estimate it was charged).

Each backend alone (memory with a fake clock, Redis against a real redis-server), then
through a real gateway (both backends): a key's TPM admits many small answers whose
bodies are large, and refuses right after one answer that used more than its estimate.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from gateway.http.handlers import estimate_tokens
from gateway.limits.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter

StartRedis = Callable[[int], AbstractContextManager[str]]
RPM, TPM = 1000, 1000


class FrozenClock:
    def __call__(self) -> float:
        return 1000.0  # no refill: every level below is exactly what was taken


async def settled_levels(limiter: RateLimiter, key_id: str) -> list[tuple[bool, str]]:
    """Charge 400, correct to 40 used, charge 400, correct to 1500 used (a debt), ask 1."""
    levels = []
    first = await limiter.acquire(key_id, RPM, TPM, 400)
    levels.append((first.allowed, first.headers["x-ratelimit-remaining-tokens"]))
    limiter.settle(key_id, RPM, TPM, 40 - 400)  # used fewer: 360 given back
    second = await limiter.acquire(key_id, RPM, TPM, 400)
    levels.append((second.allowed, second.headers["x-ratelimit-remaining-tokens"]))
    limiter.settle(key_id, RPM, TPM, 1500 - 400)  # used more: 1100 more taken
    third = await limiter.acquire(key_id, RPM, TPM, 1)
    levels.append((third.allowed, third.headers["x-ratelimit-remaining-tokens"]))
    return levels


def test_memory_bucket_gives_back_what_was_not_used_and_takes_what_was_over() -> None:
    async def scenario() -> list[tuple[bool, str]]:
        return await settled_levels(MemoryRateLimiter(clock=FrozenClock()), "k")

    # 1000-400=600; +360 -400 = 560; -1100 = -540: a debt, refused, shown as 0 left
    assert asyncio.run(scenario()) == [(True, "600"), (True, "560"), (False, "0")]


def test_memory_debt_is_paid_off_by_the_refill_before_the_next_request_fits() -> None:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()

    async def scenario() -> float:
        limiter = MemoryRateLimiter(clock=clock)
        await limiter.acquire("k", RPM, TPM, 100)
        limiter.settle("k", RPM, TPM, 2 * TPM - 100)  # used twice the whole TPM: -1000 left
        refused = await limiter.acquire("k", RPM, TPM, 100)
        assert not refused.allowed and refused.exceeded == "tokens"
        return refused.retry_after_s

    # From -1000 to 100 at 1000 tokens per 60 s: 66 s.
    assert asyncio.run(scenario()) == pytest.approx(66.0)


def test_a_correction_for_a_key_never_seen_or_already_full_changes_nothing() -> None:
    async def scenario() -> str:
        limiter = MemoryRateLimiter(clock=FrozenClock())
        limiter.settle("new", RPM, TPM, -500)
        return (await limiter.acquire("new", RPM, TPM, 0)).headers["x-ratelimit-remaining-tokens"]

    assert asyncio.run(scenario()) == str(TPM)


@pytest.fixture(scope="module")
def redis_url(start_redis: StartRedis, unused_port: Callable[[], int]) -> Iterator[str]:
    with start_redis(unused_port()) as url:
        yield url


def test_redis_bucket_is_corrected_through_the_pipeline_like_memory(redis_url: str) -> None:
    async def scenario() -> list[tuple[bool, str]]:
        limiter = RedisRateLimiter(redis_url, timeout_s=5)  # a loaded machine: not a timeout test
        try:
            return await settled_levels(limiter, f"test-{uuid.uuid4().hex}")
        finally:
            await limiter.close()

    levels = asyncio.run(scenario())
    # Redis's clock runs: the refill adds a token or two between the calls.
    (first, left1), (second, left2), (third, left3) = levels
    assert (first, second, third) == (True, True, False)
    assert 600 <= int(left1) <= 602 and 560 <= int(left2) <= 564 and left3 == "0"


def test_redis_settle_does_not_wait_for_redis(unused_port: Callable[[], int]) -> None:
    """A correction is queued, never awaited: even with Redis gone it returns at once."""

    async def scenario() -> None:
        limiter = RedisRateLimiter(f"redis://127.0.0.1:{unused_port()}/0", timeout_s=0.2)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            limiter.settle("k", RPM, TPM, 10)
            assert loop.time() - started < 0.01
            await asyncio.sleep(0.5)  # the failed pipeline is logged, not raised
        finally:
            await limiter.close()

    asyncio.run(scenario())


# ---------------------------------------------------------------- through a real gateway

PADDING = "p" * 2000  # forwarded, never counted as tokens: a large estimate, tiny usage


def chat(url: str, key: str, content: str, **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "chat-plain", "messages": [{"role": "user", "content": content}], **extra},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


@pytest.fixture(params=["memory", "redis"])
def tpm_gateway(
    request: pytest.FixtureRequest,
    start_gateway: Any,
    start_redis: StartRedis,
    unused_port: Callable[[], int],
) -> Iterator[str]:
    """A gateway whose keys have TPM 1000, with in-memory or Redis limits."""
    overrides = {"GATEWAY_TPM": str(TPM)}
    if request.param == "memory":
        with start_gateway(overrides) as url:
            yield url
        return
    with (
        start_redis(unused_port()) as redis_url,
        start_gateway({**overrides, "GATEWAY_REDIS_URL": redis_url}) as url,
    ):
        yield url


@pytest.mark.e2e
def test_tpm_admits_what_was_consumed_not_body_bytes_over_four(
    tpm_gateway: str, local_key: str
) -> None:
    body_estimate = estimate_tokens(PADDING.encode())
    assert 3 * body_estimate > TPM  # by the estimate alone, the third request would be refused
    # Every other request a stream that did not ask for usage: corrected at its end.
    answers = [
        chat(tpm_gateway, local_key, "hi", user=PADDING, stream=n % 2 == 1) for n in range(8)
    ]
    assert [a.status_code for a in answers] == [200] * 8, answers[-1].text
    used = answers[0].json()["usage"]["total_tokens"]
    assert used < 10
    left = int(answers[-1].headers["x-ratelimit-remaining-tokens"])
    # After 7 corrected requests and the 8th charged its estimate (the refill only adds).
    expected = TPM - 7 * used - body_estimate
    assert expected - 40 <= left <= expected + 150


@pytest.mark.e2e
def test_tpm_refuses_after_an_answer_that_used_more_than_its_estimate(
    tpm_gateway: str, local_key: str
) -> None:
    words = " ".join(["w"] * 450)  # 2 bytes a word: estimated ~240 tokens, ~900 used (echoed)
    first = chat(tpm_gateway, local_key, words)
    assert first.status_code == 200
    assert first.json()["usage"]["total_tokens"] >= 900  # ~100 left: 140 short of the next
    second = chat(tpm_gateway, local_key, words)
    assert second.status_code == 429, second.text
    error = second.json()["error"]
    assert (error["code"], error["type"]) == ("rate_limit_exceeded", "tokens")


@pytest.mark.e2e
def test_tpm_gives_back_the_estimate_of_a_request_the_gateway_refused_before_the_engine(
    tpm_gateway: str, local_key: str
) -> None:
    body_estimate = estimate_tokens(PADDING.encode())
    assert 3 * body_estimate > TPM  # kept charged, the third refusal would already be a 429
    refused = [
        chat(tpm_gateway, local_key, "hi", user=PADDING, temperature="hot") for _ in range(6)
    ]
    assert [a.status_code for a in refused] == [400] * 6, refused[-1].text
    assert refused[0].json()["error"]["param"] == "temperature"
    admitted = chat(tpm_gateway, local_key, "hi", user=PADDING)
    assert admitted.status_code == 200, admitted.text
    left = int(admitted.headers["x-ratelimit-remaining-tokens"])
    # Only this last request's estimate is charged when its answer is counted.
    assert TPM - body_estimate - 40 <= left <= TPM - body_estimate + 150
