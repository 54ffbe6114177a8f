"""Per-key rate limits, like OpenAI's: requests per minute (RPM) and tokens per minute (TPM).

Algorithm
---------
Each API key has two token buckets, one counting requests and one counting
tokens. A bucket holds at most its per-minute limit and refills continuously at
that limit per 60 s, so an emptied bucket is full again one minute later. A
request needs 1 from the requests bucket and its token count from the tokens
bucket; it is admitted only if both have enough, and then takes from both. A
refused request takes nothing. A request asking for more tokens than the TPM
limit can never fit and is refused as "Request too large".

Admission has to guess a request's tokens (the body's bytes / 4); once the
engine has answered, `settle` corrects the key's tokens bucket by the
difference between the tokens it really used (prompt + completion, as the
engine reported them) and that guess: given back when it used fewer, taken
when it used more. A bucket may so go below zero (a debt: a reply longer than
the whole TPM), which the refill pays off before the next request fits, so
the limit holds on what was consumed. `settle` never delays the answer: the
memory backend applies it at once, the Redis one queues it into the next
pipeline of checks and does not wait for the reply.

Every answer carries OpenAI's headers: ``x-ratelimit-limit-*`` (the limits),
``x-ratelimit-remaining-*`` (whole requests/tokens left in the buckets) and
``x-ratelimit-reset-*`` (time until the bucket is full again, e.g. ``1s``,
``6m0s``, ``72ms``). A refusal adds ``retry-after`` (whole seconds, at least 1)
and ``retry-after-ms``: the time until this very request would fit.

Backends
--------
- `MemoryRateLimiter`: one gateway process. Limits are per process, so N
  replicas would admit N times the limit. Keys idle long enough for their
  buckets to be full again are forgotten, so memory stays bounded.
- `RedisRateLimiter`: shared by every replica that points at the same Redis.
  One Lua script reads, checks and updates both buckets of a key atomically,
  so concurrent replicas can never together admit a request over the limit.
  It reads Redis's own clock (``TIME``), so replicas' clock skew does not
  matter, and each key expires once its buckets would be full again.

When Redis is down: fail closed
-------------------------------
Each Redis operation (connecting, each reply, waiting for a pooled
connection) waits at most ``timeout_s`` (0.5 s by default,
``timeouts.redis_s``). A refused or dropped connection is retried once at
once on a fresh one (that heals a pooled connection Redis has closed); a
timeout is not retried, so a frozen Redis costs a request ``timeout_s``, not
twice that. If Redis cannot be reached or does not answer in time, the
request is answered ``503`` with ``type: server_error``, message "Rate
limiter unavailable..." and ``retry-after: 1``, instead of being let through
unmetered. Requests resume as soon as Redis answers again. Failures are
logged as warnings (the log handler writes the first of a burst and then a
count, see gateway.logs).

Concurrency: the checks of all requests in flight are sent together, one
pipeline per event-loop turn (gateway.limits.redis_batch), on a pool of up to
``max_connections`` connections that waits for a free one rather than
failing (redis-py's default pool refused past 100). The bound is per
operation rather than for the whole check on purpose: under a burst the
event loop is busy, and a whole-check deadline would turn the gateway's own
load into 503s although Redis answers every operation promptly.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError

from gateway.errors import ApiError
from gateway.limits import headers as names
from gateway.limits.redis_batch import ScriptBatcher

logger = logging.getLogger(__name__)

WINDOW_S = 60.0
# Float slack: a request that fits exactly must not be refused over 1e-16 of drift.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Decision:
    """The answer to one `acquire`.

    `used` and `requested` describe the exceeded limit (0 when admitted), for
    OpenAI's "Limit L, Used U, Requested R" wording.
    """

    allowed: bool
    headers: dict[str, str]
    retry_after_s: float
    exceeded: str | None  # "requests" or "tokens"
    used: int = 0
    requested: int = 0


class RateLimiter(Protocol):
    async def acquire(self, key_id: str, rpm: int, tpm: int, tokens: int) -> Decision:
        """Admit and count one request of `tokens` tokens for `key_id`, or refuse it."""
        ...

    def settle(self, key_id: str, rpm: int, tpm: int, delta: int) -> None:
        """Take `delta` more tokens from the key's bucket (give them back if negative),
        without waiting: a request's real usage minus what `acquire` charged for it."""
        ...

    async def close(self) -> None: ...


