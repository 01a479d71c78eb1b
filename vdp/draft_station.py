"""Draft 0.2 VDP station (vdp.md §13.2) [DRAFT].

Strategy
--------
The pre-standard variant (lldpad's ``vdp`` module, OUI 00-1B-3F) carries one org TLV per VSI
profile (:mod:`qbg.vdp.draft02`), no Manager ID TLV, no K/H/M/S bits, and fixed timers
(:mod:`qbg.evb.timers` ``DRAFT_*``, interop-lldpad.md Q-T5): a **3 s** response timer
(2 × 500 ms × 3) from the hand-off to ECP and a **10 s** keep-alive in PREASSOCIATED /
ASSOCIATED.  The machine follows the ratified station's shape (:mod:`.station`): small
``__slots__`` records, one heap of deadlines with lazy deletion, a table
(:data:`STATION_TRANSITIONS`, lldpad's profile state names) with guards in code, and a pull
interface.  A draft ECPDU carries *every* profile with a pending change, each as its own TLV,
then the End TLV (ecp.md §8.2), so :meth:`DraftVdpStation.pull` packs all queued TLVs that fit.

lldpad's rules reproduced [LLDPAD][DRAFT]: a response with response octet 0 confirms the mode
the bridge put in it (a different mode is adopted); a non-zero response, a bridge De-Associate
(mode 3) or the response timer ends the profile (EXIT); a bridge De-Associate received while
still pre-associating is ignored.  lldpad's blocking 1 s sleep before the netlink notification
is not reproduced.

Draft VDP TLV (vdp.md §13.1)::

    fe ll | 00 1b 3f | 02 | mode | response | mgr id | VTID (3) | version | instance (16)
          | format 02 | N (2) | N × (MAC (6), VLAN (2))        mode = ratified type − 1

Profiles match by (manager ID, type ID, version, instance ID) (``DraftVdpTlv.key()``).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections import deque
from dataclasses import dataclass
from enum import Enum

from ..evb import timers
from ..lldp.errors import DecodeError, LocalError
from ..lldp.events import Event, FrameDropped, Output
from .draft02 import DraftVdpdu, DraftVdpMode, DraftVdpTlv
from .vsiid import mac_ok

__all__ = [
    "STATION_TRANSITIONS",
    "DraftKey",
    "DraftProfileConfirmed",
    "DraftProfileEnded",
    "DraftStationInput",
    "DraftStationState",
    "DraftVdpStation",
    "DraftVsiBound",
    "DraftVsiReleased",
]

DraftKey = tuple[int, int, int, bytes]
_PRE, _PRE_RR, _ASSOC, _DEASSOC = 0, 1, 2, 3
_END = b"\x00\x00"


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftProfileConfirmed(Event):
    """Station: the bridge confirmed ``mode`` (0/1 pre-associated, 2 associated)."""

    port: str
    key: DraftKey
    mode: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftProfileEnded(Event):
    """Station: the profile reached EXIT (``reason``: station / bridge / timeout / error)."""

    port: str
    key: DraftKey
    reason: str
    response: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftVsiBound(Event):
    """Bridge: a profile entered (or changed to) ``mode``."""

    port: str
    key: DraftKey
    mode: int
    tlv: DraftVdpTlv


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftVsiReleased(Event):
    """Bridge: a profile is gone (``reason``: station / supervision / withdrawn / refused)."""

    port: str
    key: DraftKey
    reason: str


class _Heap:
    """Deadlines in µs with lazy deletion: an entry is live while its token is the record's."""

    __slots__ = ("_count", "heap")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, _Rec]] = []
        self._count = itertools.count(1)

    def arm(self, rec: _Rec, deadline: int) -> None:
        """(Re)start ``rec``'s timer at ``deadline`` µs; its older entries become stale."""
        rec.token = token = next(self._count)
        heapq.heappush(self.heap, (deadline, token, rec))

    def due(self, t: int) -> list[_Rec]:
        """Pop the live records whose deadline is at or before ``t``, in deadline order."""
        out = []
        heap = self.heap
        while heap and heap[0][0] <= t:
            _, token, rec = heapq.heappop(heap)
            if token == rec.token:
                rec.token = 0
                out.append(rec)
        return out

    def next(self) -> int | None:
        """The earliest live deadline (stale entries at the top are discarded)."""
        heap = self.heap
        while heap and heap[0][1] != heap[0][2].token:
            heapq.heappop(heap)
        return heap[0][0] if heap else None


