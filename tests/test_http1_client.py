"""The engines' HTTP/1.1 client (gateway.upstream.http1) against scripted engines on loopback.

Each engine here is a real socket server that answers with the exact bytes a
test scripts (a fault, a race, a slow answer), so each failure the client must
survive happens on a real connection. Every test runs on asyncio's loop and on
uvloop (the one the gateway runs on), and is bounded by `LIMIT_S`.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop

from gateway.upstream.http1 import (
    Aborted,
    BadResponse,
    ConnectFailed,
    ConnectionLost,
    Http1Client,
)
from gateway.upstream.http1.connection import MAX_HEAD_BYTES

LIMIT_S = 10.0  # no test may take longer, whatever the client does
TIMEOUT_S = 0.3  # the client's timeout where a test waits for it
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
RunAsync = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> RunAsync:
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def run_bounded(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(asyncio.wait_for(coro, LIMIT_S))

    return run_bounded


class EngineConnection:
    """One accepted connection of a scripted engine, read request by request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self) -> bytes | None:
        """The next request's head and body; None once the client closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return head + await self.reader.readexactly(length)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def closed_by_client(self) -> bool:
        """Whether the client closed this connection (EOF) within the test's limit."""
        return await self.reader.read() == b""


Script = Callable[[EngineConnection, int], Awaitable[None]]  # a connection and its number


