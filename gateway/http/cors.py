"""CORS for the configured browser origins, and nothing at all for any other.

The official JavaScript SDK sends `X-Stainless-*` platform and retry headers
(`X-Stainless-Lang`, `-Package-Version`, `-OS`, `-Arch`, `-Runtime`,
`-Runtime-Version`, `-Retry-Count`, `-Timeout`, `-Helper-Method`,
`-Poll-Helper`, `-Custom-Poll-Interval`, and more in later versions), so the
whole `x-stainless-` prefix is allowed, plus the headers the SDKs set
(`Authorization`, `OpenAI-Organization`, `OpenAI-Project`, `OpenAI-Beta`,
`Idempotency-Key`, `X-Client-Request-Id`). Browser code may read the rate-limit,
retry and request-id headers of answers.

To an origin that is not listed the gateway sends no `Access-Control-*`
header: its preflight is a 400 in OpenAI's envelope, and its other requests
are answered as if no browser had asked (the browser then withholds them).
"""

from __future__ import annotations

from collections.abc import Collection

import msgspec
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ApiError
from gateway.limits.headers import FALLBACK_HEADERS, RATE_LIMIT_HEADERS, RETRY_HEADERS

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "content-language",
        "content-type",
        "authorization",
        "openai-organization",
        "openai-project",
        "openai-beta",
        "idempotency-key",
        "x-client-request-id",  # the client's own request id (gateway.ops.request_ids)
    }
)
ALLOWED_PREFIX = "x-stainless-"
# What browser code may read: the limits, when to retry, the request id, and what a
# rule's fallback applied (the json_schema fallback's header, declared in the matrix).
EXPOSED_HEADERS = ", ".join(
    (*RATE_LIMIT_HEADERS, *RETRY_HEADERS, "x-request-id", *FALLBACK_HEADERS)
)
MAX_AGE_S = "600"


def header_allowed(name: str) -> bool:
    name = name.strip().lower()
    return name in ALLOWED_HEADERS or name.startswith(ALLOWED_PREFIX)


class Cors:
    """ASGI middleware: answers allowed origins' preflights, marks their answers."""

    def __init__(self, app: ASGIApp, origins: Collection[str], docs_url: str) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.docs_url = docs_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
        elif scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self.preflight(origin, headers)(scope, receive, send)
        elif origin in self.origins:
            await self.app(scope, receive, self.marking(send, origin))
        else:
            await self.app(scope, receive, self.varying(send))

    def preflight(self, origin: str, headers: Headers) -> Response:
        method = headers["access-control-request-method"]
        requested = [h for h in headers.get("access-control-request-headers", "").split(",") if h]
        refused = [h.strip() for h in requested if not header_allowed(h)]
        if origin not in self.origins:
            return self.refusal(f"The origin {origin!r} is not allowed to call this gateway.")
        if method not in ALLOWED_METHODS or refused:
            problem = f"header(s) {', '.join(refused)}" if refused else f"method {method}"
            return self.refusal(f"CORS request refused: {problem} not allowed.", origin)
        return Response(
            status_code=200,
            headers={
                "access-control-allow-origin": origin,
                "access-control-allow-methods": ", ".join(ALLOWED_METHODS),
                "access-control-allow-headers": ", ".join(h.strip() for h in requested),
                "access-control-max-age": MAX_AGE_S,
                "vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            },
        )

    def refusal(self, message: str, origin: str | None = None) -> Response:
        """A refused preflight; only an allowed origin learns the CORS policy."""
        body = msgspec.json.encode(ApiError(400, message).envelope(self.docs_url))
        headers = {"vary": "Origin"}
        if origin is not None:
            headers["access-control-allow-origin"] = origin
        return Response(body, 400, headers=headers, media_type="application/json")

    def marking(self, send: Send, origin: str) -> Send:
        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["access-control-allow-origin"] = origin
                headers["access-control-expose-headers"] = EXPOSED_HEADERS
                headers.add_vary_header("Origin")
            await send(message)

        return send_marked

    def varying(self, send: Send) -> Send:
        """Answers to other origins say they vary by Origin, so no cache serves them across."""

        async def send_varied(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).add_vary_header("Origin")
            await send(message)

        return send_varied
