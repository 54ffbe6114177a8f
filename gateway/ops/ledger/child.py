"""The ledger's writer process (started by gateway.ops.ledger.process, never by hand).

`python -m gateway.ops.ledger.child FD URL BASE`: reads batches of rows from the
channel on file descriptor FD, inserts each into the store of URL in one
transaction, and answers each with an empty frame (written) or the error's text
(not written: the parent's writer keeps the batch and retries). It exits when
the channel ends.
"""

from __future__ import annotations

import signal
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import msgspec

from gateway.ops.ledger.record import LedgerRow
from gateway.ops.ledger.store import LedgerStore, open_store


def serve(channel: Connection, store: LedgerStore) -> None:
    decode = msgspec.msgpack.Decoder(list[LedgerRow]).decode
    while True:
        try:
            frame = channel.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            store.insert(decode(frame))
            reply = b""
        except Exception as error:
            reply = (_describe(error) or type(error).__name__).encode("utf-8", "replace")
        channel.send_bytes(reply)


def _describe(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def main(argv: list[str]) -> int:
    # The parent decides when this process ends (by closing the channel), so that the
    # batches it writes during its own shutdown still reach the database.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd, url, base = int(argv[0]), argv[1], Path(argv[2])
    store = open_store(url, base)
    try:
        serve(Connection(fd), store)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
