"""One ledger row per answered request, and what it cost.

Money is kept exactly, as an integer number of nano-dollars (1e-9 USD): a price
of USD 0.075 per million tokens is 75 nano-dollars per token, so any price with
up to three decimals per million tokens bills every token exactly, and sums of
rows never drift the way floats do.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, NamedTuple

import msgspec

from gateway.catalog import Prices
from gateway.observe import RequestOutcome

NANO_PER_MICRO = 1000  # USD per million tokens = micro-dollars per token


class LedgerRow(NamedTuple):
    """The columns of `usage_ledger`, in order (gateway/ops/ledger/schema.py). A tuple:
    cheap to build in the writer thread, and already the values an insert binds."""

    outcome_id: str  # the primary key: the gateway's own, never a client's
    request_id: str
    received_at: float  # seconds since the epoch, UTC
    key_id: str | None
    model: str | None
    endpoint: str
    status: int
    stream: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    latency_s: float
    first_token_s: float | None
    error_type: str | None
    error_param: str | None
    error_code: str | None
    stream_end: str | None
    cost_nanousd: int | None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LedgerRow:
        return cls(**data)


COLUMNS: tuple[str, ...] = LedgerRow._fields
_ENCODER = msgspec.json.Encoder()


def batch_json(rows: Sequence[LedgerRow]) -> str:
    """The rows as one JSON array of arrays, each row's values in column order: the one
    parameter of PostgreSQL's batch insert (gateway.ops.ledger.schema.postgres_insert_statement).
    Floats are written in their shortest exact form, so they read back bit for bit."""
    return _ENCODER.encode(rows).decode()


def row_of(outcome: RequestOutcome, prices: Prices | None) -> LedgerRow:
    usage = outcome.usage
    error = outcome.error
    prompt = usage.prompt_tokens if usage is not None else None
    completion = usage.completion_tokens if usage is not None else None
    cached = usage.cached_tokens if usage is not None else None
    return LedgerRow(
        outcome_id=outcome.outcome_id,
        request_id=outcome.request_id,
        received_at=outcome.received_at,
        key_id=outcome.key_id,
        model=outcome.model,
        endpoint=outcome.endpoint,
        status=outcome.status,
        stream=outcome.stream,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        latency_s=outcome.latency_s,
        first_token_s=outcome.first_chunk_s,
        error_type=error.type if error else None,
        error_param=error.param if error else None,
        error_code=error.code if error else None,
        stream_end=outcome.stream_end,
        cost_nanousd=cost_nanousd(prices, prompt, completion, cached),
    )


def cost_nanousd(
    prices: Prices | None, prompt: int | None, completion: int | None, cached: int | None
) -> int | None:
    """The cost in nano-dollars; None when the model has no prices or the engine reported
    no token counts. Cached prompt tokens are billed at the cached price (the input price
    when the catalog sets none), the rest of the prompt at the input price."""
    if prices is None or (prompt is None and completion is None):
        return None
    cached_tokens = min(cached or 0, prompt or 0)
    uncached_tokens = (prompt or 0) - cached_tokens
    input_rate, cached_rate, output_rate = _nano_rates(prices)
    nano = (
        uncached_tokens * input_rate + cached_tokens * cached_rate + (completion or 0) * output_rate
    )
    return nano if isinstance(nano, int) else int(nano.to_integral_value(ROUND_HALF_EVEN))


@functools.cache
def _nano_rates(prices: Prices) -> tuple[int, int, int] | tuple[Decimal, Decimal, Decimal]:
    """Nano-dollars per token for input, cached input and output: integers when the prices
    have at most three decimals (integer arithmetic, exact), else exact Decimals."""
    cached = prices.cached_input_per_mtok
    if cached is None:
        cached = prices.input_per_mtok
    rates = [_exact(price) * NANO_PER_MICRO for price in (prices.input_per_mtok, cached)]
    rates.append(_exact(prices.output_per_mtok) * NANO_PER_MICRO)
    if all(rate == rate.to_integral_value() for rate in rates):
        return int(rates[0]), int(rates[1]), int(rates[2])
    return rates[0], rates[1], rates[2]


def _exact(price: float) -> Decimal:
    # str() is the shortest repr, i.e. the decimal the catalog's YAML spelled (0.15, not
    # 0.1499999999999999944488848768742172978818416595458984375).
    return Decimal(str(price))
