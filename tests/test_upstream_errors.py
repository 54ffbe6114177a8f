"""An engine failure keeps its cause: the client's ApiError is raised `from` it, and logged."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from gateway.errors import ApiError
from gateway.upstream.client import Upstream
from gateway.upstream.http1 import ConnectFailed


def closed_port() -> int:
    with socket.socket() as s:  # bound then released: nothing listens there
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_engine_is_a_503_raised_from_the_connection_error_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1/chat/completions"

    async def post() -> BaseException:
        upstream = Upstream(connect_timeout_s=2, timeout_s=5)
        await upstream.start()
        try:
            with pytest.raises(ApiError) as raised:
                await upstream.post_json(url, b"{}", "chat-plain")
            return raised.value
        finally:
            await upstream.close()

    with caplog.at_level(logging.WARNING, logger="gateway.upstream.client"):
        error = asyncio.run(post())
    assert isinstance(error, ApiError) and error.status == 503
    assert isinstance(error.__cause__, ConnectFailed)
    assert isinstance(error.__cause__.__cause__, ConnectionRefusedError)
    [record] = [r for r in caplog.records if r.name == "gateway.upstream.client"]
    assert "chat-plain" in record.getMessage() and url in record.getMessage()
