"""Drive one sans-IO port machine from asyncio: frames in, one timer, frames and events out.

The adapter is a pump (STYLE habit 10, aioquic's ``asyncio/protocol.py`` shape): every entry
point of the machine returns an ``Output``; the pump sends its frames in order, hands its events
to the handler, and re-arms a single ``loop.call_at`` for ``machine.next_deadline()``.  Time is
``loop.time()`` (monotonic), passed to the machine as ``now``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from .lldp.events import Event, Output

__all__ = ["Machine", "Pump"]

log = logging.getLogger("qbg.pump")


class Machine(Protocol):
    def receive(self, frame: bytes, now: float) -> Output: ...

    def timer(self, now: float) -> Output: ...

    def next_deadline(self) -> float | None: ...


class Pump:
    """Moves bytes and time between one machine and one link."""

    def __init__(
        self,
        machine: Machine,
        send: Callable[[bytes], object],
        on_event: Callable[[Event], object],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.machine = machine
        self._send = send
        self._on_event = on_event
        self._loop = loop or asyncio.get_event_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._armed: float | None = None
        self.frames_out = 0
        self.handler_errors = 0
        self.closed = False

    def now(self) -> float:
        return self._loop.time()

    def feed(self, frame: bytes, now: float | None = None) -> None:
        """A frame arrived from the link."""
        if self.closed:
            return
        self.emit(self.machine.receive(frame, self.now() if now is None else now))

    def call(self, method: Callable[..., Output], *args: Any, **kwargs: Any) -> Output:
        """Run a command method of the machine (``now`` is supplied) and pump its output."""
        out = method(*args, now=self.now(), **kwargs)
        self.emit(out)
        return out

    def emit(self, out: Output) -> None:
        """Send frames, dispatch events, re-arm the timer."""
        for frame in out.frames:
            self.frames_out += 1
            self._send(frame)
        for event in out.events:
            try:
                self._on_event(event)
            except Exception:  # a handler bug must not stop the protocol
                self.handler_errors += 1
                log.exception("event handler failed for %r", event)
        self.rearm()

    def rearm(self) -> None:
        if self.closed:
            return
        deadline = self.machine.next_deadline()
        if deadline == self._armed and self._handle is not None:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed = deadline
        if deadline is not None:
            self._handle = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed = None
        if self.closed:
            return
        self.emit(self.machine.timer(self.now()))

    def close(self) -> None:
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
