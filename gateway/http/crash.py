"""A crash answered once and logged once, by the app's outer layer (gateway.http.edge).

Starlette's ServerErrorMiddleware, outermost, would answer a crash through
the app's `Exception` handler and then re-raise it for the server, so uvicorn
logged a second traceback of the same error. Caught inside it instead, the
crash is logged here (`log`) with its traceback, answered with OpenAI's 500
envelope (`crash_error`) when no response has started, and goes no further.
"""

from __future__ import annotations

import logging

from gateway.errors import ApiError

log = logging.getLogger(__name__)

CRASH_MESSAGE = "The server had an error while processing your request. Sorry about that!"


def crash_error() -> ApiError:
    return ApiError(500, CRASH_MESSAGE, type="server_error")
