"""Draft 0.2 VDP machines: station and bridge (vdp.md §13.2, §13.3) [DRAFT].

Strategy
--------
The pre-standard variant has one org TLV per VSI profile (OUI 00-1B-3F, subtype 2, see
:mod:`qbg.vdp.draft02`), no Manager ID TLV, no K/H/M/S bits and fixed timers
(:mod:`qbg.evb.timers` ``DRAFT_*``): a 3 s response timer and a 10 s keep-alive on the station,
17.25 s supervision on qbg's bridge.  Both machines follow the shape of the ratified ones
(:mod:`.station`, :mod:`.bridge`): small ``__slots__`` records, one heap of deadlines with
lazy deletion, tables of (state, input) → (action, next state) with the guards in code, and
a pull interface — a draft ECPDU carries *every* pending profile followed by the End TLV
(ecp.md §8.2), so :meth:`DraftVdpStation.pull` packs all queued TLVs that fit.

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
from .draft02 import DraftVdpdu, DraftVdpMode, DraftVdpResponse, DraftVdpTlv
from .filters import FilterEntry
from .policy import AllowAll, Policy, PolicyRequest
from .vsiid import mac_ok

__all__ = [
    "BRIDGE_TRANSITIONS",
    "STATION_TRANSITIONS",
    "DraftKey",
    "DraftProfileConfirmed",
    "DraftProfileEnded",
    "DraftStationState",
    "DraftVdpBridge",
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
        rec.token = token = next(self._count)
        heapq.heappush(self.heap, (deadline, token, rec))

    def due(self, t: int) -> list[_Rec]:
        out = []
        heap = self.heap
        while heap and heap[0][0] <= t:
            _, token, rec = heapq.heappop(heap)
            if token == rec.token:
                rec.token = 0
                out.append(rec)
        return out

    def next(self) -> int | None:
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
        return len(self._recs)

    def state(self, key: DraftKey) -> DraftStationState | None:
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
        t = self._now = timers.to_us(now)
        for rec in self._timers.due(t):
            if rec.state in _PROCESSING:
                self._why = ("timeout", 0)
                self._fire(rec, _DI.TIMEOUT)
            else:
                self._fire(rec, _DI.KA_EXPIRED)
        return self._flush()

    def next_deadline(self) -> float | None:
        t = self._timers.next()
        return None if t is None else timers.to_seconds(t)

    def has_pending(self) -> bool:
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
        events, self._events = tuple(self._events), []
        return Output(events=events)


# --- bridge (vdp.md §13.3) -----------------------------------------------------------------------


class DraftBridgeState(Enum):
    NONE = "NONE"
    PREASSOCIATED = "PREASSOCIATED"
    PREASSOCIATED_RR = "PREASSOCIATED_RR"
    ASSOCIATED = "ASSOCIATED"


class DraftBridgeInput(Enum):
    ACCEPT = "accept"  # new or changed mode, policy accepts
    KEEPALIVE = "keepalive"
    REFUSE = "refuse"  # invalid or policy refuses: answer with a response code
    DEASSOC = "deassoc"
    SUPERVISION = "supervision"
    WITHDRAW = "withdraw"


_DB, _BI = DraftBridgeState, DraftBridgeInput
BRIDGE_TRANSITIONS: dict[tuple[DraftBridgeState, DraftBridgeInput], tuple[str, bool]] = {
    (_DB.NONE, _BI.ACCEPT): ("bind", True),
    (_DB.NONE, _BI.REFUSE): ("reply-error", False),
    (_DB.NONE, _BI.DEASSOC): ("reply", False),
}
"""(state, input) → (action, record kept afterwards); the kept state follows the mode."""
for _b in (_DB.PREASSOCIATED, _DB.PREASSOCIATED_RR, _DB.ASSOCIATED):
    BRIDGE_TRANSITIONS[(_b, _BI.ACCEPT)] = ("bind", True)
    BRIDGE_TRANSITIONS[(_b, _BI.KEEPALIVE)] = ("reply", True)
    BRIDGE_TRANSITIONS[(_b, _BI.REFUSE)] = ("release-error", False)
    BRIDGE_TRANSITIONS[(_b, _BI.DEASSOC)] = ("release", False)
    BRIDGE_TRANSITIONS[(_b, _BI.SUPERVISION)] = ("withdraw", False)
    BRIDGE_TRANSITIONS[(_b, _BI.WITHDRAW)] = ("withdraw", False)
del _b

_BSTATE = {_PRE: _DB.PREASSOCIATED, _PRE_RR: _DB.PREASSOCIATED_RR, _ASSOC: _DB.ASSOCIATED}
_DRAFT_CODE = {1: 1, 2: 2, 3: 2, 4: 4, 5: 1}
"""Ratified error code (policy) → draft response octet [PROJECT]: no draft code for "unable to
contact the VSI manager" (3 → 2 insufficient resources), 5 invalid VID/MAC → 1 invalid format."""


