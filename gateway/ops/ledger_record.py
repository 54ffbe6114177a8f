"""One ledger row per answered request, and what it cost.

Money is kept exactly, as an integer number of nano-dollars (1e-9 USD): a price
of USD 0.075 per million tokens is 75 nano-dollars per token, so any price with
up to three decimals per million tokens bills every token exactly, and sums of
rows never drift the way floats do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from gateway.catalog import Prices
from gateway.observe import RequestOutcome

NANO_PER_MICRO = 1000  # USD per million tokens = micro-dollars per token


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """The columns of `usage_ledger`, in order (gateway/ops/ledger_schema.py)."""

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
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LedgerRow:
        return cls(**data)


COLUMNS: tuple[str, ...] = tuple(LedgerRow.__dataclass_fields__)


def row_of(outcome: RequestOutcome, prices: Prices | None) -> LedgerRow:
    usage = outcome.usage
    error = outcome.error
    prompt = usage.prompt_tokens if usage else None
    completion = usage.completion_tokens if usage else None
    cached = usage.cached_tokens if usage else None
    return LedgerRow(
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
    cached_price = prices.cached_input_per_mtok
    if cached_price is None:
        cached_price = prices.input_per_mtok
    micro = (
        uncached_tokens * _exact(prices.input_per_mtok)
        + cached_tokens * _exact(cached_price)
        + (completion or 0) * _exact(prices.output_per_mtok)
    )
    return int((micro * NANO_PER_MICRO).to_integral_value(ROUND_HALF_EVEN))


def _exact(price: float) -> Decimal:
    # str() is the shortest repr, i.e. the decimal the catalog's YAML spelled (0.15, not
    # 0.1499999999999999944488848768742172978818416595458984375).
    return Decimal(str(price))