class _Rec:
    __slots__ = ("key", "queued", "state", "tlv", "token")

    def __init__(self, key: DraftKey, tlv: DraftVdpTlv, state: Enum) -> None:
        self.key = key
        self.tlv = tlv
        self.state = state
        self.token = 0
        self.queued = False


# --- station (vdp.md §13.2) ----------------------------------------------------------------------


class DraftStationState(Enum):
    UNASSOCIATED = "UNASSOCIATED"
    PREASSOC_PROCESSING = "PREASSOC_PROCESSING"
    PREASSOCIATED = "PREASSOCIATED"
    ASSOC_PROCESSING = "ASSOC_PROCESSING"
    ASSOCIATED = "ASSOCIATED"
    DEASSOC_PROCESSING = "DEASSOC_PROCESSING"
    EXIT = "EXIT"


class DraftStationInput(Enum):
    CMD_PREASSOC = "cmd-pre"  # modes 0 and 1
    CMD_ASSOC = "cmd-assoc"
    CMD_DEASSOC = "cmd-deassoc"
    KA_EXPIRED = "ka"
    TIMEOUT = "timeout"  # 3 s response timer
    RESP_PREASSOC = "resp-pre"  # response 0, mode 0/1
    RESP_ASSOC = "resp-assoc"  # response 0, mode 2
    RESP_DEASSOC = "resp-deassoc"  # mode 3 (bridge de-associate)
    RESP_ERROR = "resp-error"  # response != 0


_DS, _DI = DraftStationState, DraftStationInput
_SEND, _CONFIRM, _EXIT = "send", "confirm", "exit"
STATION_TRANSITIONS: dict[tuple[DraftStationState, DraftStationInput], tuple[str | None, Enum]] = {
    (_DS.UNASSOCIATED, _DI.CMD_PREASSOC): (_SEND, _DS.PREASSOC_PROCESSING),
    (_DS.UNASSOCIATED, _DI.CMD_ASSOC): (_SEND, _DS.ASSOC_PROCESSING),
    (_DS.PREASSOC_PROCESSING, _DI.RESP_PREASSOC): (_CONFIRM, _DS.PREASSOCIATED),
    (_DS.PREASSOC_PROCESSING, _DI.RESP_ASSOC): (_CONFIRM, _DS.ASSOCIATED),
    (_DS.PREASSOC_PROCESSING, _DI.RESP_DEASSOC): (None, _DS.PREASSOC_PROCESSING),  # ignored
    (_DS.PREASSOC_PROCESSING, _DI.RESP_ERROR): (_EXIT, _DS.EXIT),
    (_DS.PREASSOC_PROCESSING, _DI.TIMEOUT): (_EXIT, _DS.EXIT),
    (_DS.ASSOC_PROCESSING, _DI.RESP_PREASSOC): (_CONFIRM, _DS.PREASSOCIATED),
    (_DS.ASSOC_PROCESSING, _DI.RESP_ASSOC): (_CONFIRM, _DS.ASSOCIATED),
    (_DS.ASSOC_PROCESSING, _DI.RESP_DEASSOC): (_EXIT, _DS.EXIT),
    (_DS.ASSOC_PROCESSING, _DI.RESP_ERROR): (_EXIT, _DS.EXIT),
    (_DS.ASSOC_PROCESSING, _DI.TIMEOUT): (_EXIT, _DS.EXIT),
    (_DS.DEASSOC_PROCESSING, _DI.RESP_PREASSOC): (_EXIT, _DS.EXIT),
    (_DS.DEASSOC_PROCESSING, _DI.RESP_ASSOC): (_EXIT, _DS.EXIT),
    (_DS.DEASSOC_PROCESSING, _DI.RESP_DEASSOC): (_EXIT, _DS.EXIT),
    (_DS.DEASSOC_PROCESSING, _DI.RESP_ERROR): (_EXIT, _DS.EXIT),
    (_DS.DEASSOC_PROCESSING, _DI.TIMEOUT): (_EXIT, _DS.EXIT),
}
for _st, _proc in (
    (_DS.PREASSOCIATED, _DS.PREASSOC_PROCESSING),
    (_DS.ASSOCIATED, _DS.ASSOC_PROCESSING),
):
    STATION_TRANSITIONS[(_st, _DI.KA_EXPIRED)] = (_SEND, _proc)
    STATION_TRANSITIONS[(_st, _DI.CMD_ASSOC)] = (_SEND, _DS.ASSOC_PROCESSING)
    STATION_TRANSITIONS[(_st, _DI.CMD_DEASSOC)] = (_SEND, _DS.DEASSOC_PROCESSING)
    STATION_TRANSITIONS[(_st, _DI.RESP_PREASSOC)] = (_CONFIRM, _DS.PREASSOCIATED)  # adopted
    STATION_TRANSITIONS[(_st, _DI.RESP_ASSOC)] = (_CONFIRM, _DS.ASSOCIATED)
    STATION_TRANSITIONS[(_st, _DI.RESP_DEASSOC)] = (_EXIT, _DS.EXIT)
    STATION_TRANSITIONS[(_st, _DI.RESP_ERROR)] = (_EXIT, _DS.EXIT)
