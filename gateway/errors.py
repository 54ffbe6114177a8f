"""OpenAI's error envelope, shared by the generated validators and the runtime.

Every error the gateway answers is an `ApiError`; `envelope` turns it into the
body api.openai.com would send, plus our `doc_url` extension.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to the client in OpenAI's envelope; never a stack trace."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        anchor: str = "errors",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.anchor = anchor
        self.headers = headers or {}

    def envelope(self, doc_base_url: str) -> dict[str, Any]:
        """The JSON body: OpenAI's four keys, then `doc_url` pointing at the page anchor."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
                "doc_url": f"{doc_base_url}#{self.anchor}",
            }
        }

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.message!r}, param={self.param!r})"


class RequestValidationError(ApiError):
    """A 400 for an off-spec request body: `param` is the offending path, `code` is null."""

    def __init__(self, param: str | None, message: str, anchor: str) -> None:
        super().__init__(400, message, param=param, anchor=anchor)
        self.problem: Any = None  # the validator's Problem (stage and all), when it made this
