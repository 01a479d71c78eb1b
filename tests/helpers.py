"""Test harness: a fake clock, a fake link between two sans-IO machines, a tiny pcap reader.

STYLE habit 13: machines are tested in pairs, over a fake link, with a fake clock, asserting on
events and exact bytes.  Everything here is generic over anything that offers the machine
interface of docs/architecture.md (``receive(frame, now)``, ``timer(now)``, ``next_deadline()``,
each returning :class:`~qbg.lldp.events.Output`), so the VDP tests reuse it unchanged.

Time is kept in integer microseconds (``Clock.now_us``); ``Clock.now`` is the float the machines
see.  ``round(now * 1e6)`` recovers the exact integer, so expected times in tests are exact.

Typical use::

    clock = Clock()
    link = Link(clock, station, bridge)         # side "a" = station, side "b" = bridge
    link.inject("a", station.send(b"...", clock.now))
    clock.run_until(1.0)
    assert [t for t, side, _ in link.wire] == [...]
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from qbg.lldp.events import Event, Output

US = 1_000_000


def us(seconds: float) -> int:
    return round(seconds * US)


class Machine(Protocol):
    def receive(self, frame: bytes, now: float) -> Output: ...

    def timer(self, now: float) -> Output: ...

    def next_deadline(self) -> float | None: ...


class Driver(Protocol):
    """Something the clock can run: a :class:`Link` or a :class:`Solo`."""

    def next_deadline_us(self) -> int | None: ...

    def step(self, now_us: int) -> None: ...


class Clock:
    """Fake monotonic clock that runs its drivers in deadline order."""

    def __init__(self, start: float = 0.0) -> None:
        self.now_us = us(start)
        self.drivers: list[Driver] = []

    @property
    def now(self) -> float:
        return self.now_us / US

    def attach(self, driver: Driver) -> None:
        self.drivers.append(driver)

    def _earliest(self) -> int | None:
        times = [d for d in (drv.next_deadline_us() for drv in self.drivers) if d is not None]
        return min(times) if times else None

    def run_until(self, t: float, max_steps: int = 1_000_000) -> None:
        """Run every deadline ≤ ``t`` (in order), then leave the clock at ``t``."""
        end = us(t)
        for _ in range(max_steps):
            nxt = self._earliest()
            if nxt is None or nxt > end:
                break
            self.now_us = max(self.now_us, nxt)
            for drv in list(self.drivers):
                d = drv.next_deadline_us()
                if d is not None and d <= self.now_us:
                    drv.step(self.now_us)
        else:  # pragma: no cover - a machine that never settles is a bug
            raise AssertionError("run_until: too many steps (a deadline does not advance?)")
        self.now_us = max(self.now_us, end)

    def advance(self, dt: float) -> None:
        self.run_until(self.now + dt)

    def run_until_idle(self, limit: float = 3600.0) -> None:
        """Jump from deadline to deadline until none is left (or ``limit`` seconds from now)."""
        stop = self.now_us + us(limit)
        while (nxt := self._earliest()) is not None and nxt <= stop:
            self.run_until(nxt / US)


@dataclass(frozen=True, slots=True)
class Sent:
    """One frame put on the wire: time (µs), sending side, octets."""

    t: int
    side: str
    frame: bytes


Fate = Callable[[Sent], Sequence[float]]
"""Channel model: the delays (seconds) after which copies of a frame arrive; [] drops it."""


@dataclass
class Link:
    """Two machines joined by a channel that can drop, duplicate and delay frames.

    ``fate`` decides per frame; the default delivers one copy after ``delay``.  ``fifo`` keeps
    each direction in order (a later frame never overtakes an earlier one).  ``on_event`` lets a
    test play the upper layer: it is called for every event and may return an :class:`Output`
    to feed back into the same side (e.g. a VDP stub answering a delivery).
    """

    clock: Clock
    a: Machine
    b: Machine
    delay: float = 0.0
    fate: Fate | None = None
    fifo: bool = True
    on_event: Callable[[str, Event, float], Output | None] | None = None
    wire: list[Sent] = field(default_factory=list)
    events: dict[str, list[tuple[int, Event]]] = field(default_factory=lambda: {"a": [], "b": []})
    _flight: list[tuple[int, int, str, bytes]] = field(default_factory=list)
    _order: int = 0
    _last_arrival: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})

    def __post_init__(self) -> None:
        self.clock.attach(self)

    def machine(self, side: str) -> Machine:
        return self.a if side == "a" else self.b

    @staticmethod
    def other(side: str) -> str:
        return "b" if side == "a" else "a"

    def inject(self, side: str, out: Output) -> Output:
        """Record an Output produced by ``side`` (e.g. from a command) and send its frames."""
        now = self.clock.now_us
        for frame in out.frames:
            sent = Sent(now, side, frame)
            self.wire.append(sent)
            delays = self.fate(sent) if self.fate else (self.delay,)
            dst = self.other(side)
            for d in delays:
                arrival = now + us(d)
                if self.fifo:
                    arrival = max(arrival, self._last_arrival[dst])
                    self._last_arrival[dst] = arrival
                self._order += 1
                heapq.heappush(self._flight, (arrival, self._order, dst, frame))
        for event in out.events:
            self.events[side].append((now, event))
            if self.on_event is not None:
                more = self.on_event(side, event, self.clock.now)
                if more is not None:
                    self.inject(side, more)
        return out

    def frames(self, side: str | None = None) -> list[Sent]:
        return [s for s in self.wire if side is None or s.side == side]

    def event_list(self, side: str, kind: type[Event] | None = None) -> list[Event]:
        return [e for _, e in self.events[side] if kind is None or isinstance(e, kind)]

    # Driver protocol
    def next_deadline_us(self) -> int | None:
        times = [self._flight[0][0]] if self._flight else []
        for m in (self.a, self.b):
            d = m.next_deadline()
            if d is not None:
                times.append(us(d))
        return min(times) if times else None

    def step(self, now_us: int) -> None:
        now = now_us / US
        while self._flight and self._flight[0][0] <= now_us:
            _, _, dst, frame = heapq.heappop(self._flight)
            self.inject(dst, self.machine(dst).receive(frame, now))
        for side in ("a", "b"):
            d = self.machine(side).next_deadline()
            if d is not None and us(d) <= now_us:
                self.inject(side, self.machine(side).timer(now))

    @property
    def in_flight(self) -> int:
        return len(self._flight)


@dataclass
class Solo:
    """One machine with nothing attached: its frames are only recorded."""

    clock: Clock
    m: Machine
    wire: list[Sent] = field(default_factory=list)
    events: list[tuple[int, Event]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock.attach(self)

    def inject(self, out: Output) -> Output:
        self.wire.extend(Sent(self.clock.now_us, "a", f) for f in out.frames)
        self.events.extend((self.clock.now_us, e) for e in out.events)
        return out

    def next_deadline_us(self) -> int | None:
        d = self.m.next_deadline()
        return None if d is None else us(d)

    def step(self, now_us: int) -> None:
        self.inject(self.m.timer(now_us / US))


def read_pcap(path: Path) -> list[tuple[float, bytes]]:
    """(relative time, frame) for every record of a classic little/big-endian pcap file."""
    data = path.read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:  # pragma: no cover
        raise ValueError(f"{path}: not a pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    rec = struct.Struct(endian + "IIII")
    pos = 24
    out: list[tuple[float, bytes]] = []
    t0: float | None = None
    while pos + 16 <= len(data):
        sec, frac, incl, _ = rec.unpack_from(data, pos)
        pos += 16
        t = sec + frac / (1e9 if nano else 1e6)
        t0 = t if t0 is None else t0
        out.append((round(t - t0, 6), data[pos : pos + incl]))
        pos += incl
    return out