def format_reset(seconds: float) -> str:
    """A duration the way OpenAI's reset headers write it: ``72ms``, ``1.5s``, ``6m0s``.

    Rounded up to the millisecond, so a client waiting that long is never early.
    """
    ms = _ceil_ms(seconds)
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    whole, fraction = divmod(ms, 1000)
    secs = f"{whole}.{fraction:03d}".rstrip("0") if fraction else str(whole)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rate_limit_error(decision: Decision, key_id: str, rpm: int, tpm: int) -> ApiError:
    """The 429 for a refused `decision`, worded and typed like api.openai.com's."""
    kind = decision.exceeded or "requests"
    if kind == "tokens" and decision.requested > tpm:
        message = (
            f"Request too large for {key_id} on tokens per min (TPM): Limit {tpm}, "
            f"Requested {decision.requested}. "
            "The input or output tokens must be reduced in order to run successfully."
        )
    else:
        if kind == "tokens":
            label, limit = "tokens per min (TPM)", tpm
        else:
            label, limit = "requests per min (RPM)", rpm
        message = (
            f"Rate limit reached for {key_id} on {label}: "
            f"Limit {limit}, Used {decision.used}, Requested {decision.requested}. "
            f"Please try again in {format_reset(decision.retry_after_s)}."
        )
    return ApiError(
        429,
        message,
        type=kind,  # OpenAI answers type "requests" or "tokens"
        code="rate_limit_exceeded",
        anchor="rate-limits",
        headers=dict(decision.headers),
    )


# ---------------------------------------------------------------- bucket arithmetic
# Shared by both backends (the Lua script repeats only refill and admission),
# so their headers agree to the millisecond.


def _ceil_ms(seconds: float) -> int:
    return max(0, math.ceil(seconds * 1000 - 1e-6))


def _refilled(level: float, capacity: int, elapsed_s: float) -> float:
    return min(float(capacity), level + max(0.0, elapsed_s) * capacity / WINDOW_S)


def _seconds_until(level: float, wanted: float, capacity: int) -> float:
    return max(0.0, wanted - level) * WINDOW_S / capacity


def _refusal(
    requests_left: float, tokens_left: float, rpm: int, tpm: int, tokens: int
) -> tuple[str | None, float]:
    """Which limit refuses this request and how long until it would fit; (None, 0) if none.

    When both refuse, the one with the longer wait is named, so the advertised
    retry time is enough for both.
    """
    waits: dict[str, float] = {}
    if requests_left < 1 - _EPSILON:
        waits["requests"] = _seconds_until(requests_left, 1, rpm)
    if tokens > tpm:
        waits["tokens"] = WINDOW_S  # can never fit; "try again" is for a smaller request
    elif tokens_left < tokens - _EPSILON:
        waits["tokens"] = _seconds_until(tokens_left, tokens, tpm)
    if not waits:
        return None, 0.0
    exceeded = max(waits, key=waits.__getitem__)
    return exceeded, waits[exceeded]


def _decision(
    requests_left: float, tokens_left: float, rpm: int, tpm: int, tokens: int, allowed: bool
) -> Decision:
    """The Decision for buckets left at these levels (after consuming, if `allowed`)."""
    remaining_requests = math.floor(requests_left + _EPSILON)
    remaining_tokens = max(0, math.floor(tokens_left + _EPSILON))  # a debt shows as 0
    headers = {
        names.LIMIT_REQUESTS: str(rpm),
        names.LIMIT_TOKENS: str(tpm),
        names.REMAINING_REQUESTS: str(remaining_requests),
        names.REMAINING_TOKENS: str(remaining_tokens),
        names.RESET_REQUESTS: format_reset(_seconds_until(requests_left, rpm, rpm)),
        names.RESET_TOKENS: format_reset(_seconds_until(tokens_left, tpm, tpm)),
    }
    if allowed:
        return Decision(True, headers, 0.0, None)
    exceeded, retry_after_s = _refusal(requests_left, tokens_left, rpm, tpm, tokens)
    if exceeded is None:  # only if a backend refused what the shared rule admits
        exceeded, retry_after_s = "requests", _seconds_until(requests_left, 1, rpm)
    retry_ms = _ceil_ms(retry_after_s)
    headers[names.RETRY_AFTER] = str(max(1, math.ceil(retry_ms / 1000)))
    headers[names.RETRY_AFTER_MS] = str(retry_ms)
    if exceeded == "requests":
        used, requested = rpm - remaining_requests, 1
    else:
        used, requested = tpm - remaining_tokens, tokens
    return Decision(False, headers, retry_after_s, exceeded, used, requested)


