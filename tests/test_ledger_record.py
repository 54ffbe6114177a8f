"""The ledger's row of an outcome, and its exact cost from the catalog's prices."""

from __future__ import annotations

from decimal import Decimal

from gateway.catalog import Prices
from gateway.observe import RefusalInfo, RequestOutcome, Usage
from gateway.ops.ledger.record import COLUMNS, LedgerRow, cost_nanousd, row_of

PRICES = Prices(input_per_mtok=0.15, cached_input_per_mtok=0.075, output_per_mtok=0.6)


def outcome(**changes: object) -> RequestOutcome:
    fields: dict[str, object] = {
        "outcome_id": "o1",
        "request_id": "req_1",
        "received_at": 1_764_600_000.25,
        "endpoint": "chat.completions",
        "key_id": "team-a",
        "model": "reference-chat",
        "status": 200,
        "stream": True,
        "usage": Usage(prompt_tokens=100, completion_tokens=20, cached_tokens=40),
        "latency_s": 0.5,
        "first_chunk_s": 0.1,
        "error": None,
        "stream_end": "done",
    }
    return RequestOutcome(**{**fields, **changes})  # type: ignore[arg-type]


def test_cached_prompt_tokens_cost_the_cached_price_and_the_rest_the_input_price() -> None:
    # 60 x 0.15 + 40 x 0.075 + 20 x 0.6 micro-dollars = 9 + 3 + 12 = 24 micro-dollars
    assert cost_nanousd(PRICES, 100, 20, 40) == 24_000


def test_cached_tokens_cost_the_input_price_when_the_catalog_sets_no_cached_price() -> None:
    prices = Prices(input_per_mtok=0.15, output_per_mtok=0.6)
    assert cost_nanousd(prices, 100, 20, 40) == 100 * 150 + 20 * 600


def test_costs_are_exact_where_floats_would_drift() -> None:
    """0.1 + 0.2 style drift: a million one-token requests at 0.3 USD/Mtok cost exactly 0.3."""
    prices = Prices(input_per_mtok=0.3, output_per_mtok=0)
    one = cost_nanousd(prices, 1, None, None)
    assert one == 300
    assert Decimal(sum([one] * 1_000_000)).scaleb(-9) == Decimal("0.3")


def test_no_prices_or_no_reported_tokens_is_a_null_cost() -> None:
    assert cost_nanousd(None, 100, 20, 0) is None
    assert cost_nanousd(PRICES, None, None, None) is None


def test_embeddings_usage_without_completion_tokens_is_billed_for_the_prompt() -> None:
    assert cost_nanousd(PRICES, 10, None, None) == 1500


def test_more_cached_than_prompt_tokens_never_bills_negative_input() -> None:
    assert cost_nanousd(PRICES, 10, 0, 50) == 10 * 75


def test_the_row_carries_every_field_of_the_outcome() -> None:
    refusal = RefusalInfo("server_error", None, "engine_error", "boom")
    row = row_of(outcome(error=refusal, stream_end="engine_error"), PRICES)
    assert row == LedgerRow(
        outcome_id="o1",
        request_id="req_1",
        received_at=1_764_600_000.25,
        key_id="team-a",
        model="reference-chat",
        endpoint="chat.completions",
        status=200,
        stream=True,
        prompt_tokens=100,
        completion_tokens=20,
        cached_tokens=40,
        latency_s=0.5,
        first_token_s=0.1,
        error_type="server_error",
        error_param=None,
        error_code="engine_error",
        stream_end="engine_error",
        cost_nanousd=24_000,
    )


def test_a_refused_request_has_null_tokens_and_cost() -> None:
    refusal = RefusalInfo("invalid_request_error", "messages", None, "empty")
    row = row_of(outcome(status=400, usage=None, error=refusal, stream_end=None), PRICES)
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens) == (None, None, None)
    assert (row.error_type, row.error_param, row.cost_nanousd) == (
        "invalid_request_error",
        "messages",
        None,
    )


def test_a_row_survives_its_json_spool_form() -> None:
    row = row_of(outcome(), PRICES)
    assert LedgerRow.from_json(row.to_json()) == row
    assert tuple(row.to_json()) == COLUMNS