class ScriptedEngine:
    """An engine on a free loopback port that runs `script` for each connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedEngine:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await self.script(Recording(reader, writer, self.requests), self.connections)
        finally:
            self.open_now -= 1
            writer.close()


class Recording(EngineConnection):
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        super().__init__(reader, writer)
        self.seen = seen

    async def request(self) -> bytes | None:
        request = await super().request()
        if request is not None:
            self.seen.append(request)
        return request


async def answer_each(connection: EngineConnection, answer: bytes, most: int = 100) -> None:
    for _ in range(most):
        if await connection.request() is None:
            return
        await connection.send(answer)


def post(client: Http1Client, url: str, timeout_s: float = 5.0) -> Awaitable[Any]:
    return client.request(
        b"POST", url, b'{"a": 1}', {"Content-Type": "application/json"}, timeout_s
    )


def closed_port() -> int:
    with socket.socket() as s:  # bound then released: nothing listens there
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# ---------------------------------------------------------------- connecting and reuse


def test_refused_connection_is_connect_failed_caused_by_the_refusal(run: RunAsync) -> None:
    async def scenario() -> BaseException:
        client = Http1Client(connect_timeout_s=2)
        with pytest.raises(ConnectFailed) as raised:
            await post(client, f"http://127.0.0.1:{closed_port()}/v1/x")
        await client.close()
        return raised.value

    error = run(scenario())
    assert isinstance(error.__cause__, ConnectionRefusedError)


def test_sequential_requests_reuse_one_connection_and_send_identity_encoding(
    run: RunAsync,
) -> None:
    async def scenario() -> tuple[list[int], ScriptedEngine]:
        async with ScriptedEngine(lambda c, _: answer_each(c, OK)) as engine:
            client = Http1Client(connect_timeout_s=2)
            statuses = [(await post(client, engine.url)).status for _ in range(5)]
            await client.close()
        return statuses, engine

    statuses, engine = run(scenario())
    assert statuses == [200] * 5 and engine.connections == 1
    head = engine.requests[0].split(b"\r\n\r\n")[0].lower()
    assert b"accept-encoding: identity" in head and b"content-length: 8" in head
    assert engine.requests[0].endswith(b'{"a": 1}')


def test_connection_close_answers_are_never_reused(run: RunAsync) -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

    async def scenario() -> tuple[list[bytes], ScriptedEngine]:
        async with ScriptedEngine(lambda c, _: answer_each(c, closing, most=1)) as engine:
            client = Http1Client(connect_timeout_s=2)
            bodies = [(await post(client, engine.url)).body for _ in range(3)]
            await client.close()
        return bodies, engine

    bodies, engine = run(scenario())
    assert bodies == [b"ok"] * 3 and engine.connections == 3


def test_concurrent_requests_never_open_more_than_the_pools_bound(run: RunAsync) -> None:
    async def slow_answers(connection: EngineConnection, _: int) -> None:
        for _ in range(100):
            if await connection.request() is None:
                return
            await asyncio.sleep(0.05)
            await connection.send(OK)

    async def scenario() -> tuple[list[int], ScriptedEngine]:
        async with ScriptedEngine(slow_answers) as engine:
            client = Http1Client(connect_timeout_s=2, max_per_origin=2)
            answers = await asyncio.gather(*(post(client, engine.url) for _ in range(8)))
            await client.close()
        return [a.status for a in answers], engine

    statuses, engine = run(scenario())
    assert statuses == [200] * 8
    assert engine.connections == 2 and engine.most_open == 2 and len(engine.requests) == 8


def test_idle_connection_older_than_the_idle_limit_is_not_reused(run: RunAsync) -> None:
    async def scenario() -> ScriptedEngine:
        async with ScriptedEngine(lambda c, _: answer_each(c, OK)) as engine:
            client = Http1Client(connect_timeout_s=2, idle_s=0.05)
            await post(client, engine.url)
            await asyncio.sleep(0.15)
            await post(client, engine.url)
            await client.close()
        return engine

    assert run(scenario()).connections == 2


# ---------------------------------------------------------------- the keep-alive race


def test_reused_connection_closed_before_any_answer_byte_is_retried_once_on_a_fresh_one(
    run: RunAsync,
) -> None:
    async def closes_second_request(connection: EngineConnection, _: int) -> None:
        await answer_each(connection, OK, most=1)
        await connection.request()  # the engine's keep-alive timer fired as this arrived

    async def scenario() -> tuple[list[int], ScriptedEngine]:
        async with ScriptedEngine(closes_second_request) as engine:
            client = Http1Client(connect_timeout_s=2)
            statuses = [(await post(client, engine.url)).status for _ in range(2)]
            await client.close()
        return statuses, engine

    statuses, engine = run(scenario())
    assert statuses == [200, 200]
    assert engine.connections == 2 and len(engine.requests) == 3  # once more, on connection 2


def test_race_retry_happens_once_not_twice(run: RunAsync) -> None:
    async def first_answers_then_all_close(connection: EngineConnection, number: int) -> None:
        if number == 1:
            await answer_each(connection, OK, most=1)
        await connection.request()

    async def scenario() -> tuple[ConnectionLost, ScriptedEngine]:
        async with ScriptedEngine(first_answers_then_all_close) as engine:
            client = Http1Client(connect_timeout_s=2)
            await post(client, engine.url)
            with pytest.raises(ConnectionLost) as raised:
                await post(client, engine.url)
            await client.close()
        return raised.value, engine

    error, engine = run(scenario())
    assert error.before_answer and engine.connections == 2 and len(engine.requests) == 3


def test_answer_cut_after_it_started_is_never_retried(run: RunAsync) -> None:
    async def cuts_second_answer(connection: EngineConnection, number: int) -> None:
        await answer_each(connection, OK, most=1)
        if await connection.request() is not None:
            await connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")

    async def scenario() -> tuple[ConnectionLost, ScriptedEngine]:
        async with ScriptedEngine(cuts_second_answer) as engine:
            client = Http1Client(connect_timeout_s=2)
            await post(client, engine.url)
            with pytest.raises(ConnectionLost) as raised:
                await post(client, engine.url)
            await client.close()
        return raised.value, engine

    error, engine = run(scenario())
    assert not error.before_answer and engine.connections == 1 and len(engine.requests) == 2


# ---------------------------------------------------------------- slow engines


def scripted_once(answer: bytes, then_wait: bool = True) -> Script:
    async def script(connection: EngineConnection, _: int) -> None:
        await connection.request()
        await connection.send(answer)
        if then_wait:
            await connection.closed_by_client()

    return script


def test_headers_that_never_come_time_out_after_the_timeout(run: RunAsync) -> None:
    async def scenario() -> float:
        async with ScriptedEngine(scripted_once(b"HTTP/1.1 200 OK\r\n")) as engine:
            client = Http1Client(connect_timeout_s=2)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await post(client, engine.url, timeout_s=TIMEOUT_S)
            elapsed = time.monotonic() - started
            await client.close()
        return elapsed

    assert TIMEOUT_S - 0.05 <= run(scenario()) < TIMEOUT_S + 2


def test_body_that_stalls_times_out_within_the_whole_answers_timeout(run: RunAsync) -> None:
    stalled = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"

    async def scenario() -> float:
        async with ScriptedEngine(scripted_once(stalled)) as engine:
            client = Http1Client(connect_timeout_s=2)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await post(client, engine.url, timeout_s=TIMEOUT_S)
            elapsed = time.monotonic() - started
            await client.close()
        return elapsed

    assert TIMEOUT_S - 0.05 <= run(scenario()) < TIMEOUT_S + 2


def test_stream_bounds_each_next_read_not_the_whole_stream(run: RunAsync) -> None:
    async def paced_then_stalled(connection: EngineConnection, _: int) -> None:
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(6):  # 6 x 0.06 s: longer than the timeout in all, each gap much shorter
            await asyncio.sleep(TIMEOUT_S / 5)
            await connection.send(b"1\r\nx\r\n")
        await connection.closed_by_client()  # then silent

    async def scenario() -> bytes:
        async with ScriptedEngine(paced_then_stalled) as engine:
            client = Http1Client(connect_timeout_s=2)
            stream = await client.open(b"POST", engine.url, b"{}", {}, TIMEOUT_S)
            received = b""
            with pytest.raises(TimeoutError):
                for _ in range(10):
                    received += await stream.read_some()
            stream.close()
            await client.close()
        return received

    assert run(scenario()) == b"xxxxxx"


# ---------------------------------------------------------------- broken answers


def test_stream_cut_mid_chunk_raises_connection_lost_after_what_arrived(run: RunAsync) -> None:
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"

    async def scenario() -> tuple[bytes, ConnectionLost]:
        async with ScriptedEngine(scripted_once(cut, then_wait=False)) as engine:
            client = Http1Client(connect_timeout_s=2)
            stream = await client.open(b"POST", engine.url, b"{}", {}, 5)
            received = b""
            with pytest.raises(ConnectionLost) as raised:
                for _ in range(10):
                    received += await stream.read_some()
            stream.close()
            await client.close()
        return received, raised.value

    received, error = run(scenario())
    assert received == b"ab" and not error.before_answer


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", id="not-http"),
        pytest.param(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", id="bad-status"),
        pytest.param(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", id="bad-header"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            id="bad-chunk-size",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1) + b"\r\n\r\n",
            id="oversized-headers",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nok",
            id="unasked-encoding",
        ),
    ],
)
def test_garbage_answers_are_bad_responses_and_their_connection_is_dropped(
    run: RunAsync, answer: bytes
) -> None:
    async def scenario() -> tuple[ScriptedEngine, bool]:
        async with ScriptedEngine(scripted_once(answer)) as engine:
            client = Http1Client(connect_timeout_s=2)
            with pytest.raises(BadResponse):
                await post(client, engine.url)
            dropped = client.pool.open_connections(("http", "127.0.0.1", _port(engine))) == 0
            await client.close()
        return engine, dropped

    engine, dropped = run(scenario())
    assert engine.connections == 1 and dropped


def test_gzip_answer_sent_unasked_is_decoded(run: RunAsync) -> None:
    packed = gzip.compress(b'{"ok": true}')
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(
        packed
    )

    async def scenario() -> bytes:
        async with ScriptedEngine(lambda c, _: answer_each(c, answer + packed)) as engine:
            client = Http1Client(connect_timeout_s=2)
            body: bytes = (await post(client, engine.url)).body
            await client.close()
        return body

    assert run(scenario()) == b'{"ok": true}'


def test_answer_without_a_length_ends_with_its_connection(run: RunAsync) -> None:
    async def scenario() -> bytes:
        unframed = b"HTTP/1.1 200 OK\r\n\r\nall of it"
        async with ScriptedEngine(scripted_once(unframed, then_wait=False)) as engine:
            client = Http1Client(connect_timeout_s=2)
            body: bytes = (await post(client, engine.url)).body
            await client.close()
        return body

    assert run(scenario()) == b"all of it"


# ---------------------------------------------------------------- ending streams


def test_closing_a_stream_before_its_end_closes_its_connection(run: RunAsync) -> None:
    closed: list[bool] = []

    async def endless(connection: EngineConnection, number: int) -> None:
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n")
        if number == 1:
            closed.append(await connection.closed_by_client())

    async def scenario() -> ScriptedEngine:
        async with ScriptedEngine(endless) as engine:
            client = Http1Client(connect_timeout_s=2)
            stream = await client.open(b"POST", engine.url, b"{}", {}, 5)
            assert await stream.read_some() == b"x"
            stream.close()  # the client left: the engine must see it and stop generating
            for _ in range(100):
                if closed:
                    break
                await asyncio.sleep(0.01)
            await client.close()
        return engine

    run(scenario())
    assert closed == [True]


def test_aborted_stream_raises_aborted_at_its_next_read(run: RunAsync) -> None:
    async def scenario() -> None:
        endless = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n"
        async with ScriptedEngine(scripted_once(endless)) as engine:
            client = Http1Client(connect_timeout_s=2)
            stream = await client.open(b"POST", engine.url, b"{}", {}, 5)
            stream.abort("gateway shutting down")
            with pytest.raises(Aborted, match="shutting down"):
                await stream.read_some()
            stream.close()
            await client.close()

    run(scenario())


def test_stream_read_to_its_end_gives_its_connection_back(run: RunAsync) -> None:
    finished = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"

    async def scenario() -> tuple[bytes, ScriptedEngine]:
        async with ScriptedEngine(lambda c, _: answer_each(c, finished)) as engine:
            client = Http1Client(connect_timeout_s=2)
            stream = await client.open(b"POST", engine.url, b"{}", {}, 5)
            received = b""
            for _ in range(10):
                if not (data := await stream.read_some()):
                    break
                received += data
            stream.close()
            await post(client, engine.url)
            await client.close()
        return received, engine

    received, engine = run(scenario())
    assert received == b"ab" and engine.connections == 1


def _port(engine: ScriptedEngine) -> int:
    assert engine.server is not None
    port: int = engine.server.sockets[0].getsockname()[1]
    return port


def finished_stream_then(terminator_after_s: float | None) -> Script:
    """One chunk, then the chunked terminator after a pause (or never), then plain answers."""

    async def script(connection: EngineConnection, _: int) -> None:
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n")
        if terminator_after_s is None:
            await connection.closed_by_client()
            return
        await asyncio.sleep(terminator_after_s)
        await connection.send(b"0\r\n\r\n")
        await answer_each(connection, OK)

    return script


def test_stream_closed_as_finished_is_reused_once_its_terminator_arrives(run: RunAsync) -> None:
    async def scenario() -> ScriptedEngine:
        async with ScriptedEngine(finished_stream_then(0.05)) as engine:
            client = Http1Client(connect_timeout_s=2)
            stream = await client.open(b"POST", engine.url, b"{}", {}, 5)
            assert await stream.read_some() == b"x"
            stream.close(finished=True)  # the relay saw [DONE]; the terminator is not here yet
            await asyncio.sleep(0.2)
            await post(client, engine.url)
            await client.close()
        return engine

    assert run(scenario()).connections == 1


def test_stream_closed_as_finished_whose_terminator_never_comes_is_closed(
    run: RunAsync, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.upstream.http1.LINGER_S", 0.05)

    async def scenario() -> ScriptedEngine:
        async with ScriptedEngine(finished_stream_then(None)) as engine:
            client = Http1Client(connect_timeout_s=2)
            stream = await client.open(b"POST", engine.url, b"{}", {}, 5)
            assert await stream.read_some() == b"x"
            stream.close(finished=True)
            for _ in range(100):  # the engine's script ends when it sees the close
                if engine.open_now == 0:
                    break
                await asyncio.sleep(0.01)
            assert client.pool.open_connections(("http", "127.0.0.1", _port(engine))) == 0
            await client.close()
        return engine

    assert run(scenario()).open_now == 0


def test_connection_released_after_its_linger_is_not_closed_by_the_linger_timer(
    run: RunAsync, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished stream's connection, back in the pool, then carries a slower stream."""
    monkeypatch.setattr("gateway.upstream.http1.LINGER_S", 0.1)

    async def two_streams(connection: EngineConnection, _: int) -> None:
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n")
        await asyncio.sleep(0.02)
        await connection.send(b"0\r\n\r\n")
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\ny\r\n")
        await asyncio.sleep(0.3)  # past the first stream's linger
        await connection.send(b"1\r\nz\r\n0\r\n\r\n")
        await connection.closed_by_client()

    async def scenario() -> bytes:
        async with ScriptedEngine(two_streams) as engine:
            client = Http1Client(connect_timeout_s=2)
            first = await client.open(b"POST", engine.url, b"{}", {}, 5)
            assert await first.read_some() == b"x"
            first.close(finished=True)
            await asyncio.sleep(0.05)  # the terminator came: the connection is idle again
            second = await client.open(b"POST", engine.url, b"{}", {}, 5)
            received = b""
            for _ in range(10):
                if not (data := await second.read_some()):
                    break
                received += data
            second.close(finished=True)
            await client.close()
            assert engine.connections == 1
        return received

    assert run(scenario()) == b"yz"
