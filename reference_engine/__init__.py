"""A bundled, deterministic OpenAI-compatible upstream inference engine.

It stands in for vLLM / llama.cpp server: the gateway forwards to it by default,
its tests drive it, and the throughput benchmark uses it as the mock upstream, so
every handler does only cheap, deterministic work (msgspec encode/decode, a hash).

Replies are derived from the request alone (no model weights): chat echoes the last
user message, tools and JSON modes get example values built from their schemas,
embeddings are unit vectors seeded by a sha256 of the input. Token counts are
whitespace-split words. vLLM's `ignore_eos: true` with `max_tokens` (or
`max_completion_tokens`) N makes the chat reply exactly N words, so a stream of N
small content chunks (what `make bench-stream` relays).

Some model names inject upstream failures so the gateway's error paths can be tested;
see `FAILURE_MODELS`.

Run: python -m reference_engine --host 127.0.0.1 --port 8001 --models a,b

Modules, one job each: `wire` (JSON encoding and the shapes every endpoint shares),
`requests` (request parsing), `text` (word counting and usage), `schema_examples`
(example values from JSON schemas), `prompts` (legacy-completion and embedding
inputs), `chat`, `legacy` and `embeddings` (the endpoints' replies), `failures`
(failure injection), `engine` (the route handlers' shared state), `app` (the
Starlette app) and `cli` (the command line).
"""

from reference_engine.app import DEFAULT_SLOW_S, create_app
from reference_engine.cli import DEFAULT_PORT, main
from reference_engine.engine import ReferenceEngine, StreamStats
from reference_engine.failures import (
    FAILURE_MODELS,
    MODEL_DISCONNECT,
    MODEL_ERROR_400,
    MODEL_ERROR_500,
    MODEL_GARBAGE,
    MODEL_SLOW,
)
from reference_engine.wire import EngineError

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_SLOW_S",
    "FAILURE_MODELS",
    "MODEL_DISCONNECT",
    "MODEL_ERROR_400",
    "MODEL_ERROR_500",
    "MODEL_GARBAGE",
    "MODEL_SLOW",
    "EngineError",
    "ReferenceEngine",
    "StreamStats",
    "create_app",
    "main",
]
