"""The asyncio pump drives a machine's timer and forwards frames and events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from qbg.lldp.events import Event, Output
from qbg.pump import Pump


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticked(Event):
    at: float


class Ticker:
    """Emits one frame per period until ``count`` frames were sent."""

    def __init__(self, start: float, period: float, count: int) -> None:
        self.due: float | None = start + period
        self.period = period
        self.left = count
        self.received: list[bytes] = []

    def receive(self, frame: bytes, now: float) -> Output:
        self.received.append(frame)
        return Output(frames=(b"echo:" + frame,))

    def timer(self, now: float) -> Output:
        if self.due is None or now < self.due:
            return Output()
        self.left -= 1
        self.due = None if self.left == 0 else self.due + self.period
        return Output(frames=(b"tick",), events=(Ticked(at=now),))

    def next_deadline(self) -> float | None:
        return self.due


def test_pump_fires_timers_and_echoes() -> None:
    async def scenario() -> tuple[list[bytes], list[Event]]:
        loop = asyncio.get_running_loop()
        sent: list[bytes] = []
        events: list[Event] = []
        machine = Ticker(loop.time(), 0.01, 3)
        pump = Pump(machine, sent.append, events.append, loop)
        pump.rearm()
        pump.feed(b"hello")
        await asyncio.sleep(0.1)
        pump.close()
        return sent, events

    sent, events = asyncio.run(scenario())
    assert sent[0] == b"echo:hello"
    assert sent[1:] == [b"tick"] * 3
    assert len(events) == 3 and all(isinstance(e, Ticked) for e in events)


def test_handler_error_is_counted_not_raised() -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()

        def bad(_: Event) -> None:
            raise RuntimeError("boom")

        pump = Pump(Ticker(loop.time(), 0.005, 2), lambda f: None, bad, loop)
        pump.rearm()
        await asyncio.sleep(0.05)
        pump.close()
        return pump.handler_errors

    assert asyncio.run(scenario()) == 2
