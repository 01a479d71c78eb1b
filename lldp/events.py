"""What every machine returns: frames to send and events for the adapter.

Machines never perform I/O.  Each entry point (``receive``, ``timer``, commands) returns an
:class:`Output`; the adapter sends ``frames`` in order and hands ``events`` to its handlers
(STYLE habit 10, the h2/aioquic shape).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DecodeError

__all__ = ["EMPTY", "Event", "FrameDropped", "Output"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of all events."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameDropped(Event):
    """A received frame was discarded; the machine's state is unchanged."""

    error: DecodeError


@dataclass(frozen=True, slots=True)
class Output:
    """Frames to transmit (complete Ethernet frames, in order) and events to report."""

    frames: tuple[bytes, ...] = ()
    events: tuple[Event, ...] = ()

    def __add__(self, other: Output) -> Output:
        if not other.frames and not other.events:
            return self
        if not self.frames and not self.events:
            return other
        return Output(self.frames + other.frames, self.events + other.events)


EMPTY = Output()
