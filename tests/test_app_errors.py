"""How the app answers errors no handler expected: OpenAI's envelope, never internals."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.requests import Request

from gateway.app import _crash_handler
from gateway.config import Config


def request(path: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        # An unauthenticated header: the doc_url must not be built from it.
        "headers": [(b"host", b"evil.example")],
        "scheme": "http",
        "server": ("evil.example", 80),
        "root_path": "",
    }
    return Request(scope)


def test_unexpected_exception_is_a_500_envelope_without_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = Config(catalog="c.yaml", keys="k.yaml", public_base_url="http://gateway.test")
    handler = _crash_handler(config)
    secret = "KeyError('sk-live-do-not-leak') at /srv/gateway/handlers.py line 42"
    with caplog.at_level(logging.ERROR, logger="gateway"):
        response = asyncio.run(handler(request("/v1/chat/completions"), RuntimeError(secret)))
    body = json.loads(bytes(response.body))
    assert response.status_code == 500
    assert body == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
            "doc_url": "http://gateway.test/docs/compatibility#errors",
        }
    }
    assert secret not in response.body.decode()
    assert secret in caplog.text  # the operator still sees what happened
