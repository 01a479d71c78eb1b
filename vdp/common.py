"""Helpers shared by the VDP station and bridge: timer parameters, the filter comparison of
vdp.md §7.4, the station's pace-learning window (vdp.md §2 last paragraph) and its learned
VDPDU size."""

from __future__ import annotations

from typing import Protocol

from .filters import FilterEntry

__all__ = ["BatchCap", "PaceWindow", "TimerParams", "filters_match"]


class TimerParams(Protocol):
    """The operational EVB values VDP needs (``qbg.evb.negotiation.Negotiated`` fits)."""

    @property
    def r(self) -> int: ...
    @property
    def rte(self) -> int: ...
    @property
    def rwd(self) -> int: ...
    @property
    def rka(self) -> int: ...
    @property
    def group_ids(self) -> bool: ...


def filters_match(sent: tuple[FilterEntry, ...], got: tuple[FilterEntry, ...]) -> bool:
    """lldpad's filter comparison (vdp.md §7.4): same N; per entry equal MAC and GroupID; equal
    VID only where ``sent`` has a non-zero VID; the whole PS/PCP/VID word only where ``sent``
    has PS = 1."""
    if len(sent) != len(got):
        return False
    for s, g in zip(sent, got, strict=True):
        if s.mac != g.mac or s.group_id != g.group_id:
            return False
        if s.vid and s.vid != g.vid:
            return False
        if s.ps and s.word != g.word:
            return False
    return True


class PaceWindow:
    """How many VSI requests may be handed off and unanswered at once [PROJECT] (vdp.md §2).

    Starts at ``initial`` and never exceeds ``limit``.  While requests are outstanding without
    a break (a "busy period") the peer always has work, so answers / elapsed time estimates its
    service rate; the window may hold what the peer answers in half a response wait.  The
    window grows by one per answer (slow start: doubling per round trip) up to that estimate
    and drops to it at once when the estimate falls below.  lldpad at RTE 14 (≈ 6 answers/s,
    response wait 17.4 s) settles near 53; a qbg bridge answering a batch at once reaches
    ``limit`` after a few round trips.

    Requests the peer lost (``qbg.vdp.station``'s loss recovery) shrink it like TCP's window:
    :meth:`cut` halves it (losses seen from later answers), :meth:`collapse` drops it to one
    VDPDU's worth (the peer fell silent); above the halved value (``ssthresh``) it then grows
    by one per window's worth of answers only.  A peer that loses nothing never meets either.

    ``floor`` (:meth:`set_floor`; the station sets it while the link drops frames, from its
    VSIs in the keep-alive cycle, and 1 otherwise) is the least window that lets every
    keep-alive through once per period when the peer answers within half a response wait:
    below it keep-alives fall behind for sure, so neither the estimate (which a loss stall on
    the link drags down) nor a cut takes the window lower.
    """

    __slots__ = (
        "acc",
        "answers",
        "busy_since",
        "cwnd",
        "floor",
        "limit",
        "outstanding",
        "ssthresh",
    )

    def __init__(self, limit: int, initial: int) -> None:
        self.limit = limit
        self.cwnd = max(1, min(initial, limit))
        self.ssthresh = limit
        self.floor = 1
        self.acc = 0
        self.outstanding = 0
        self.busy_since = 0
        self.answers = 0

    def sent(self, t: int) -> None:
        if self.outstanding == 0:
            self.busy_since, self.answers = t, 0
        self.outstanding += 1

    def closed(self, t: int, resp_wait_us: int, answered: bool) -> None:
        self.outstanding -= 1
        if not answered:
            return
        self.answers += 1
        elapsed = t - self.busy_since
        est = self.limit if elapsed <= 0 else self.answers * resp_wait_us // (2 * elapsed)
        grown = self.cwnd
        if grown < self.ssthresh:
            grown += 1
        else:
            self.acc += 1
            if self.acc >= grown:
                grown, self.acc = grown + 1, 0
        self.cwnd = max(self.floor, min(grown, est, self.limit))

    def cut(self) -> None:
        """Requests were lost although the peer kept answering: halve."""
        self.ssthresh = self.cwnd = max(self.floor, self.cwnd // 2)
        self.acc = 0

    def collapse(self, restart: int) -> None:
        """The peer went silent with requests outstanding: restart from ``restart`` (one
        VDPDU's worth), never below the floor."""
        self.ssthresh = max(self.floor, self.cwnd // 2)
        self.cwnd = max(self.floor, min(restart, self.ssthresh))
        self.acc = 0

    def set_floor(self, floor: int) -> None:
        self.floor = max(1, min(floor, self.limit))
        self.cwnd = max(self.cwnd, self.floor)

    @property
    def room(self) -> int:
        return self.cwnd - self.outstanding


class BatchCap:
    """How many VSI TLVs one VDPDU may carry, learned from the bridge's answers [PROJECT].

    Unlimited (the MTU decides) until the station finds a VDPDU the bridge is done with but has
    not answered in full (see ``qbg.vdp.station``).  A VDPDU lost whole halves the cap (:meth:`
    cut`, once per loss event) — the bridge lost it while busy, and lldpad is busy (deaf,
    single-threaded) for as long as it takes to work through a VDPDU, up to 1 ms per TLV on a
    loaded host — and every VDPDU answered in full raises it by one again (additive increase).
    A partly answered VDPDU shows what the bridge takes per VDPDU: the cap drops to that and
    never grows past it again (``ceiling``) until :meth:`reset` (a new peer, after link up).
    """

    UNLIMITED = 1 << 16

    __slots__ = ("cap", "ceiling")

    def __init__(self) -> None:
        self.cap = self.ceiling = self.UNLIMITED

    def reset(self) -> None:
        self.cap = self.ceiling = self.UNLIMITED

    def full(self) -> None:
        """A VDPDU answered in full."""
        self.cap = min(self.ceiling, self.cap + 1)

    def partial(self, answered: int) -> None:
        """A VDPDU of which the bridge answered only ``answered`` TLVs (≥ 1)."""
        self.ceiling = max(1, min(self.ceiling, answered))
        self.cap = min(self.cap, self.ceiling)

    def cut(self, sent: int) -> None:
        """A VDPDU of ``sent`` TLVs lost whole."""
        self.cap = max(1, min(self.cap, sent) // 2)
