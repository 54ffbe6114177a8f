"""Every request is seen as addressed to the configured public base URL.

`Host` is an unauthenticated header: an absolute URL built from it (a
redirect's `Location`, a `doc_url`) would point wherever the client says.
`PublicOrigin.apply` (run by the app's outer layer, gateway.http.edge) replaces
the scheme and `Host` of each request's scope with those of `public_base_url`
before anything reads them, so Starlette's own redirects are built from
configuration too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import Scope


class PublicOrigin:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.netloc.encode("latin-1")

    def apply(self, scope: Scope) -> None:
        """The request's scope, seen as addressed to the public base URL."""
        scope["scheme"] = self.scheme
        headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
        headers.append((b"host", self.host))
        scope["headers"] = headers
