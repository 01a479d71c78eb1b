"""Drive one sans-IO port machine from asyncio: frames in, one timer, frames and events out.

The adapter is a pump (STYLE habit 10, aioquic's ``asyncio/protocol.py`` shape): every entry
point of the machine returns an ``Output``; the pump sends its frames in order, hands its events
to the handler, and re-arms a single ``loop.call_at`` for ``machine.next_deadline()``.  Time is
``loop.time()`` (monotonic), passed to the machine as ``now``.

``events_first``: hand the events of an output to the handler before its frames are sent, then
call ``before_send`` — the bridge agent journals a VSI it accepted before the VDP response that
tells the station so leaves (an ECP ack comes with no VDP events: it is not delayed).
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
        *,
        events_first: bool = False,
        before_send: Callable[[], object] | None = None,
    ) -> None:
        self.machine = machine
        self._send = send
        self._on_event = on_event
        self.events_first = events_first
        self._before_send = before_send
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
        """Send frames, dispatch events (or the other way round), re-arm the timer."""
        if self.events_first:
            self._dispatch(out.events)
            if self._before_send is not None:
                try:
                    self._before_send()
                except Exception:
                    self.handler_errors += 1
                    log.exception("before_send failed")
        for frame in out.frames:
            self.frames_out += 1
            self._send(frame)
        if not self.events_first:
            self._dispatch(out.events)
        self.rearm()

    def _dispatch(self, events: tuple[Event, ...]) -> None:
        for event in events:
            try:
                self._on_event(event)
            except Exception:  # a handler bug must not stop the protocol
                self.handler_errors += 1
                log.exception("event handler failed for %r", event)

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
