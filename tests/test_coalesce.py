"""The server's transport wrapper: the writes of one event-loop turn reach the socket as one."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.http.coalesce import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def test_writes_of_one_turn_are_sent_as_one_write_in_order_at_its_end() -> None:
    async def run() -> list[list[bytes]]:
        real = RecordingTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.writelines([b"he", b"llo"])
        seen = [list(real.writes)]
        await asyncio.sleep(0)
        seen.append(list(real.writes))
        transport.write(b"next turn")
        await asyncio.sleep(0)
        seen.append(list(real.writes))
        return seen

    during, after, later = asyncio.run(run())
    assert during == []
    assert after == [b"HTTP/1.1 200 OK\r\n\r\nhello"]
    assert later == [*after, b"next turn"]


def test_close_sends_what_is_pending_first_and_abort_drops_it() -> None:
    async def run() -> tuple[RecordingTransport, RecordingTransport]:
        loop = asyncio.get_running_loop()
        closed, aborted = RecordingTransport(), RecordingTransport()
        closing = CoalescingTransport(closed, loop)
        closing.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        closing.close()
        aborting = CoalescingTransport(aborted, loop)
        aborting.write(b"dropped")
        aborting.abort()
        await asyncio.sleep(0)
        return closed, aborted

    closed, aborted = asyncio.run(run())
    assert closed.closed and closed.writes == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"]
    assert aborted.aborted and aborted.writes == []
