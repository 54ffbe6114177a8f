"""A ledger store whose inserts run in a child process: the database's work off this interpreter.

In the writer thread, SQLite's and psycopg's inserts release and retake the GIL
at every call into the database, and each time the event loop holds it the
thread waits for it: under load that cost the event loop about a quarter of its
CPU per request (README, "The hop near its limit"). Here the writer thread only
encodes the batch (msgpack, in C) and waits on a socket, with the GIL released;
the child (gateway.ops.ledger.child) decodes it, inserts it in one transaction
and answers, so the writer's batching, retries, spool and bounds are unchanged
(gateway.ops.ledger.writer).

The child lives as long as its channel: it starts with the first insert, ends
when `close()` closes the channel (or this process dies, which closes it too),
ignores SIGINT and SIGTERM so a shutdown's last batches still reach the
database, and is started again by the next insert after it failed or died; a
batch that was in flight then is retried by the writer, and the ledger's
primary key writes it once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import msgspec

from gateway.ops.ledger.record import LedgerRow
from gateway.ops.ledger.store import LedgerStore

_encode = msgspec.msgpack.Encoder().encode
STOP_TIMEOUT_S = 10.0  # the child's last transaction and exit, after its channel closed
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # where `import gateway` is found


class LedgerProcessError(Exception):
    """The child's insert failed (its message is the database's error) or the child is gone."""


class ProcessStore:
    """`LedgerStore` whose `insert` runs in a child process; `check` runs here (`local`),
    on a fresh connection, so that a readiness probe never waits behind a batch."""

    def __init__(self, url: str, base: Path, local: LedgerStore) -> None:
        self.description = local.description
        self._url = url
        self._base = base
        self._local = local
        self._child: subprocess.Popen[bytes] | None = None
        self._channel: Connection | None = None

    def insert(self, rows: Sequence[LedgerRow]) -> None:
        channel = self._channel or self._start()
        try:
            channel.send_bytes(_encode(rows))
            reply = channel.recv_bytes()
        except (OSError, EOFError) as error:
            self.close()
            raise LedgerProcessError(f"the ledger's writer process ended ({error!r})") from None
        if reply:
            raise LedgerProcessError(reply.decode("utf-8", "replace"))

    def check(self) -> None:
        self._local.check()

    def close(self) -> None:
        channel, self._channel = self._channel, None
        child, self._child = self._child, None
        if channel is not None:
            channel.close()  # the child sees the end of its channel and exits
        if child is not None:
            try:
                child.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (tests and operators' tools)."""
        return self._child.pid if self._child is not None else None

    def _start(self) -> Connection:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            env = {**os.environ, "PYTHONPATH": _python_path()}
            argv = [sys.executable, "-m", "gateway.ops.ledger.child", str(theirs.fileno())]
            argv += [self._url, str(self._base)]
            self._child = subprocess.Popen(argv, pass_fds=[theirs.fileno()], env=env)
            self._channel = Connection(ours.detach())
        return self._channel


def _python_path() -> str:
    inherited = os.environ.get("PYTHONPATH")
    return f"{_PACKAGE_ROOT}{os.pathsep}{inherited}" if inherited else str(_PACKAGE_ROOT)