class DraftVdpBridge:
    """qbg's draft 0.2 bridge: answer each TLV with the same TLV (mode = request's, response
    0 or an error), supervise with 17.25 s, withdraw with mode 3 (vdp.md §13.3)."""

    def __init__(
        self,
        *,
        port: str = "",
        policy: Policy | None = None,
        supervision_us: int = timers.DRAFT_SUPERVISION_US,
    ) -> None:
        self.port = port
        self.policy: Policy = policy if policy is not None else AllowAll()
        self.supervision_us = supervision_us
        self._recs: dict[DraftKey, _Rec] = {}
        self._replies: deque[bytes] = deque()
        self._timers = _Heap()
        self._events: list[Event] = []
        self._now = 0

    def __len__(self) -> int:
        return len(self._recs)

    def state(self, key: DraftKey) -> DraftBridgeState:
        rec = self._recs.get(key)
        return _DB.NONE if rec is None else rec.state  # type: ignore[return-value]

    def receive_payload(self, payload: bytes, now: float) -> Output:
        try:
            pdu = DraftVdpdu.decode(payload)
        except DecodeError as err:
            return Output(events=(FrameDropped(error=err),))
        return self.receive_vdpdu(pdu, now)

    def receive_vdpdu(self, pdu: DraftVdpdu, now: float) -> Output:
        self._now = timers.to_us(now)
        for tlv in pdu.vsis:
            self._request(tlv)
        return self._flush()

    def _policy_request(self, tlv: DraftVdpTlv, current: int | None) -> PolicyRequest:
        return PolicyRequest(
            port=self.port,
            key=tlv.key(),
            mode=int(tlv.mode) + 1,
            mgrid=bytes([tlv.mgrid]) + bytes(15),
            type_id=tlv.type_id,
            type_version=tlv.type_version,
            vsiid_format=5,
            vsiid=tlv.instance,
            filter_format=2,
            filters=tuple(FilterEntry(vid=e.vid & 0xFFF, mac=e.mac) for e in tlv.entries),
            current_mode=current,
        )

    def _request(self, tlv: DraftVdpTlv) -> None:
        key, mode = tlv.key(), int(tlv.mode)
        rec = self._recs.get(key) or _Rec(key, tlv, _DB.NONE)
        code = 0
        if mode == _DEASSOC:
            inp = _BI.DEASSOC
        elif (
            tlv.response
            or mode not in _BSTATE
            or not tlv.entries
            or any(not mac_ok(e.mac) or not 1 <= e.vid <= 4094 for e in tlv.entries)
        ):
            inp, code = _BI.REFUSE, DraftVdpResponse.INVALID_FORMAT
        elif rec.state is not _DB.NONE and rec.tlv.entries != tlv.entries:
            inp, code = _BI.REFUSE, DraftVdpResponse.OUT_OF_SYNC
        elif rec.state is _BSTATE[mode]:
            inp = _BI.KEEPALIVE
        else:
            current = None if rec.state is _DB.NONE else int(rec.tlv.mode) + 1
            decision = self.policy.decide(self._policy_request(tlv, current))
            if decision.accepted:
                inp = _BI.ACCEPT
            else:
                inp, code = _BI.REFUSE, _DRAFT_CODE.get(decision.code, 4)
        self._fire(rec, inp, tlv, code)

    def withdraw(self, key: DraftKey, now: float) -> Output:
        self._now = timers.to_us(now)
        rec = self._recs.get(key)
        if rec is None:
            raise LocalError("EINVAL", "no such profile on this port")
        self._fire(rec, _BI.WITHDRAW, rec.tlv, 0)
        return self._flush()

    def timer(self, now: float) -> Output:
        t = self._now = timers.to_us(now)
        for rec in self._timers.due(t):
            self._fire(rec, _BI.SUPERVISION, rec.tlv, 0)
        return self._flush()

    def next_deadline(self) -> float | None:
        t = self._timers.next()
        return None if t is None else timers.to_seconds(t)

    def has_pending(self) -> bool:
        return bool(self._replies)

    def pull(self, max_len: int, now: float | None = None) -> bytes | None:
        """Every queued reply that fits, then the End TLV (one draft ECPDU)."""
        parts: list[bytes] = []
        size = len(_END)
        q = self._replies
        while q and size + len(q[0]) <= max_len:
            wire = q.popleft()
            parts.append(wire)
            size += len(wire)
        if not parts:
            return None
        parts.append(_END)
        return b"".join(parts)

    def _fire(self, rec: _Rec, inp: DraftBridgeInput, tlv: DraftVdpTlv, code: int) -> None:
        try:
            action, kept = BRIDGE_TRANSITIONS[(rec.state, inp)]  # type: ignore[index]
        except KeyError:
            raise AssertionError(f"draft bridge: no transition {rec.state} + {inp}") from None
        port, key = self.port, rec.key
        if action == "bind":
            self.policy.bound(self._policy_request(tlv, None), ())
            rec.tlv = tlv
            rec.state = _BSTATE[int(tlv.mode)]
            self._recs[key] = rec
            self._events.append(DraftVsiBound(port=port, key=key, mode=int(tlv.mode), tlv=tlv))
        if action in ("release", "release-error", "withdraw"):
            rec.token = 0
            rec.state = _DB.NONE
            del self._recs[key]
            self.policy.released(port, key)
            reason = {"release": "station", "release-error": "refused"}.get(action)
            if reason is None:
                reason = "supervision" if inp is _BI.SUPERVISION else "withdrawn"
            self._events.append(DraftVsiReleased(port=port, key=key, reason=reason))
        if kept:
            self._timers.arm(rec, self._now + self.supervision_us)
        if action == "withdraw":
            reply = dataclasses.replace(rec.tlv, mode=DraftVdpMode.DEASSOC, response=0)
        else:
            reply = dataclasses.replace(tlv, response=code)
        self._replies.append(reply.encode())

    def _flush(self) -> Output:
        events, self._events = tuple(self._events), []
        return Output(events=events)
