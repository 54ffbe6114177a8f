"""End to end, over raw sockets: clients that are slow, many, malformed or lie about Host.

Each answer is OpenAI's envelope: 408 for headers or a body not received in
time, 503 past the connection cap or the in-flight body budget, 400 for
malformed HTTP; absolute URLs come from `public_base_url`, never from `Host`.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.e2e

StartGateway = Callable[[Mapping[str, str]], AbstractContextManager[str]]
HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 40
BODY_BYTES = 50_000  # two such bodies fit the in-flight budget, a third does not
PUBLIC = "https://api.gateway.test"
READ_S = 15.0  # the longest any read below may wait


@pytest.fixture(scope="module")
def gateway(start_gateway: StartGateway) -> Iterator[tuple[str, int]]:
    overrides = {
        "GATEWAY_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "GATEWAY_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "GATEWAY_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "GATEWAY_MAX_BODY_BYTES": str(60_000),
        "GATEWAY_MAX_INFLIGHT_BODY_BYTES": str(2 * BODY_BYTES + 10_000),
        "GATEWAY_PUBLIC_BASE_URL": PUBLIC,
    }
    with start_gateway(overrides) as url:
        port = urlsplit(url).port
        assert port is not None
        yield url, port


def connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=READ_S)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (at most READ_S)."""
    received = b""
    deadline = time.monotonic() + READ_S
    while time.monotonic() < deadline:
        chunk = connection.recv(65536)
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the server kept the connection open for {READ_S} s: {received[:200]!r}")


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, json.loads(body)


def chat_body(size: int) -> bytes:
    start, end = b'{"model": "chat-plain", "messages": [{"role": "user", "content": "', b'"}]}'
    return start + b"x" * (size - len(start) - len(end)) + end


def post_head(key: str, length: int) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_headers_trickled_a_byte_at_a_time_get_a_408_envelope_within_the_deadline(
    gateway: tuple[str, int],
) -> None:
    _, port = gateway
    with connect(port) as connection:
        started = time.monotonic()
        connection.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        connection.settimeout(0.3)
        answer = b""
        for _ in range(int(READ_S / 0.3)):  # a byte every 0.3 s, as a slowloris does
            try:
                connection.sendall(b"a")
                answer = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # reset after the server closed: the answer came first
                break
            break
        connection.settimeout(READ_S)
        answer += read_until_closed(connection)
        elapsed = time.monotonic() - started
    status, headers, body = parse(answer)
    assert status == 408
    assert headers["connection"] == "close"
    assert body["error"]["message"] == "Request headers were not received within 2 s."
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["doc_url"].startswith(f"{PUBLIC}/docs/compatibility#")
    assert HEADER_TIMEOUT_S * 0.9 <= elapsed < HEADER_TIMEOUT_S + 5


def test_idle_connections_are_closed_after_the_header_deadline(gateway: tuple[str, int]) -> None:
    """Connections that send nothing do not hold descriptors for the client's patience."""
    _, port = gateway
    with ExitStack() as stack:
        idle = [stack.enter_context(connect(port)) for _ in range(20)]
        started = time.monotonic()
        answers = [parse(read_until_closed(connection))[0] for connection in idle]
        elapsed = time.monotonic() - started
    assert answers == [408] * 20
    assert elapsed < HEADER_TIMEOUT_S + 5


def test_body_trickled_past_the_body_deadline_is_a_408_envelope(
    gateway: tuple[str, int], local_key: str
) -> None:
    _, port = gateway
    body = chat_body(200)
    with connect(port) as connection:
        connection.sendall(post_head(local_key, len(body)) + body[:20])
        started = time.monotonic()
        connection.settimeout(0.3)
        answer = b""
        for index in range(20, len(body)):  # a byte every 0.3 s: 54 s for the whole body
            try:
                connection.sendall(body[index : index + 1])
                answer = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            break
        connection.settimeout(READ_S)
        answer += read_until_closed(connection)
        elapsed = time.monotonic() - started
    status, _, error = parse(answer)
    assert status == 408
    assert error["error"]["message"] == "The request body was not received within 2 s."
    assert BODY_TIMEOUT_S * 0.9 <= elapsed < BODY_TIMEOUT_S + 5


def test_connections_over_the_cap_get_a_503_envelope_at_once(
    gateway: tuple[str, int], local_key: str
) -> None:
    url, port = gateway
    with ExitStack() as stack:
        held = [stack.enter_context(connect(port)) for _ in range(MAX_CONNECTIONS)]
        extra = stack.enter_context(connect(port))
        started = time.monotonic()
        status, headers, body = parse(read_until_closed(extra))
        assert time.monotonic() - started < HEADER_TIMEOUT_S  # not the header deadline's 408
        assert len(held) == MAX_CONNECTIONS
    assert status == 503
    assert headers["retry-after"] == "1"
    assert body["error"]["type"] == "server_error"
    assert body["error"]["message"].startswith("The gateway has too many open connections")
    # Once they are closed, the gateway serves again.
    deadline = time.monotonic() + READ_S
    auth = {"Authorization": f"Bearer {local_key}"}
    while httpx.get(f"{url}/v1/models", headers=auth, timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the gateway did not recover from the cap"
        time.sleep(0.2)


def test_malformed_http_is_a_400_envelope(gateway: tuple[str, int]) -> None:
    _, port = gateway
    with connect(port) as connection:
        connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, _, body = parse(read_until_closed(connection))
    assert status == 400
    assert body["error"]["message"].startswith("Invalid HTTP request received.")


def test_bodies_past_the_in_flight_budget_are_a_503_envelope_until_others_finish(
    gateway: tuple[str, int], local_key: str
) -> None:
    """Two 50 kB bodies being received hold the budget; a third is refused, then fits."""
    url, port = gateway
    body = chat_body(BODY_BYTES)
    with ExitStack() as stack:
        slow = [stack.enter_context(connect(port)) for _ in range(2)]
        for connection in slow:
            connection.sendall(post_head(local_key, len(body)) + body[:100])
        time.sleep(0.3)  # both reservations made (their headers are complete)
        refused = httpx.post(
            f"{url}/v1/chat/completions",
            content=body,
            headers={"Authorization": f"Bearer {local_key}", "Content-Type": "application/json"},
            timeout=READ_S,
        )
        for connection in slow:
            connection.sendall(body[100:])
            connection.settimeout(READ_S)
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["message"].startswith("The gateway is holding too many")
    admitted = httpx.post(
        f"{url}/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {local_key}", "Content-Type": "application/json"},
        timeout=READ_S,
    )
    assert admitted.status_code == 200


def test_a_forged_host_header_reaches_no_url_in_an_answer(gateway: tuple[str, int]) -> None:
    """doc_url and redirects come from public_base_url, whatever `Host` says."""
    url, _ = gateway
    forged = {"Host": "evil.example", "Authorization": "Bearer sk-wrong"}
    refused = httpx.post(f"{url}/v1/chat/completions", headers=forged, json={}, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"]["doc_url"] == f"{PUBLIC}/docs/compatibility#authentication"
    for path in ("/v1/models/", "/v1/chat/completions/", "/docs/compatibility/"):
        answer = httpx.get(f"{url}{path}", headers=forged, timeout=10)
        assert "evil.example" not in answer.headers.get("location", "")
        assert "evil.example" not in answer.text
        if "location" in answer.headers:
            assert answer.headers["location"].startswith(PUBLIC)
