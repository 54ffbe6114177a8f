"""Coarse deadlines on one event-loop timer: the request path's timeouts, cheap to arm.

A forwarded request armed four or five event-loop timers (the header deadline,
the body's `asyncio.timeout`, the drain's, the engine's answer) and cancelled
nearly all of them long before they could fire; under uvloop an armed and
cancelled timer costs ~2.5 µs and an `asyncio.timeout` block ~6.6 µs, together
about 5 % of the gateway's CPU per request. Here arming and cancelling a
deadline are a dict insert and delete: deadlines sit in slots of `TICK_S`, and
one loop timer, running only while any deadline is armed, fires each slot's
callbacks once its time has passed. A deadline fires at most `TICK_S` late,
never early.

`Deadlines.timeout` has `asyncio.timeout`'s semantics (the block's task is
cancelled at the deadline and the cancellation becomes a `TimeoutError` on
the way out; `reschedule` moves it, `None` disarms it).
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable
from types import TracebackType

TICK_S = 0.025


class Deadline:
    """An armed deadline; `cancel()` disarms it (harmless once fired or cancelled)."""

    __slots__ = ("_callback", "_slot", "_wheel")

    def __init__(self, wheel: Deadlines, slot: int, callback: Callable[[], object]) -> None:
        self._wheel = wheel
        self._slot = slot
        self._callback = callback

    def cancel(self) -> None:
        self._wheel._disarm(self)


class Deadlines:
    """The deadlines of one event loop (`for_running_loop()` finds its own)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick_s: float = TICK_S) -> None:
        self.loop = loop
        self.tick_s = tick_s
        self._slots: dict[int, dict[Deadline, None]] = {}
        self._order: list[int] = []  # the slots, a heap (emptied ones are dropped lazily)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot = 0

    def call_at(self, when: float, callback: Callable[[], object]) -> Deadline:
        """`callback()` once the loop's clock passed `when` (at most `tick_s` later)."""
        slot = math.ceil(when / self.tick_s)
        deadline = Deadline(self, slot, callback)
        armed = self._slots.get(slot)
        if armed is None:
            self._slots[slot] = {deadline: None}
            heapq.heappush(self._order, slot)
            if self._timer is None or slot < self._timer_slot:
                self._arm_timer(slot)
        else:
            armed[deadline] = None
        return deadline

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> Deadline:
        return self.call_at(self.loop.time() + delay_s, callback)

    def timeout(self, delay_s: float | None) -> Timeout:
        """`asyncio.timeout(delay_s)` on these deadlines."""
        return Timeout(self, None if delay_s is None else self.loop.time() + delay_s)

    def _disarm(self, deadline: Deadline) -> None:
        armed = self._slots.get(deadline._slot)
        if armed is not None:
            armed.pop(deadline, None)
            if not armed:
                del self._slots[deadline._slot]  # its heap entry goes when the timer passes

    def _arm_timer(self, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_slot = slot
        self._timer = self.loop.call_at(slot * self.tick_s, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now_slot = math.floor(self.loop.time() / self.tick_s)
        order = self._order
        while order and order[0] <= now_slot:
            for deadline in self._slots.pop(heapq.heappop(order), {}):
                try:
                    deadline._callback()
                except Exception as error:
                    message = "a deadline's callback failed"
                    self.loop.call_exception_handler({"message": message, "exception": error})
        while order and order[0] not in self._slots:
            heapq.heappop(order)  # emptied by cancellations
        if order:
            self._arm_timer(order[0])


_current: Deadlines | None = None


def for_running_loop() -> Deadlines:
    """The running event loop's deadlines (made on first use)."""
    global _current
    loop = asyncio.get_running_loop()
    if _current is None or _current.loop is not loop:
        _current = Deadlines(loop)
    return _current


def timeout(delay_s: float | None) -> Timeout:
    """`asyncio.timeout(delay_s)`, armed on the running loop's coarse deadlines."""
    return for_running_loop().timeout(delay_s)


class Timeout:
    """`asyncio.Timeout` on coarse deadlines (Python 3.11's semantics, kept exactly)."""

    __slots__ = ("_cancelling", "_deadline", "_expired", "_task", "_wheel", "_when")

    def __init__(self, wheel: Deadlines, when: float | None) -> None:
        self._wheel = wheel
        self._when = when
        self._deadline: Deadline | asyncio.Handle | None = None  # cancel() either way
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._expired = False

    def when(self) -> float | None:
        return self._when

    def expired(self) -> bool:
        return self._expired

    def reschedule(self, when: float | None) -> None:
        """Move the deadline (`None`: none); a past one expires the block now."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._when = when
        if when is None or self._task is None:
            return
        if when <= self._wheel.loop.time():  # as asyncio's: past, so expired at the next turn
            self._deadline = self._wheel.loop.call_soon(self._on_timeout)
        else:
            self._deadline = self._wheel.call_at(when, self._on_timeout)

    async def __aenter__(self) -> Timeout:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Timeout should be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self.reschedule(self._when)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        task, self._task = self._task, None
        # As asyncio.Timeout: our cancellation becomes a TimeoutError, anyone else's stays.
        if task is None or not self._expired:
            return
        if task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
            raise TimeoutError from error

    def _on_timeout(self) -> None:
        if self._task is None or self._expired:
            return  # the block ended first
        self._deadline = None
        self._expired = True
        self._task.cancel()
