"""Every request is seen as addressed to the configured public base URL.

`Host` is an unauthenticated header: an absolute URL built from it (a
redirect's `Location`, a `doc_url`) would point wherever the client says.
This middleware replaces the scheme and `Host` of each request's scope with
those of `public_base_url` before anything reads them, so Starlette's own
redirects (the trailing-slash one) are built from configuration too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send


class PublicOrigin:
    def __init__(self, app: ASGIApp, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.app = app
        self.scheme = parts.scheme
        self.host = parts.netloc.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["scheme"] = self.scheme
            headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
            headers.append((b"host", self.host))
            scope["headers"] = headers
        await self.app(scope, receive, send)
