"""Helpers shared by the VDP station and bridge: timer parameters, the filter comparison of
vdp.md §7.4 and the station's pace-learning window (vdp.md §2 last paragraph)."""

from __future__ import annotations

from typing import Protocol

from .filters import FilterEntry

__all__ = ["PaceWindow", "TimerParams", "filters_match"]


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
    """

    __slots__ = ("answers", "busy_since", "cwnd", "limit", "outstanding")

    def __init__(self, limit: int, initial: int) -> None:
        self.limit = limit
        self.cwnd = max(1, min(initial, limit))
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
        self.cwnd = max(1, min(self.cwnd + 1, est, self.limit))

    @property
    def room(self) -> int:
        return self.cwnd - self.outstanding