def _check_arguments(rpm: int, tpm: int, tokens: int) -> None:
    if rpm < 1 or tpm < 1 or tokens < 0:
        raise ValueError(
            f"limits must be positive and tokens not negative: {rpm=} {tpm=} {tokens=}"
        )


# ---------------------------------------------------------------- in-process backend


@dataclass
class _Buckets:
    requests: float
    tokens: float
    updated_at: float
    full_at: float  # from then on this entry equals a fresh one and can be dropped


class MemoryRateLimiter:
    """Rate limits for a single gateway process.

    Safe under asyncio because `acquire` never awaits between reading and
    updating a key's buckets; it is not meant to be shared between threads.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Buckets] = {}
        self._next_sweep = clock() + WINDOW_S

    async def acquire(self, key_id: str, rpm: int, tpm: int, tokens: int) -> Decision:
        _check_arguments(rpm, tpm, tokens)
        now = self._clock()
        self._evict_idle(now)
        buckets = self._refilled_buckets(key_id, rpm, tpm, now)
        exceeded, _ = _refusal(buckets.requests, buckets.tokens, rpm, tpm, tokens)
        if exceeded is None:
            buckets.requests = max(0.0, buckets.requests - 1)
            buckets.tokens = max(0.0, buckets.tokens - tokens)
        self._store(key_id, buckets, rpm, tpm, now)
        return _decision(buckets.requests, buckets.tokens, rpm, tpm, tokens, exceeded is None)

    def settle(self, key_id: str, rpm: int, tpm: int, delta: int) -> None:
        _check_arguments(rpm, tpm, 0)
        now = self._clock()
        buckets = self._refilled_buckets(key_id, rpm, tpm, now)
        buckets.tokens = min(float(tpm), buckets.tokens - delta)
        self._store(key_id, buckets, rpm, tpm, now)

    def _store(self, key_id: str, buckets: _Buckets, rpm: int, tpm: int, now: float) -> None:
        buckets.full_at = now + max(
            _seconds_until(buckets.requests, rpm, rpm), _seconds_until(buckets.tokens, tpm, tpm)
        )
        self._buckets[key_id] = buckets

    async def close(self) -> None:
        self._buckets.clear()

    def _refilled_buckets(self, key_id: str, rpm: int, tpm: int, now: float) -> _Buckets:
        saved = self._buckets.get(key_id)
        if saved is None:
            return _Buckets(float(rpm), float(tpm), now, now)
        elapsed_s = now - saved.updated_at
        return _Buckets(
            _refilled(saved.requests, rpm, elapsed_s),
            _refilled(saved.tokens, tpm, elapsed_s),
            now,
            saved.full_at,
        )

    def _evict_idle(self, now: float) -> None:
        # At most once a window, so the sweep costs O(1) per request amortised.
        if now < self._next_sweep:
            return
        self._next_sweep = now + WINDOW_S
        idle = [key_id for key_id, buckets in self._buckets.items() if buckets.full_at <= now]
        for key_id in idle:
            del self._buckets[key_id]


# ---------------------------------------------------------------- Redis backend

# KEYS[1]: the key's hash {r: requests left, t: tokens left, ms: when, in Redis time}.
# ARGV: rpm, tpm, tokens wanted, epsilon. Replies {admitted 0|1, requests left, tokens left}
# with levels as exact decimal strings: Redis truncates Lua numbers in replies to integers.
_ACQUIRE_LUA = """
if redis.replicate_commands then redis.replicate_commands() end -- TIME before writes, Redis < 5
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, eps = tonumber(ARGV[3]), tonumber(ARGV[4])
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local saved = redis.call('HMGET', KEYS[1], 'r', 't', 'ms')
local requests, tokens = rpm, tpm
if saved[3] then
  local elapsed = math.max(0, now_ms - tonumber(saved[3]))
  requests = math.min(rpm, tonumber(saved[1]) + elapsed * rpm / 60000)
  tokens = math.min(tpm, tonumber(saved[2]) + elapsed * tpm / 60000)
