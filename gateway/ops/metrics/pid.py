"""prometheus_client's multiprocess values without a system call per write.

Each multiprocess value write calls its process identifier, `os.getpid` by
default, to notice a fork (a forked child must write files of its own); glibc
no longer caches the process id, so that is a getpid(2) system call per value,
eight per answered request (strace: 17 per request in all). The identifier
installed here is the same process id, read once and read again in a forked
child (`os.register_at_fork`), so it still differs between any two processes
running at once, which is all prometheus_client asks of it.
"""

from __future__ import annotations

import os

from prometheus_client import values


class ProcessId:
    def __init__(self) -> None:
        self._pid = os.getpid()
        os.register_at_fork(after_in_child=self.renew)

    def get(self) -> int:
        return self._pid

    def renew(self) -> None:
        self._pid = os.getpid()


PROCESS_ID = ProcessId()


def install() -> None:
    """Multiprocess values with the cached id, once per process, before its first metric
    (gateway.ops.metrics.observer calls it as it is imported): values made earlier would
    keep the old class, whose files a second class would open again."""
    current = values.ValueClass
    if getattr(current, "_multiprocess", False) and not getattr(current, "_cached_pid", False):
        value_class = values.MultiProcessValue(process_identifier=PROCESS_ID.get)  # type: ignore[no-untyped-call]
        value_class._cached_pid = True
        values.ValueClass = value_class
