"""Random hex digits for ids, from the OS's generator, read a page at a time.

`secrets.token_hex` makes one getrandom(2) system call per id; a forwarded
request makes two ids (its x-request-id and its outcome's), and those calls
were about 4 % of the event loop's CPU under load. The bytes are the same
kind (os.urandom), only read 4 KiB at once; a forked child starts with a
fresh buffer, so no two processes hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

PAGE_BYTES = 4096


class RandomHex:
    def __init__(self, page_bytes: int = PAGE_BYTES) -> None:
        self._page_bytes = page_bytes
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def hex(self, nbytes: int) -> str:
        """`nbytes` random bytes as 2 * `nbytes` lower-case hex digits; never reused."""
        with self._lock:
            start = self._offset
            if start + nbytes > len(self._buffer):
                self._buffer = os.urandom(max(self._page_bytes, nbytes))
                start = 0
            self._offset = start + nbytes
            return self._buffer[start : start + nbytes].hex()

    def forget(self) -> None:
        """Drop the buffered bytes (a forked child must not repeat its parent's)."""
        self._buffer, self._offset = b"", 0


RANDOM_HEX = RandomHex()
os.register_at_fork(after_in_child=RANDOM_HEX.forget)