end
local admitted = requests >= 1 - eps and cost <= tpm and tokens >= cost - eps
if admitted then
  requests = math.max(0, requests - 1)
  tokens = math.max(0, tokens - cost)
  redis.call('HSET', KEYS[1], 'r', requests, 't', tokens, 'ms', now_ms)
  -- Once both buckets are full again the key means the same as no key: let it expire.
  local full_in_ms = math.max((rpm - requests) / rpm, (tpm - tokens) / tpm) * 60000
  redis.call('PEXPIRE', KEYS[1], math.ceil(full_in_ms) + 1)
end
return {admitted and 1 or 0, string.format('%.17g', requests), string.format('%.17g', tokens)}
"""


# KEYS[1] as above; ARGV: rpm, tpm, tokens to take (negative: to give back). Refills
# like the check, then moves the tokens bucket (at most full; below zero is a debt).
# A key that expired had full buckets: giving back to it changes nothing.
_SETTLE_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local rpm, tpm, delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local saved = redis.call('HMGET', KEYS[1], 'r', 't', 'ms')
if not saved[3] and delta <= 0 then return 0 end
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local requests, tokens = rpm, tpm
if saved[3] then
  local elapsed = math.max(0, now_ms - tonumber(saved[3]))
  requests = math.min(rpm, tonumber(saved[1]) + elapsed * rpm / 60000)
  tokens = math.min(tpm, tonumber(saved[2]) + elapsed * tpm / 60000)
end
tokens = math.min(tpm, tokens - delta)
redis.call('HSET', KEYS[1], 'r', requests, 't', tokens, 'ms', now_ms)
local full_in_ms = math.max((rpm - requests) / rpm, (tpm - tokens) / tpm) * 60000
redis.call('PEXPIRE', KEYS[1], math.ceil(full_in_ms) + 1)
return 1
"""


class RedisRateLimiter:
    """Rate limits shared through Redis by every gateway replica; fails closed (503)."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "gateway:ratelimit:",
        timeout_s: float = 0.5,
        max_connections: int = 128,
    ) -> None:
        # A blocking pool: past max_connections a check waits for a free connection
        # instead of failing at once (redis-py's default pool refuses beyond 100).
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            # One quick retry heals a pooled connection Redis has dropped; more
            # (with redis-py's default backoff) would hold requests for seconds. A
            # timeout is not retried: it would double the wait on a frozen Redis.
            retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        )
        self._client: Redis = Redis.from_pool(pool)
        self._script = ScriptBatcher(self._client, _ACQUIRE_LUA, _SETTLE_LUA)
        self._key_prefix = key_prefix

    async def acquire(self, key_id: str, rpm: int, tpm: int, tokens: int) -> Decision:
        _check_arguments(rpm, tpm, tokens)
        try:
            reply = await self._script.call(self._key_prefix + key_id, rpm, tpm, tokens, _EPSILON)
        except (RedisError, OSError) as exc:
            logger.warning("rate limiter: Redis unavailable, refusing request: %r", exc)
            raise _limiter_unavailable() from exc
        admitted, requests_left, tokens_left = reply
        return _decision(float(requests_left), float(tokens_left), rpm, tpm, tokens, admitted == 1)

    def settle(self, key_id: str, rpm: int, tpm: int, delta: int) -> None:
        """Queued into the next pipeline; a failure is logged (the estimate then stands)."""
        _check_arguments(rpm, tpm, 0)
        self._script.cast(self._key_prefix + key_id, rpm, tpm, delta, script=1)

    async def problem(self) -> str | None:
        """None when Redis answers a PING (each operation bounded by `timeout_s`)."""
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            return f"Redis unreachable: {exc!r}"
        return None

    async def close(self) -> None:
        await self._client.aclose()


def _limiter_unavailable() -> ApiError:
    return ApiError(
        503,
        "Rate limiter unavailable: the gateway cannot reach its rate-limit store and "
        "refuses requests it cannot count. Please try again shortly.",
        type="server_error",
        anchor="rate-limits",
        headers={names.RETRY_AFTER: "1"},
    )
