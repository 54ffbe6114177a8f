"""When observers see outcomes (gateway.observe.Observers): at the end of the event-loop
turn that reported them, together, after that turn's answers reached the socket; at once
outside a loop; one failing observer never keeps an outcome from the others."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from test_coalesce import RecordingTransport

from gateway.http.coalesce import CoalescingTransport
from gateway.observe import Observers, RequestOutcome


def outcome(number: int) -> RequestOutcome:
    return RequestOutcome(
        outcome_id=f"o{number}", request_id=f"req_{number}", received_at=0.0,
        endpoint="chat.completions", key_id="k", model="m", status=200, stream=False,
        usage=None, latency_s=0.001, first_chunk_s=None, error=None, stream_end=None,
    )  # fmt: skip


class Batches:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, one: RequestOutcome, /) -> None:
        self.observe_batch((one,))

    def observe_batch(self, outcomes: Sequence[RequestOutcome], /) -> None:
        self.batches.append([o.outcome_id for o in outcomes])


def test_a_turns_outcomes_reach_a_batch_observer_in_one_call_after_the_turn() -> None:
    batches, singles = Batches(), []
    observers = Observers([batches, lambda o: singles.append(o.outcome_id)])

    async def run() -> list[list[str]]:
        for number in range(3):
            observers.notify(outcome(number))
        during = list(batches.batches)
        await asyncio.sleep(0)
        observers.notify(outcome(3))
        await asyncio.sleep(0)
        return during

    during = asyncio.run(run())
    assert during == []
    assert batches.batches == [["o0", "o1", "o2"], ["o3"]]
    assert singles == ["o0", "o1", "o2", "o3"]


def test_an_answer_reaches_the_socket_before_its_observers_run() -> None:
    async def run() -> list[bytes]:
        real = RecordingTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())
        written_when_observed: list[bytes] = []
        observers = Observers([lambda _: written_when_observed.extend(real.writes)])
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n{}")  # the answer, sent first
        observers.notify(outcome(0))  # then reported, in the same turn
        await asyncio.sleep(0)
        return written_when_observed

    assert asyncio.run(run()) == [b"HTTP/1.1 200 OK\r\n\r\n{}"]


def test_outside_an_event_loop_an_outcome_is_delivered_at_once() -> None:
    seen: list[str] = []
    Observers([lambda o: seen.append(o.outcome_id)]).notify(outcome(7))
    assert seen == ["o7"]


def test_a_failing_observer_is_logged_and_the_others_still_see_every_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def failing(one: RequestOutcome) -> None:
        raise RuntimeError(f"observer bug on {one.outcome_id}")

    observers = Observers([failing, lambda o: seen.append(o.outcome_id)])

    async def run() -> None:
        observers.notify(outcome(1))
        observers.notify(outcome(2))
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="gateway.observe"):
        asyncio.run(run())
    assert seen == ["o1", "o2"]
    assert [r.exc_info[1].args[0] for r in caplog.records if r.exc_info and r.exc_info[1]] == [
        "observer bug on o1",
        "observer bug on o2",
    ]


def test_flush_delivers_what_is_pending_at_once() -> None:
    batches = Batches()
    observers = Observers([batches])

    async def run() -> list[list[str]]:
        observers.notify(outcome(5))
        observers.flush()
        return list(batches.batches)

    assert asyncio.run(run()) == [["o5"]]
    assert batches.batches == [["o5"]]  # the scheduled delivery found nothing left
