"""A crash answered once and logged once: the innermost middleware of the app.

Starlette's ServerErrorMiddleware, outermost, would answer a crash through
the app's `Exception` handler and then re-raise it for the server, so uvicorn
logged a second traceback of the same error. Caught here, inside it, the
crash is logged with its traceback, answered with OpenAI's 500 envelope when
no response has started, and goes no further.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ApiError

log = logging.getLogger(__name__)

CRASH_MESSAGE = "The server had an error while processing your request. Sorry about that!"


def crash_error() -> ApiError:
    return ApiError(500, CRASH_MESSAGE, type="server_error")


class CrashGuard:
    def __init__(self, app: ASGIApp, docs_url: str) -> None:
        self.app = app
        self.docs_url = docs_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:  # mid-answer: nothing more can be said; the server ends the response
                return
            error = crash_error()
            response = JSONResponse(error.envelope(self.docs_url), error.status)
            await response(scope, receive, send)
