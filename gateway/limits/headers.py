"""The rate-limit headers of every authenticated answer: OpenAI's names, in one place.

`gateway.limits.ratelimit` sends them, the CORS policy exposes them to browser code,
and the generator documents them on the page and in the OpenAPI document.
"""

from __future__ import annotations

LIMIT_REQUESTS = "x-ratelimit-limit-requests"
LIMIT_TOKENS = "x-ratelimit-limit-tokens"
REMAINING_REQUESTS = "x-ratelimit-remaining-requests"
REMAINING_TOKENS = "x-ratelimit-remaining-tokens"
RESET_REQUESTS = "x-ratelimit-reset-requests"
RESET_TOKENS = "x-ratelimit-reset-tokens"
RETRY_AFTER = "retry-after"
RETRY_AFTER_MS = "retry-after-ms"

# On every answer to an authenticated request.
RATE_LIMIT_HEADERS = (
    LIMIT_REQUESTS,
    LIMIT_TOKENS,
    REMAINING_REQUESTS,
    REMAINING_TOKENS,
    RESET_REQUESTS,
    RESET_TOKENS,
)
# On a refusal that says when to come back (429; 503 when the limiter is unavailable).
RETRY_HEADERS = (RETRY_AFTER, RETRY_AFTER_MS)
# What a matrix rule's fallback says it applied (spec/support_matrix.yaml `header:`;
# regen checks the matrix names no other).
FALLBACK_HEADERS = ("x-gateway-fallback",)

MEANING = {
    LIMIT_REQUESTS: "Your requests-per-minute (RPM) limit.",
    LIMIT_TOKENS: "Your tokens-per-minute (TPM) limit.",
    REMAINING_REQUESTS: "Whole requests left in the current window.",
    REMAINING_TOKENS: "Whole tokens left in the current window.",
    RESET_REQUESTS: "Time until the request budget is full again, e.g. 1s, 6m0s.",
    RESET_TOKENS: "Time until the token budget is full again, e.g. 72ms.",
    RETRY_AFTER: "On a 429 or 503: whole seconds to wait (at least 1).",
    RETRY_AFTER_MS: "On a 429 only: milliseconds until this request would fit.",
}
