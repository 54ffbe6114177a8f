"""Coarse deadlines (gateway.deadlines): never early, at most a tick late, cancelled ones
never fire, and `timeout` behaves as `asyncio.timeout` does."""

from __future__ import annotations

import asyncio
import functools

import pytest

from gateway import deadlines
from gateway.deadlines import Deadlines

TICK_S = deadlines.TICK_S
SLACK_S = 0.25  # a loaded test machine delays any timer; the bound checked is "not early"


def stamp(fired: dict[float, float], when: float, loop: asyncio.AbstractEventLoop) -> None:
    fired[when] = loop.time()


def run(scenario: object) -> None:
    asyncio.run(scenario)  # type: ignore[arg-type]


def test_a_deadline_fires_after_its_time_never_before_and_about_a_tick_late_at_most() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        wheel = Deadlines(loop)
        fired: dict[float, float] = {}
        for delay in (0.01, 0.05, 0.12, 0.2):
            when = loop.time() + delay
            wheel.call_at(when, functools.partial(stamp, fired, when, loop))
        await asyncio.sleep(0.2 + SLACK_S)
        assert len(fired) == 4
        for when, at in fired.items():
            assert when <= at < when + TICK_S + SLACK_S

    run(scenario())


def test_a_cancelled_deadline_never_fires_and_its_slot_neighbours_still_do() -> None:
    async def scenario() -> None:
        wheel = Deadlines(asyncio.get_running_loop())
        fired: list[str] = []
        wheel.call_later(0.05, lambda: fired.append("kept")).cancel()
        wheel.call_later(0.05, lambda: fired.append("neighbour"))
        only = wheel.call_later(0.02, lambda: fired.append("alone"))
        only.cancel()
        only.cancel()  # twice: harmless
        await asyncio.sleep(0.05 + TICK_S + SLACK_S)
        assert fired == ["neighbour"]

    run(scenario())


def test_deadlines_fire_in_the_order_of_their_times() -> None:
    async def scenario() -> None:
        wheel = Deadlines(asyncio.get_running_loop())
        fired: list[int] = []
        for n in (5, 1, 4, 2, 3):
            wheel.call_later(n * 2 * TICK_S, functools.partial(fired.append, n))
        await asyncio.sleep(10 * TICK_S + SLACK_S)
        assert fired == [1, 2, 3, 4, 5]

    run(scenario())


def test_a_block_past_its_timeout_raises_timeout_error_and_one_within_it_does_not() -> None:
    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            async with deadlines.timeout(0.05) as expired:
                await asyncio.sleep(5)
        assert expired.expired()
        async with deadlines.timeout(5) as kept:
            await asyncio.sleep(0.01)
        assert not kept.expired()

    run(scenario())


def test_someone_elses_cancellation_stays_a_cancellation() -> None:
    async def inside() -> None:
        async with deadlines.timeout(5):
            await asyncio.sleep(5)

    async def scenario() -> None:
        task = asyncio.create_task(inside())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())


def test_the_inner_of_two_timeouts_expires_alone() -> None:
    async def scenario() -> None:
        async with deadlines.timeout(5) as outer:
            with pytest.raises(TimeoutError):
                async with deadlines.timeout(0.03):
                    await asyncio.sleep(5)
            await asyncio.sleep(0.01)  # the task is not left cancelled
        assert not outer.expired()

    run(scenario())


def test_rescheduling_to_none_disarms_and_to_the_past_expires_at_once() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with deadlines.timeout(0.03) as moved:
            moved.reschedule(None)
            await asyncio.sleep(0.03 + TICK_S + 0.05)
        assert not moved.expired()
        with pytest.raises(TimeoutError):
            async with deadlines.timeout(None) as cut:
                cut.reschedule(loop.time())
                await asyncio.sleep(5)

    run(scenario())


def test_each_event_loop_gets_deadlines_of_its_own() -> None:
    async def wheel() -> Deadlines:
        return deadlines.for_running_loop()

    first, second = asyncio.run(wheel()), asyncio.run(wheel())
    assert first is not second and first.loop is not second.loop
