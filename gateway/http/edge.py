"""The app's per-request layers in one pure-ASGI middleware, in their order.

Outermost first, as they were separate middlewares before (one Python frame
and one `send` wrapper each, per request and per message): the request id
(gateway.ops.request_ids: every answer below carries `x-request-id`, a bad
`X-Client-Request-Id` is refused before anything else), the public origin
(gateway.http.public_origin), CORS when origins are configured
(gateway.http.cors, itself still a layer: it answers preflights), then the
release of the request's body reservation (gateway.limits.bodies) and the
crash guard (gateway.http.crash) around the app, so a crash's 500 gets the
CORS headers and the request id too. Under all of it, the forwarded POST
endpoints (gateway.http.lean) are called directly; every other request goes
on to Starlette's router as before.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http import crash
from gateway.http.cors import Cors
from gateway.http.lean import error_answer
from gateway.http.public_origin import PublicOrigin
from gateway.limits.bodies import BodyBudget
from gateway.observe import new_request_id
from gateway.ops import request_ids
from gateway.ops.request_ids import RESPONSE_HEADER, SCOPE_KEY

_STARTED = "gateway.response_started"  # the scope key: an answer's head has gone out


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        docs_url: str,
        base_url: str,
        bodies: BodyBudget,
        cors_origins: Collection[str] = (),
        lean: Mapping[str, ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.docs_url = docs_url
        self.origin = PublicOrigin(base_url)
        self.bodies = bodies
        self.lean = dict(lean or {})
        self.below_ids: ASGIApp = self.guarded
        if cors_origins:
            self.below_ids = Cors(self.guarded, cors_origins, docs_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, sent = request_ids.request_id_of(scope)
        if request_id is None:
            await self._refuse(sent, send)
            return
        scope[SCOPE_KEY] = request_id
        self.origin.apply(scope)
        id_header = (RESPONSE_HEADER, request_id.encode("ascii"))

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope[_STARTED] = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        token = request_ids.enter_request(request_id)
        try:
            await self.below_ids(scope, receive, answer)
        finally:
            request_ids.leave_request(token)

    async def guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, its crash answered once and logged once, the body reservation released."""
        try:
            handler = self._lean_handler(scope)
            await (handler or self.app)(scope, receive, send)
        except Exception:
            crash.log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if scope.get(_STARTED):  # mid-answer: nothing more can be said
                return
            await error_answer(crash.crash_error(), self.docs_url).send(send)
        finally:
            self.bodies.release(scope)

    def _lean_handler(self, scope: Scope) -> ASGIApp | None:
        """A forwarded endpoint's handler, for exactly the requests its route would match."""
        if scope["method"] != "POST" or scope.get("root_path"):
            return None
        return self.lean.get(scope["path"])

    async def _refuse(self, sent: bytes, send: Send) -> None:
        error = request_ids.invalid_client_id(sent)
        error.headers = {RESPONSE_HEADER.decode(): new_request_id()}
        await error_answer(error, self.docs_url).send(send)