STATION_TRANSITIONS[(_DS.PREASSOCIATED, _DI.CMD_PREASSOC)] = (_SEND, _DS.PREASSOC_PROCESSING)
del _st, _proc

_PROCESSING = frozenset({_DS.PREASSOC_PROCESSING, _DS.ASSOC_PROCESSING, _DS.DEASSOC_PROCESSING})
_CMD = {
    _PRE: _DI.CMD_PREASSOC,
    _PRE_RR: _DI.CMD_PREASSOC,
    _ASSOC: _DI.CMD_ASSOC,
    _DEASSOC: _DI.CMD_DEASSOC,
}


class DraftVdpStation:
    """Draft 0.2 VDP station of one port: every pending profile goes into the next ECPDU."""

    def __init__(
        self,
        *,
        port: str = "",
        response_wait_us: int = timers.DRAFT_RESPONSE_WAIT_US,
        keepalive_us: int = timers.DRAFT_KEEPALIVE_US,
    ) -> None:
        self.port = port
        self.response_wait_us = response_wait_us
        self.keepalive_us = keepalive_us
        self._recs: dict[DraftKey, _Rec] = {}
        self._queue: deque[_Rec] = deque()
        self._timers = _Heap()
        self._events: list[Event] = []
        self._now = 0
        self._why = ("error", 0)
        self.unknown = 0

    def __len__(self) -> int:
        """Number of profiles held (any state but EXIT)."""
        return len(self._recs)

    def state(self, key: DraftKey) -> DraftStationState | None:
        """``key``'s profile state (``None`` after EXIT)."""
        rec = self._recs.get(key)
        return None if rec is None else rec.state  # type: ignore[return-value]

    def command(self, tlv: DraftVdpTlv, now: float) -> Output:
        """Request ``tlv.mode`` for the profile ``tlv.key()``; raises :class:`LocalError`."""
        self._now = timers.to_us(now)
        mode = int(tlv.mode)
        if mode not in _CMD or not tlv.entries or tlv.filter_format != 2:
            raise LocalError("EINVAL", "draft VDP needs mode 0..3 and MAC/VLAN entries")
        if any(not mac_ok(e.mac) or not 1 <= e.vid <= 4094 for e in tlv.entries):
            raise LocalError("EINVAL", "invalid MAC or VLAN")
        rec = self._recs.get(tlv.key())
        if rec is None:
            if mode == _DEASSOC:
                raise LocalError("EINVAL", "de-associate of an unknown profile")
            rec = self._recs[tlv.key()] = _Rec(tlv.key(), tlv, _DS.UNASSOCIATED)
        elif rec.state in _PROCESSING:
            raise LocalError("EBUSY", "profile waits for a response")
        elif rec.tlv.entries != tlv.entries:
            raise LocalError("EINVAL", "filter data differ from the profile's")
        elif (rec.state, _CMD[mode]) not in STATION_TRANSITIONS:
            raise LocalError("EINVAL", f"mode {mode} not allowed in {rec.state.name}")
        rec.tlv = dataclasses.replace(tlv, response=0)
        self._fire(rec, _CMD[mode])
        return self._flush()

    def receive_payload(self, payload: bytes, now: float) -> Output:
        """The TLVs of a received draft ECP request (after the 9-octet header)."""
        try:
            pdu = DraftVdpdu.decode(payload)
        except DecodeError as err:
            return Output(events=(FrameDropped(error=err),))
        return self.receive_vdpdu(pdu, now)

    def receive_vdpdu(self, pdu: DraftVdpdu, now: float) -> Output:
        """Handle every draft VDP TLV of ``pdu`` (responses and bridge De-Associates).

        The response octet decides first (non-zero: RESP_ERROR), then the mode the bridge
        put in the TLV: 3 is a De-Associate, 2 confirms an association, 0/1 a pre-association.
        Inputs with no table entry in the current state (answers nobody waits for) are counted
        in ``unknown`` and ignored.
        """
        self._now = timers.to_us(now)
        for tlv in pdu.vsis:
            rec = self._recs.get(tlv.key())
            if rec is None:
                self.unknown += 1
                continue
            if tlv.response:
                inp = _DI.RESP_ERROR
            elif tlv.mode == _DEASSOC:
                inp = _DI.RESP_DEASSOC
            elif tlv.mode == _ASSOC:
                inp = _DI.RESP_ASSOC
            else:
                inp = _DI.RESP_PREASSOC
            if (rec.state, inp) not in STATION_TRANSITIONS:
                self.unknown += 1
                continue
            own = rec.tlv.mode == _DEASSOC and rec.state is _DS.DEASSOC_PROCESSING
            reason = "station" if own else "bridge" if inp is _DI.RESP_DEASSOC else "error"
            self._why = (reason, int(tlv.response))
            if inp in (_DI.RESP_PREASSOC, _DI.RESP_ASSOC):
                rec.tlv = dataclasses.replace(rec.tlv, mode=tlv.mode)  # adopt the bridge's mode
            self._fire(rec, inp)
        return self._flush()

    def timer(self, now: float) -> Output:
        """Fire the response timers (EXIT) and keep-alive timers (resend) due by ``now``."""
        t = self._now = timers.to_us(now)
        for rec in self._timers.due(t):
            if rec.state in _PROCESSING:
                self._why = ("timeout", 0)
                self._fire(rec, _DI.TIMEOUT)
            else:
                self._fire(rec, _DI.KA_EXPIRED)
        return self._flush()

    def next_deadline(self) -> float | None:
        """The earliest pending response or keep-alive deadline, in seconds."""
        t = self._timers.next()
        return None if t is None else timers.to_seconds(t)

    def has_pending(self) -> bool:
        """Whether :meth:`pull` would return an ECPDU payload now."""
        return any(r.queued for r in self._queue)

    def pull(self, max_len: int, now: float | None = None) -> bytes | None:
        """``[TLV]...[End]`` with every queued profile that fits (ecp.md §8.2)."""
        t = self._now if now is None else timers.to_us(now)
        parts: list[bytes] = []
        size = len(_END)
        q = self._queue
        while q:
            rec = q[0]
            if not rec.queued:
                q.popleft()
                continue
            wire = rec.tlv.encode()
            if size + len(wire) > max_len:
                break
            q.popleft()
            rec.queued = False
            parts.append(wire)
            size += len(wire)
            self._timers.arm(rec, t + self.response_wait_us)  # response timer from hand-off
        if not parts:
            return None
        parts.append(_END)
        return b"".join(parts)

    def _fire(self, rec: _Rec, inp: DraftStationInput) -> None:
        """One table transition and its action; a missing entry is a bug (STYLE habit 4).

        ``send`` queues the profile (the 3 s response timer starts at pull, the hand-off to
        ECP), ``confirm`` starts the 10 s keep-alive and notifies, ``exit`` deletes and notifies.
        """
        try:
            action, nxt = STATION_TRANSITIONS[(rec.state, inp)]  # type: ignore[index]
        except KeyError:
            raise AssertionError(f"draft station: no transition {rec.state} + {inp}") from None
        rec.state = nxt
        if action == _SEND:
            rec.token = 0
            if inp is _DI.CMD_DEASSOC or nxt is _DS.DEASSOC_PROCESSING:
                rec.tlv = dataclasses.replace(rec.tlv, mode=DraftVdpMode.DEASSOC)
            rec.queued = True
            self._queue.append(rec)
        elif action == _CONFIRM:
            self._timers.arm(rec, self._now + self.keepalive_us)
            self._events.append(
                DraftProfileConfirmed(port=self.port, key=rec.key, mode=int(rec.tlv.mode))
            )
        elif action == _EXIT:
            rec.token = 0
            rec.queued = False
            del self._recs[rec.key]
            reason, response = self._why
            self._events.append(
                DraftProfileEnded(port=self.port, key=rec.key, reason=reason, response=response)
            )

    def _flush(self) -> Output:
        """The events collected since the last entry point, as an :class:`Output`."""
        events, self._events = tuple(self._events), []
        return Output(events=events)
