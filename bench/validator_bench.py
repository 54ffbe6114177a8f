"""Benchmark: the generated chat.completions validator against plain JSON parsing.

Run as `python bench/validator_bench.py` (or `make bench-validator`); add
`--markdown` to print the table as Markdown for the README. This is a
benchmark, not a test: it always exits 0 once the bodies are accepted.

For three request bodies built below (small ~300 B, medium ~6 KB, large
~200 KB) it times, per call:

  orjson.loads        `orjson.loads(body)`: the floor, what parsing alone costs
  validator           `chat_completions.validator.validate(body)`, parse included
  pydantic (SDK)      `TypeAdapter(CompletionCreateParamsNonStreaming).validate_json`
                      on the SDK types as-is. Their `Iterable[...]` fields
                      (messages, tools, content parts, tool_calls) come back as
                      lazy ValidatorIterators, so this row does NOT validate
                      their items; it is the SDK types as shipped, nothing more.
                      (Worse, pydantic/pydantic#10640: from JSON, a string
                      `content` matches the `Iterable[...]` arm of
                      `Union[str, Iterable[...]]`, so consuming those iterators
                      would fail on every plain-text message.)
  pydantic full       `validate_python(orjson.loads(body))` with every lazy
                      iterator consumed (recursively): what a complete pydantic
                      validation of the body costs, parse included
  msgspec untyped     `msgspec.json.decode(body)`, for reference

Method: each candidate gets its own batch size (calls per timed batch, sized
to ~`BATCH_NS`); batches run round-robin over the candidates, the starting
candidate rotating each round, so machine noise hits all alike. Each batch is
timed with `time.perf_counter_ns` with the garbage collector disabled; the
collector runs (if it wants to) between batches, never inside one. The
reported time is the median over rounds of (batch time / calls); the ratio is
the median over rounds of the per-round ratio to orjson.loads, i.e. paired
within a round. Before any timing, every body must be accepted by our
validator and by the pydantic adapter (as-is and fully consumed), and both
results must re-encode to exactly the input document, so no field was
silently ignored as unknown and the numbers are for valid, fully-typed bodies.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import orjson
import pydantic
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from generated.validators import chat_completions

TARGET_RATIO: Final = 1.5
BATCH_NS: Final = 2_000_000  # ~2 ms of calls per timed batch
MIN_ROUNDS: Final = 15
DEFAULT_BUDGET_S: Final = 2.0  # wall time per body, all candidates together

ORJSON: Final = "orjson.loads"
VALIDATOR: Final = "validator"

# ---- bodies ------------------------------------------------------------------

_PROSE: Final = (
    "the gateway forwards each request to an upstream model after validating "
    "its body against the generated schema tokens latency budget streaming "
    "completion assistant function arguments retrieval context window summary "
    "quarterly report customer invoice shipment warehouse inventory forecast "
    'naïve café résumé — “quoted” 数据 ✓ line\nbreak tab\there "escaped" back\\slash'
)
_WORDS: Final = tuple(_PROSE.split(" "))


def _text(rng: random.Random, size: int) -> str:
    """Deterministic prose of about `size` characters (some escapes, some non-ASCII)."""
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def small_body() -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {
                "role": "system",
                "content": "You are a concise travel assistant. Answer in one or two sentences.",
            },
            {
                "role": "user",
                "content": "What is the capital of France, and what are two things it is "
                "famous for among first-time visitors?",
            },
        ],
        "temperature": 0.7,
    }


def _tool(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": sorted(properties),
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


def medium_body() -> dict[str, Any]:
    rng = random.Random(6)
    string = {"type": "string"}
    tools = [
        _tool(
            "get_weather",
            "Current weather and a short forecast for a city.",
            {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
        ),
        _tool(
            "search_orders",
            "Search a customer's orders by status and date range.",
            {
                "customer_id": {"type": "string", "pattern": "^cus_[A-Za-z0-9]{8,}$"},
                "status": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["open", "shipped", "returned"]},
                },
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            },
        ),
        _tool(
            "create_ticket",
            "Open a support ticket with a priority and tags.",
            {
                "title": string,
                "body": string,
                "priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
                "tags": {"type": "array", "items": string, "maxItems": 5},
                "assignee": {"anyOf": [string, {"type": "null"}]},
            },
        ),
        _tool(
            "convert_currency",
            "Convert an amount between two ISO 4217 currencies.",
            {
                "amount": {"type": "number", "exclusiveMinimum": 0},
                "from": {"type": "string", "minLength": 3, "maxLength": 3},
                "to": {"type": "string", "minLength": 3, "maxLength": 3},
            },
        ),
        _tool(
            "lookup_address",
            "Geocode a postal address into coordinates.",
            {
                "address": {
                    "type": "object",
                    "properties": {
                        "street": string,
                        "city": string,
                        "postal_code": string,
                        "country": {"type": "string", "minLength": 2, "maxLength": 2},
                    },
                    "required": ["street", "city", "postal_code", "country"],
                    "additionalProperties": False,
                }
            },
        ),
    ]
    line_item = {
        "type": "object",
        "properties": {
            "sku": string,
            "quantity": {"type": "integer", "minimum": 1},
            "unit_price": {"type": "number"},
        },
        "required": ["sku", "quantity", "unit_price"],
        "additionalProperties": False,
    }
    answer_schema = {
        "type": "object",
        "properties": {
            "summary": string,
            "customer": {
                "type": "object",
                "properties": {
                    "id": string,
                    "name": string,
                    "tier": {"type": "string", "enum": ["free", "pro", "enterprise"]},
                },
                "required": ["id", "name", "tier"],
                "additionalProperties": False,
            },
            "orders": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": string,
                        "status": string,
                        "items": {"type": "array", "items": line_item},
                        "total": {"type": "number"},
                    },
                    "required": ["id", "status", "items", "total"],
                    "additionalProperties": False,
                },
            },
            "next_steps": {"type": "array", "items": string},
        },
        "required": ["summary", "customer", "orders", "next_steps"],
        "additionalProperties": False,
    }
    call_id = "call_Qm3ZrV8xKpL2nT7w"
    return {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": _text(rng, 800)},
            {"role": "user", "content": _text(rng, 700), "name": "alice"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": "search_orders",
                            "arguments": orjson.dumps(
                                {"customer_id": "cus_8f3kQ2xZ", "status": ["open"], "limit": 5}
                            ).decode(),
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": _text(rng, 900)},
            {"role": "user", "content": "Summarise those orders in the requested format."},
        ],
        "tools": tools,
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "order_summary",
                "description": "A structured summary of a customer's open orders.",
                "schema": answer_schema,
                "strict": True,
            },
        },
        "stop": ["\n\nUser:", "<|end|>", "###"],
        # No stream_options: without stream (the pydantic row reads the NonStreaming
        # type) api.openai.com refuses it, and so does the validator.
        "temperature": 0.2,
        "top_p": 0.95,
        "max_completion_tokens": 1024,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.0,
        "seed": 1234,
        "user": "user-5f2c",
    }


def _large_message(rng: random.Random, index: int) -> list[dict[str, Any]]:
    """One conversational turn of about 1 KB per message; every 4th with content parts."""
    parts = index % 4 == 3
    match index % 5:
        case 0:
            content: Any = (
                [
                    {"type": "text", "text": _text(rng, 700)},
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": f"https://example.com/img/{index}.png",
                            "detail": "low",
                        },
                    },
                    {"type": "text", "text": _text(rng, 250)},
                ]
                if parts
                else _text(rng, 1000)
            )
            return [{"role": "user", "content": content}]
        case 1:
            content = (
                [
                    {"type": "text", "text": _text(rng, 500)},
                    {"type": "text", "text": _text(rng, 500)},
                ]
                if parts
                else _text(rng, 1000)
            )
            return [{"role": "assistant", "content": content}]
        case 2:
            call_id = f"call_{index:06d}"
            return [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": "search_docs",
                                "arguments": orjson.dumps(
                                    {"query": _text(rng, 120), "top_k": 5}
                                ).decode(),
                            },
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": (
                        [{"type": "text", "text": _text(rng, 1000)}] if parts else _text(rng, 1000)
                    ),
                },
            ]
        case 3:
            return [{"role": "developer", "content": _text(rng, 1000)}]
        case _:
            return [{"role": "user", "content": _text(rng, 1000), "name": f"user_{index % 7}"}]


def large_body() -> dict[str, Any]:
    rng = random.Random(200)
    messages: list[dict[str, Any]] = [{"role": "system", "content": _text(rng, 1000)}]
    index = 0
    while len(messages) < 200:
        messages.extend(_large_message(rng, index))
        index += 1
    return {
        "model": "gpt-4.1",
        "messages": [*messages[:199], {"role": "user", "content": _text(rng, 1000)}],
        "temperature": 1.0,
        "max_tokens": 4096,
    }


BODIES: Final[tuple[tuple[str, Callable[[], dict[str, Any]]], ...]] = (
    ("small", small_body),
    ("medium", medium_body),
    ("large", large_body),
)

# ---- candidates --------------------------------------------------------------

_ADAPTER: Final = pydantic.TypeAdapter(CompletionCreateParamsNonStreaming)


def _drain(value: Any) -> Any:
    """`value` with pydantic's lazy ValidatorIterators consumed, recursively.

    Consuming them is what validates the SDK's `Iterable[...]` fields; an
    invalid item raises pydantic.ValidationError here.
    """
    if isinstance(value, dict):
        return {key: _drain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_drain(item) for item in value]
    if isinstance(value, Iterator):
        return [_drain(item) for item in value]
    return value


def _pydantic_full(body: bytes) -> Any:
    """Complete validation against the SDK types; see the module docstring for why
    this goes through orjson and validate_python rather than validate_json."""
    return _drain(_ADAPTER.validate_python(orjson.loads(body)))


Candidate = tuple[str, Callable[[bytes], object]]

CANDIDATES: Final[tuple[Candidate, ...]] = (
    (ORJSON, orjson.loads),
    (VALIDATOR, chat_completions.validator.validate),
    ("pydantic (SDK)", _ADAPTER.validate_json),
    ("pydantic full", _pydantic_full),
    ("msgspec untyped", msgspec.json.decode),
)

# ---- checks ------------------------------------------------------------------


class BodyRejected(Exception):
    pass


def check_accepted(name: str, body: bytes) -> None:
    """Refuse to time a body that either side rejects or only partly understands."""
    document = orjson.loads(body)
    try:
        request = chat_completions.validator.validate(body)
    except Exception as error:
        raise BodyRejected(f"{name}: our validator rejects the body: {error!r}") from error
    if msgspec.to_builtins(request) != document:
        raise BodyRejected(
            f"{name}: our validator's result does not re-encode to the body "
            "(a field was ignored or coerced)"
        )
    try:
        _ADAPTER.validate_json(body)
        full = _pydantic_full(body)
    except pydantic.ValidationError as error:
        raise BodyRejected(f"{name}: the pydantic SDK adapter rejects the body: {error}") from error
    if full != document:
        raise BodyRejected(f"{name}: the pydantic SDK adapter dropped or coerced part of the body")


# ---- timing ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    body: str
    size: int
    candidate: str
    median_us: float
    ratio: float
    calls: int
    rounds: int


def _time_batch(function: Callable[[bytes], object], body: bytes, calls: int) -> int:
    """Nanoseconds for `calls` calls, with the collector off for the batch only."""
    loop = range(calls)
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in loop:
            function(body)
        return time.perf_counter_ns() - start
    finally:
        gc.enable()


def _batch_size(function: Callable[[bytes], object], body: bytes) -> int:
    """Calls per batch so that one batch lasts about BATCH_NS (warms up on the way)."""
    calls = 1
    while True:
        elapsed = min(_time_batch(function, body, calls) for _ in range(3))
        if elapsed >= BATCH_NS // 4 or calls >= 1 << 20:
            return max(1, round(calls * BATCH_NS / max(elapsed, 1)))
        calls *= 2


def measure(name: str, body: bytes, budget_s: float) -> list[Row]:
    sizes = [_batch_size(function, body) for _, function in CANDIDATES]
    round_ns = len(CANDIDATES) * BATCH_NS
    rounds = max(MIN_ROUNDS, int(budget_s * 1e9 / round_ns))
    per_call: list[list[float]] = [[] for _ in CANDIDATES]
    gc.collect()
    for number in range(rounds):
        for offset in range(len(CANDIDATES)):
            index = (number + offset) % len(CANDIDATES)
            _, function = CANDIDATES[index]
            per_call[index].append(_time_batch(function, body, sizes[index]) / sizes[index])
    baseline = per_call[0]
    return [
        Row(
            body=name,
            size=len(body),
            candidate=label,
            median_us=statistics.median(times) / 1000,
            ratio=statistics.median(t / b for t, b in zip(times, baseline, strict=True)),
            calls=calls,
            rounds=rounds,
        )
        for (label, _), times, calls in zip(CANDIDATES, per_call, sizes, strict=True)
    ]


# ---- output ------------------------------------------------------------------

HEADERS: Final = ("body", "bytes", "candidate", "median µs", "ratio vs orjson.loads")


def _cells(row: Row) -> tuple[str, ...]:
    return (
        row.body,
        f"{row.size:,}",
        row.candidate,
        f"{row.median_us:,.2f}",
        f"{row.ratio:.2f}x",
    )


def render_text(rows: Sequence[Row]) -> str:
    table = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(HEADERS))]
    right = {1, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(HEADERS), line(["-" * width for width in widths])]
    previous = None
    for row in rows:
        if previous is not None and row.body != previous:
            out.append("")
        out.append(line(_cells(row)))
        previous = row.body
    return "\n".join(out)


def render_markdown(rows: Sequence[Row]) -> str:
    out = [
        "| " + " | ".join(HEADERS) + " |",
        "|:--|--:|:--|--:|--:|",
    ]
    out.extend("| " + " | ".join(_cells(row)) + " |" for row in rows)
    return "\n".join(out)


def verdict(rows: Sequence[Row]) -> tuple[bool, str]:
    ours = [row for row in rows if row.candidate == VALIDATOR]
    met = all(row.ratio <= TARGET_RATIO for row in ours)
    detail = ", ".join(f"{row.body} {row.ratio:.2f}x" for row in ours)
    word = "MET" if met else "MISSED"
    return met, (
        f"Target: validator <= {TARGET_RATIO}x orjson.loads on all three bodies: {word} ({detail})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        metavar="SECONDS",
        help=f"timing wall time per body, all candidates together (default {DEFAULT_BUDGET_S})",
    )
    args = parser.parse_args(argv)
    markdown: bool = args.markdown
    budget: float = args.budget

    bodies = [(name, orjson.dumps(build())) for name, build in BODIES]
    try:
        for name, body in bodies:
            check_accepted(name, body)
    except BodyRejected as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    rows: list[Row] = []
    for name, body in bodies:
        rows.extend(measure(name, body, budget))

    print(render_markdown(rows) if markdown else render_text(rows))
    print()
    rounds = ", ".join(
        f"{name} {rows[i * len(CANDIDATES)].rounds}" for i, (name, _) in enumerate(bodies)
    )
    note = (
        f"Median of per-call times over round-robin batches of ~{BATCH_NS / 1e6:g} ms "
        f"(rounds: {rounds}); ratio = median of per-round ratios to orjson.loads. "
        f"Python {sys.version.split()[0]}, msgspec {msgspec.__version__}, "
        f"orjson {orjson.__version__}, pydantic {pydantic.VERSION}. "
        "'pydantic (SDK)' leaves the SDK's Iterable fields (messages, tools, parts) "
        "as unvalidated lazy iterators; 'pydantic full' = validate_python(orjson.loads) "
        "with them consumed."
    )
    print(f"_{note}_" if markdown else textwrap.fill(note, 100))
    print()
    _, line = verdict(rows)
    print(f"**{line}**" if markdown else line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
